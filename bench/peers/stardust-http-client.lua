-- The http-client case: N keep-alive GETs to 127.0.0.1:PORT, C in flight, with
-- Stardust's http client and a keep-alive agent. Prints rps=... total_ms=... failed=...
local http = require('http')
local uv = require('uv')

local port = tonumber(process.argv[2])
local total = tonumber(process.argv[3] or 100000)
local inflight = tonumber(process.argv[4] or 20)
local agent = http.Agent:new({ keepAlive = true })
local started, done, failed, sent = uv.hrtime(), 0, 0, 0

local function finish()
  local ms = (uv.hrtime() - started) / 1e6
  print(string.format("requests=%d total_ms=%.1f rps=%.0f failed=%d", done, ms, done * 1000 / ms, failed))
  for _, sockets in pairs(agent.freeSockets) do
    for _, s in ipairs(sockets) do s:destroy() end
  end
end

local function one()
  if sent >= total then return end
  sent = sent + 1
  local req = http.request({ host = "127.0.0.1", port = port, path = "/", agent = agent }, function(res)
    res:on('data', function() end)
    res:on('end', function()
      if res.statusCode ~= 200 then failed = failed + 1 end
      done = done + 1
      if done == total then return finish() end
      one()
    end)
  end)
  req:on('error', function()
    failed = failed + 1
    done = done + 1
    if done == total then return finish() end
    one()
  end)
  req:finish()
end

for _ = 1, inflight do one() end

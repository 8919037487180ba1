-- Shared by the HTTP test files (not a test itself: only test-*.lua files run).
local net = require('net')

-- A raw TCP client: sends `bytes` (a string, a list of strings, or nil), collects
-- everything until the server closes, or until the collected text matches
-- `pattern`, then calls done(text).
local function raw(port, bytes, done, pattern)
  local got, finished = {}, false
  local c
  c = net.connect(port, "127.0.0.1", function()
    if type(bytes) == "table" then
      for _, b in ipairs(bytes) do c:write(b) end
    elseif bytes then
      c:write(bytes)
    end
  end)
  local function finish()
    if finished then return end
    finished = true
    c:destroy()
    done(table.concat(got))
  end
  c:on('data', function(d)
    got[#got + 1] = d
    if pattern and table.concat(got):find(pattern) then finish() end
  end)
  c:on('end', finish)
  c:on('error', finish)
  return c
end

-- An http server on an ephemeral port; ready(port, server) runs once it listens.
local function serve(handler, ready)
  local server = require('http').createServer(handler)
  server:listen(0, "127.0.0.1", function() ready(server:address().port, server) end)
  return server
end

return { raw = raw, serve = serve }

-- LuaJIT + luv: a minimal keep-alive responder, standing in for luvit's core.
-- It finds the end of each request head and writes the canned response.
local uv = require('luv')
local port = tonumber(arg[1]) or 8084
local RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello world\n"
local server = uv.new_tcp()
server:bind("127.0.0.1", port)
server:listen(511, function()
  local client = uv.new_tcp()
  server:accept(client)
  client:nodelay(true)
  local pending = ""
  client:read_start(function(err, data)
    if err or not data then return client:close() end
    pending = pending .. data
    local out = {}
    while true do
      local e = pending:find("\r\n\r\n", 1, true)
      if not e then break end
      pending = pending:sub(e + 4)
      out[#out + 1] = RESPONSE
    end
    if #out > 0 then client:write(table.concat(out)) end
  end)
end)
uv.run()

-- LuaJIT + luv: a minimal keep-alive responder, standing in for luvit's core.
-- It finds the end of each request head and writes the canned response. HTTP/1.0
-- clients (ab) get what HTTP/1.0 requires, as every peer gives them: the connection
-- stays open only if the request asked for keep-alive, and the response says so;
-- otherwise it is closed after the response.
local uv = require('luv')
local port = tonumber(arg[1]) or 8084
local RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello world\n"
local RESPONSE_KEEP_ALIVE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
  .. "Connection: keep-alive\r\n\r\nHello world\n"

-- The response to one request head, and whether the connection stays open after it.
local function respond(head)
  local line = head:match("^[^\r]*")
  if line:sub(-8) ~= "HTTP/1.0" then return RESPONSE, true end
  if head:lower():find("keep-alive", 1, true) then return RESPONSE_KEEP_ALIVE, true end
  return RESPONSE, false
end

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
    local out, open = {}, true
    while open do
      local e = pending:find("\r\n\r\n", 1, true)
      if not e then break end
      out[#out + 1], open = respond(pending:sub(1, e - 1))
      pending = pending:sub(e + 4)
    end
    if #out > 0 then client:write(table.concat(out)) end
    if not open then
      client:read_stop()
      client:shutdown(function() client:close() end)
    end
  end)
end)
uv.run()

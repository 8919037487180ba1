-- The talk's HTTP client example, pointed at the example server on 127.0.0.1:8080
-- (run examples/http-server.lua first).
local http = require('http')

local options = {
  host = "127.0.0.1",
  port = 8080,
  path = "/"
}

local req = http.request(options, function (res)
  res:on('data', function (chunk)
    p("ondata", {chunk=chunk})
  end)
end)

req:done()

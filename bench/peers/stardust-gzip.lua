-- 64 KiB of JSON from http.server, compressed when the client accepts gzip.
local server = require("http.server")
local row = '{"word": "stardust", "n": 12345}\n'
local body = string.rep(row, math.ceil(65536 / #row)):sub(1, 65536)
local srv = assert(server.new({ port = tonumber(process.argv[2]) or 8086, log_level = "error",
  requests_per_connection = 1000000000 },
  function() return body, 200, { ["content-type"] = "application/json" } end))
srv:serve()

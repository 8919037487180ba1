-- The Lilush-style http.server hello: same response bytes as the other peers.
local server = require("http.server")
local srv = assert(server.new({ port = tonumber(process.argv[2]) or 8085, log_level = "error",
  requests_per_connection = 1000000000, connection_limit = 100000 },
  function() return "Hello world\n", 200, { ["content-type"] = "text/plain" } end))
srv:serve()

-- The https hello for Stardust (node-style https module), same certificate as node's.
local https = require('https')
local dir = module.dir .. "/../../tests/fixtures/tls/"
local body = "Hello world\n"
https.createServer({ cert = dir .. "localhost.pem", key = dir .. "localhost.key" }, function(req, res)
  res:writeHead(200, { ["Content-Type"] = "text/plain", ["Content-Length"] = #body })
  res:finish(body)
end):listen(tonumber(process.argv[2]) or 8444, "127.0.0.1")

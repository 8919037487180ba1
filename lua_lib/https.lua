--[[
https: http over TLS, mirroring http.

  local https = require('https')
  https.createServer({ cert = "cert.pem", key = "key.pem" }, function(req, res)
    res:finish("secure hello\n")
  end):listen(8443, "127.0.0.1")

  https.get({ host = "127.0.0.1", port = 8443, path = "/", servername = "localhost",
    ca = io.open("ca.pem"):read("*a") }, function(res) res:on('data', p) end)

Options as tls.createServer / tls.connect; everything else as http.
]]

local http = require('http')
local tls = require('tls')

local Server = http.Server:extend()

function Server:initialize(options, onRequest)
  http.Server.initialize(self, onRequest)
  self._tls = tls.serverConfig(options, 3)
end

-- The handshake happens with the connection's first reads, in its coroutine.
function Server:_onConnection(handle)
  handle:tls_server(self._tls)
  return http.Server._onConnection(self, handle)
end

local function createServer(options, onRequest)
  return Server:new(options, onRequest)
end

local function request(options, onResponse)
  if type(options) == "string" then
    local u = require('url').parse(options)
    options = { hostname = u.hostname, port = u.port, path = u.path }
  end
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.port = opts.port or 443
  local config, err = tls.clientConfig(opts.ca, opts.rejectUnauthorized == false)
  if not config then error("https.request: " .. err, 2) end
  opts._tls = { config = config, servername = opts.servername or opts.hostname or opts.host or "localhost" }
  return http.ClientRequest:new(opts, onResponse)
end

local get = http.getter(request)

return {
  Server = Server,
  createServer = createServer,
  request = request,
  get = get,
}

--[[
tls: TLS servers and clients over net (rustls with the ring provider).

  local tls = require('tls')
  local server = tls.createServer({ cert = "cert.pem", key = "key.pem",
    hosts = { ["example.com"] = { cert = "ex.pem", key = "ex.key" } } },  -- by SNI
    function(socket) socket:finish("hello over TLS\n") end)
  server:listen(8443, "127.0.0.1")

  local c = tls.connect({ host = "127.0.0.1", port = 8443, servername = "localhost",
    ca = io.open("ca.pem"):read("*a") }, function() print("secure") end)
  c:on('data', p)

`cert` and `key` are file paths or PEM text. Clients verify the server against `ca`
(PEM text) or the system's CA bundle; rejectUnauthorized = false skips that (for
development only). SNICallback is not supported: give `hosts`.
Sockets are net.Sockets with `encrypted = true` and getPeerCertificate().
]]

local net = require('net')
local uv = require('uv')

-- A server config from node-style options; raises with a message naming the file.
local function serverConfig(options, level)
  if type(options) ~= "table" or not options.cert or not options.key then
    error("tls: options need cert and key (file paths or PEM text)", (level or 1) + 1)
  end
  local config, err = uv.tls_server_config({
    default = { cert = options.cert, key = options.key },
    hosts = options.hosts,
  })
  if not config then error("tls: " .. err, (level or 1) + 1) end
  return config
end

local clientConfigs = {}

-- A client config for `ca` (PEM text) or the system roots (or no verification at
-- all when `insecure`); cached.
local function clientConfig(ca, insecure)
  local key = insecure and "(insecure)" or ca or "(system)"
  local config = clientConfigs[key]
  if not config then
    local err
    config, err = uv.tls_client_config(ca, insecure or false)
    if not config then return nil, err end
    clientConfigs[key] = config
  end
  return config
end

local function getPeerCertificate(socket)
  local info = socket._handle and socket._handle:tls_info()
  if not info or not info.peerCertificate then return nil end
  return { raw = info.peerCertificate }
end

local function decorate(socket)
  socket.encrypted = true
  socket.getPeerCertificate = getPeerCertificate
  socket.getTlsInfo = function(s) return s._handle and s._handle:tls_info() end
  return socket
end

local Server = net.Server:extend()

function Server:initialize(options, onSecureConnection)
  net.Server.initialize(self, options)
  self._tls = serverConfig(options, 3)
  if onSecureConnection then self:on('secureConnection', onSecureConnection) end
end

-- Runs in the connection's coroutine: handshake, then hand over the socket.
function Server:_onConnection(handle)
  handle:tls_server(self._tls)
  local ok, err, code = uv.co_tls_handshake(handle)
  if not ok then
    handle:close()
    if self:listenerCount('tlsClientError') > 0 then
      self:emit('tlsClientError', net.makeError(err, code))
    end
    return
  end
  local socket = decorate(net.Socket:new({ handle = handle, allowHalfOpen = self.options.allowHalfOpen }))
  socket:_read()
  self:emit('secureConnection', socket)
end

local function createServer(options, onSecureConnection)
  return Server:new(options, onSecureConnection)
end

-- connect({ host, port, servername, ca, rejectUnauthorized }, callback)
local function connect(options, callback)
  if type(options) ~= "table" or type(options.port) ~= "number" then
    error("tls.connect: options must be a table with a port", 2)
  end
  local socket = decorate(net.Socket:new())
  if callback then socket:once('secureConnect', callback) end
  local config, err = clientConfig(options.ca, options.rejectUnauthorized == false)
  if not config then
    process.nextTick(function() socket:destroy(net.makeError("EINVAL: " .. err, "EINVAL")) end)
    return socket
  end
  socket:once('connect', function()
    local h = socket._handle
    local ok, herr, code = h:tls_client(config, options.servername or options.host or "localhost")
    if ok then ok, herr, code = uv.co_tls_handshake(h) end
    if not ok then return socket:destroy(net.makeError(herr, code)) end
    socket.authorized = options.rejectUnauthorized ~= false
    socket:emit('secureConnect')
  end)
  socket:connect(options.port, options.host)
  return socket
end

return {
  Server = Server,
  createServer = createServer,
  connect = connect,
  serverConfig = serverConfig,
  clientConfig = clientConfig,
}

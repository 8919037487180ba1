--[[
net: TCP servers and sockets, node-style.

  local net = require('net')
  local server = net.createServer(function(socket)
    socket:on('data', function(chunk) socket:write(chunk) end)   -- echo
    socket:on('end', function() socket:finish() end)
  end)
  server:listen(7000, "127.0.0.1", function() print("listening", server:address().port) end)

  local client = net.connect(7000, "127.0.0.1", function()
    client:write("hello")
  end)
  client:on('data', function(chunk) p(chunk) client:destroy() end)
  client:on('error', function(err) print(err) end)   -- e.g. ECONNREFUSED

A Socket is a Duplex stream. TCP_NODELAY is on by default, and everything written in
one callback leaves in one syscall. Errors are passed on as luvit passes them, as uv
gave them: a callback's is the error name ("ECONNREFUSED"), a failed call's "CODE:
message" ("EADDRINUSE: address already in use"). A server's bind error goes to its
'error' event (unheard, it is logged and dropped, as in luvit). (http turns them into
core.Error objects with a `code`: makeError.)
]]

local uv = require('uv')
local core = require('core')
local stream = require('stream')
local Duplex = stream.Duplex

local Emitter, Error = core.Emitter, core.Error

-- A core.Error with a `code`, from uv's error (a name, or "CODE: message"): what http
-- and tls give their listeners.
local function makeError(message, code)
  if type(message) == "table" then return message end
  local err = Error:new(message)
  err.code = code or err.code or (type(message) == "string" and message:match("^E[%u_]+$")) or nil
  return err
end

local function isIP(host)
  return host:find("^%d+%.%d+%.%d+%.%d+$") ~= nil or host:find(":", 1, true) ~= nil
end

-- An IP for `host` (literal, "localhost", or resolved), or nil, err, code.
local function resolve(host)
  if host == nil or host == "localhost" then return "127.0.0.1" end
  if isIP(host) then return host end
  return uv.resolve(host)
end

local function nodeAddress(a)
  if not a then return nil end
  return { address = a.ip, port = a.port, family = a.family == "inet6" and "IPv6" or "IPv4" }
end

-- Socket -----------------------------------------------------------------------------

local Socket = Duplex:extend()

-- A server may hold thousands of idle sockets, so a socket's own table holds only what
-- differs from these defaults (read through the class) ...
Socket.allowHalfOpen = false
Socket.connecting = false
Socket.destroyed = false
Socket.bytesRead = 0
Socket.bytesWritten = 0

-- The peer's address, looked up once: remoteAddress, remotePort, remoteFamily.
local function peer(self, key)
  local h = rawget(self, "_handle")
  local ok, addr = pcall(function() return h and h:getpeername() end)
  if ok and addr then
    rawset(self, "remoteAddress", addr.ip)
    rawset(self, "remotePort", addr.port)
    rawset(self, "remoteFamily", addr.family == "inet6" and "IPv6" or "IPv4")
  end
  return rawget(self, key)
end

-- ... and its stream state (two tables of a dozen fields) and peer address are made
-- the first time something reads them.
Socket:defineLazy({
  _readableState = function(self)
    local state = stream.newReadableState(nil)
    if rawget(self, "_startPaused") then state.flowing = false end
    return state
  end,
  _writableState = function() return stream.newWritableState(nil) end,
  remoteAddress = function(self) return peer(self, "remoteAddress") end,
  remotePort = function(self) return peer(self, "remotePort") end,
  remoteFamily = function(self) return peer(self, "remoteFamily") end,
})

-- Pausing a socket whose stream state is not made yet only notes it (http pauses every
-- connection's socket, because the server reads the connection itself).
function Socket:pause()
  if rawget(self, "_readableState") == nil then
    rawset(self, "_startPaused", true)
    return self
  end
  return Duplex.pause(self)
end

function Socket:initialize(options)
  options = options or {}
  if options.allowHalfOpen == true then self.allowHalfOpen = true end
  if options.handle then
    self._handle = options.handle
    self._handle:nodelay(true)
  end
end

-- The handle is connected: set it up as node does.
function Socket:_connected()
  self._handle:nodelay(true)
end

function Socket:_onData(err, data)
  if err then
    return self:destroy(err)
  end
  if data == nil then
    -- EOF: the readable side ends; without allowHalfOpen our side ends too.
    self._handle:read_stop()
    self._reading = false
    self:push(nil)
    if not self.allowHalfOpen then
      self:finish()
      self:_maybeClose()
    end
    return
  end
  self.bytesRead = self.bytesRead + #data
  if self._timer then self._timer:again() end
  if not self:push(data) then
    -- The consumer is behind: stop reading until it asks again (_read).
    self._handle:read_stop()
    self._reading = false
  end
end

function Socket:_read()
  if self._reading or not self._handle or self.connecting or self.destroyed then return end
  self._reading = true
  self._handle:read_start(function(err, data)
    return self:_onData(err, data)
  end)
end

function Socket:_write(chunk, callback)
  if self.connecting then
    self:once('connect', function() self:_write(chunk, callback) end)
    return
  end
  if not self._handle or self.destroyed then
    return callback("EPIPE: socket is closed")
  end
  self.bytesWritten = self.bytesWritten + #chunk
  if self._timer then self._timer:again() end
  local ok, err = self._handle:queue_write(chunk, callback)
  if not ok then callback(err) end
end

function Socket:_final(callback)
  if not self._handle or self.destroyed then return callback() end
  if self.connecting then
    return self:once('connect', function() self:_final(callback) end)
  end
  local ok = self._handle:shutdown(function() callback() end)
  if not ok then callback() end
end

function Socket:_destroy(err, callback)
  self.destroyed = true
  self.connecting = false
  if self._timer then
    self._timer:close()
    self._timer = nil
  end
  if self._handle then
    self._handle:close()
  end
  callback(err)
end

-- Without allowHalfOpen: once the peer has ended ('end' was emitted, or nobody reads
-- and EOF came) and our writes are done, close.
function Socket:_maybeClose()
  local rs = self._readableState
  local readDone = rs.endEmitted or (rs.ended and not rs.flowing)
  if readDone and self._writableState.finished and not self.destroyed then
    self:destroy()
  end
end

-- Connects: (port, host, cb) or ({ port, host }, cb).
function Socket:connect(port, host, callback)
  if type(port) == "table" then
    port, host, callback = port.port, port.host, host
  end
  if type(host) == "function" then host, callback = nil, host end
  if type(port) ~= "number" then
    error("net.Socket:connect: port must be a number, got " .. type(port), 2)
  end
  if callback then self:once('connect', callback) end
  self.connecting = true
  local ip, rerr = resolve(host)
  if not ip then
    process.nextTick(function() self:destroy(rerr) end)
    return self
  end
  -- (A socket bound first keeps its handle; a closed one is replaced.)
  if not self._handle or self._handle:is_closing() then self._handle = uv.new_tcp() end
  local ok, err = self._handle:connect(ip, port, function(cerr)
    self.connecting = false
    -- Destroyed while connecting: the connect was canceled, as the script asked.
    if self.destroyed then return end
    if cerr then
      return self:destroy(cerr)
    end
    self:_connected()
    self:emit('connect')
    if self._readableState.flowing ~= false then self:_read() end
  end)
  if not ok then
    process.nextTick(function() self:destroy(err) end)
  end
  return self
end

-- After `ms` milliseconds without reading or writing, emit 'timeout' (0 turns it off).
-- The socket stays open: the listener decides (usually socket:destroy()).
function Socket:setTimeout(ms, callback)
  if callback then self:once('timeout', callback) end
  if self._timer then
    self._timer:close()
    self._timer = nil
  end
  if ms and ms > 0 then
    local t = uv.new_timer()
    t:unref()
    t:start(ms, ms, function() self:emit('timeout') end)
    self._timer = t
  end
  return self
end

function Socket:setNoDelay(noDelay)
  if self._handle then self._handle:nodelay(noDelay ~= false) end
  return self
end

function Socket:setKeepAlive(enable, initialDelay)
  if self._handle then
    self._handle:keepalive(enable and true or false, initialDelay and math.floor(initialDelay / 1000) or nil)
  end
  return self
end

-- luvit's names for the same (and its buffer sizes and shutdown, over the handle's).
function Socket:nodelay(enable) return self:setNoDelay(enable) end

function Socket:keepalive(enable, delay)
  if self._handle then self._handle:keepalive(enable and true or false, delay) end
  return self
end

function Socket:getSendBufferSize()
  if not self._handle then return nil, "EBADF: socket is closed", "EBADF" end
  return self._handle:send_buffer_size()
end

function Socket:getRecvBufferSize()
  if not self._handle then return nil, "EBADF: socket is closed", "EBADF" end
  return self._handle:recv_buffer_size()
end

local function checkSize(size, name)
  if type(size) ~= "number" or size <= 0 then
    error("net.Socket:" .. name .. ": size must be a number greater than 0, got " .. tostring(size), 3)
  end
end

function Socket:setSendBufferSize(size)
  checkSize(size, "setSendBufferSize")
  if not self._handle then return nil, "EBADF: socket is closed", "EBADF" end
  return self._handle:send_buffer_size(size)
end

function Socket:setRecvBufferSize(size)
  checkSize(size, "setRecvBufferSize")
  if not self._handle then return nil, "EBADF: socket is closed", "EBADF" end
  return self._handle:recv_buffer_size(size)
end

-- Ends the writing side once queued writes are out (luvit's; node calls it end()).
function Socket:shutdown(callback)
  local handle = self._handle
  if not handle or self.destroyed or handle:is_closing() then
    if callback then callback() end
    return
  end
  if not handle:shutdown(callback or function() end) and callback then callback() end
end

-- Binds the socket before it connects (luvit's: options { host, port }).
function Socket:bind(options, callback)
  options = options or {}
  if not self._handle then self._handle = uv.new_tcp() end
  local ip, err = resolve(options.host or "0.0.0.0")
  local ok = ip
  if ok then ok, err = self._handle:bind(ip, options.port or 0) end
  if not ok then
    process.nextTick(function() self:emit('error', err) end)
    return self
  end
  if callback then process.nextTick(callback) end
  return self
end

function Socket:address()
  return self._handle and nodeAddress(self._handle:getsockname())
end

-- Node's names for the handle's ref/unref.
function Socket:ref()
  if self._handle then self._handle:ref() end
  return self
end

function Socket:unref()
  if self._handle then self._handle:unref() end
  return self
end

-- 'end' may let the socket close (see _maybeClose).
function Socket:emit(name, ...)
  Duplex.emit(self, name, ...)
  if (name == 'end' or name == 'finish') and not self.allowHalfOpen then
    self:_maybeClose()
  end
  return self
end

-- Server -----------------------------------------------------------------------------

local Server = Emitter:extend()

function Server:initialize(options, onConnection)
  if type(options) == "function" then options, onConnection = nil, options end
  self.options = options or {}
  if onConnection then self:on('connection', onConnection) end
end

-- listen(port, [host], [backlog], [callback])
function Server:listen(port, host, backlog, callback)
  if type(host) == "function" then host, backlog, callback = nil, nil, host end
  if type(backlog) == "function" then backlog, callback = nil, backlog end
  if type(port) ~= "number" then
    error("net.Server:listen: port must be a number, got " .. type(port), 2)
  end
  if callback then self:once('listening', callback) end
  local ip, rerr = resolve(host or "0.0.0.0")
  local h = uv.new_tcp()
  local ok, err = ip, rerr
  if ok then ok, err = h:bind(ip, port) end
  if ok then
    ok, err = h:listen(backlog or 511, function()
      local client = uv.new_tcp()
      if not h:accept(client) then
        client:close()
        return
      end
      self:_onConnection(client)
    end)
  end
  if not ok then
    h:close()
    -- Reported after listen returns, so a listener attached next still hears it;
    -- with no listener it goes where core.Emitter sends unheard errors.
    process.nextTick(function() self:emit('error', err) end)
    return self
  end
  self._handle = h
  process.nextTick(function() self:emit('listening') end)
  return self
end

-- Runs in the accepted connection's own coroutine.
function Server:_onConnection(client)
  local socket = Socket:new({ handle = client, allowHalfOpen = self.options.allowHalfOpen })
  -- Read from the start, as node does, so EOF is seen even by a server that only writes.
  socket:_read()
  self:emit('connection', socket)
end

function Server:address()
  return self._handle and nodeAddress(self._handle:getsockname())
end

function Server:close(callback)
  if callback then self:once('close', callback) end
  if self._handle then
    self._handle:close(function() self:emit('close') end)
    self._handle = nil
  else
    process.nextTick(function() self:emit('close') end)
  end
  return self
end

-- luvit's: stops listening at once (as close; its callback gets 'close').
function Server:destroy(callback)
  return self:close(callback)
end

function Server:ref()
  if self._handle then self._handle:ref() end
  return self
end

function Server:unref()
  if self._handle then self._handle:unref() end
  return self
end

-- Module functions -----------------------------------------------------------------

local function createServer(options, onConnection)
  return Server:new(options, onConnection)
end

local function createConnection(port, host, callback)
  local socket = Socket:new(type(port) == "table" and port or nil)
  return socket:connect(port, host, callback)
end

return {
  Socket = Socket,
  Server = Server,
  createServer = createServer,
  createConnection = createConnection,
  connect = createConnection,
  isIP = isIP,
  makeError = makeError,
  resolve = resolve,
}

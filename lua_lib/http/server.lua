--[[
http.server: a coroutine-per-connection HTTP/1.1 server with the Lilush API.

  local server = require("http.server")
  local srv, err = server.new({ ip = "127.0.0.1", port = 8080 },
    function(method, query, args, headers, body, ctx)
      return "Hello!", 200, { ["content-type"] = "text/plain" }
    end)
  if not srv then error(err) end
  srv:serve()  -- returns when srv:stop() has been called and in-flight requests are done

handle(method, query, args, headers, body, ctx) -> content, status, response_headers
- query is the request path ("/a/b"), args the raw query string ("x=1&y=2", or "").
- headers have lower-case names; x-client-ip is set, and x-real-ip when absent.
- body is the whole decoded body (Content-Length or chunked), or nil.
- ctx is { logger, client, cfg, redis_module }.
- content is a string, or a function returning chunks until nil (sent chunked);
  status defaults to 200; content-type to text/html. set-cookie may be a list.
- Returning nothing at all means the request was answered directly on ctx.client
  (proxied): nothing is written and the connection stays open.

Configuration defaults and their meaning: docs/http-server.md.
]]

local uv = require('uv')
local codec = require('_http_codec')
local zlib = require('zlib')
local Object = require('core').Object
local http = require('http')
local httpDate = http.date
local errorResponse = http.errorResponse

local running = coroutine.running
-- (Taken at load: a script that replaces `debug` must not break error reports.)
local traceback = debug.traceback
local queueWrite = uv.queue_write_fast
local coHttpNext = uv.co_http_next
local nowFast, bufferedFast = uv.now_fast, uv.http_buffered_fast
local concat, find, sub, format = table.concat, string.find, string.sub, string.format

-- Status lines, lower-cased names, and the "name: value\r\n" lines of a head's header
-- (one per value of a list): shared with http.
local statusLines, lower, appendHeader = http.statusLines, http.lowerName, http.appendHeader

local EV_ERROR, EV_HEAD, EV_BODY, EV_END = 0, 1, 2, 3

local badHeader, headerError = http.badHeader, http.headerError

-- The first of a handler's headers found unfit to send (see handlerHeader).
local refusedHeader

local DEFAULTS = {
  ip = "127.0.0.1",
  port = 8080,
  backlog = 256,
  connection_limit = 64,
  -- Connections still in their TLS handshake or first head: a budget of their own.
  pending_limit = 256,
  requests_per_connection = 512,
  max_body_size = 5 * 1024 * 1024,
  request_line_limit = 8192,
  keepalive_idle_timeout = 15,
  request_header_timeout = 10,
  request_body_timeout = 30,
  tls_handshake_timeout = 10,
  compression = {
    enabled = true,
    min_size = 4096,
    types = { "text/html", "text/plain", "text/css", "text/javascript", "image/svg+xml",
      "application/json", "application/rss+xml" },
  },
  log_level = "access",
  log_headers = { "referer", "x-real-ip", "user-agent" },
}

local ALIASES = { fork_limit = "connection_limit", requests_per_fork = "requests_per_connection" }

local LEVELS = { debug = 1, access = 2, info = 3, warn = 4, error = 5 }

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- Merges src into dst. Nested maps merge; lists (and anything else) replace.
local function deepMerge(dst, src)
  for k, v in pairs(src) do
    k = ALIASES[k] or k
    if type(v) == "table" and type(dst[k]) == "table" and v[1] == nil and next(v) ~= nil then
      deepMerge(dst[k], v)
    else
      dst[k] = copy(v)
    end
  end
  return dst
end

local function readFile(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("*a")
  f:close()
  if not data then return nil, path .. ": cannot be read" end
  return data
end

-- Checks one { cert, key } pair: both files exist and hold PEM of the right kind.
local function checkIdentity(name, identity)
  if type(identity) ~= "table" or type(identity.cert) ~= "string" or type(identity.key) ~= "string" then
    return nil, "ssl." .. name .. ": needs cert and key file paths"
  end
  local cert, err = readFile(identity.cert)
  if not cert then return nil, "ssl." .. name .. ": cert file " .. tostring(err) end
  if not cert:find("-----BEGIN CERTIFICATE-----", 1, true) then
    return nil, "ssl." .. name .. ": cert file " .. identity.cert .. " holds no PEM certificate"
  end
  local key
  key, err = readFile(identity.key)
  if not key then return nil, "ssl." .. name .. ": key file " .. tostring(err) end
  if not key:find("-----BEGIN [%u ]*PRIVATE KEY-----") then
    return nil, "ssl." .. name .. ": key file " .. identity.key .. " holds no PEM private key"
  end
  return true
end

-- The logger handed to handlers as ctx.logger: one method per level.
local function makeLogger(server)
  local logger = {}
  for level in pairs(LEVELS) do
    logger[level] = function(_, msg)
      if LEVELS[level] >= LEVELS[server.cfg.log_level] then
        uv.log(level, "http.server", tostring(msg))
      end
    end
  end
  return logger
end

-- Client: one accepted connection, as ctx.client -----------------------------------

local Client = Object:extend()

function Client:initialize(handle, server)
  self.handle = handle
  self.server = server
  self._hkey, self._hgen = handle:id() -- for the raw read and write (bindings/fast.rs)
  self.decoder = codec.decoder("request", server.cfg.request_line_limit, server.cfg.max_body_size)
  self.deadline = nil -- loop time (ms) after which the sweep closes the connection
  self.headWritten = false -- whether this request's response head is out
end

-- Writes data; waits (yields) only when a lot is queued. Returns true or nil, err.
function Client:write(data)
  local ok, queued = queueWrite(self._hkey, self._hgen, data)
  if not ok then return nil, queued end
  if queued > 1024 * 1024 then
    -- Backpressure: let the socket drain before queuing more.
    return uv.co_write(self.handle, "")
  end
  return true
end

-- Reads raw bytes (for handlers that proxy on the connection): data, nil at EOF.
function Client:read()
  return uv.co_read(self.handle)
end

function Client:close()
  if self.closed then return end
  self.closed = true
  uv.close_after_flush(self.handle)
end

-- Server ---------------------------------------------------------------------------

local Server = Object:extend()

function Server:initialize(handle)
  self.cfg = copy(DEFAULTS)
  self.handle = handle or function() return "Hi there!", 200, { ["content-type"] = "text/plain" } end
  self.logger = makeLogger(self)
  self._clients = {}
  self._active = 0      -- connections being served, of any kind
  self._established = 0 -- of those, the ones past their first request head
  -- Connections still in their handshake or first head: client -> arrival order.
  self._pending, self._pendingCount, self._arrivals = {}, 0, 0
end

-- Deep-merges config into the configuration; checks TLS files. Returns true or nil, err.
function Server:configure(config)
  if config == nil then return true end
  if type(config) ~= "table" then
    return nil, "configure: config must be a table, got " .. type(config)
  end
  local cfg = deepMerge(copy(self.cfg), config)
  if not LEVELS[cfg.log_level] then
    return nil, "configure: log_level must be one of debug, access, info, warn, error; got " .. tostring(cfg.log_level)
  end
  for _, key in ipairs({ "port", "backlog", "connection_limit", "pending_limit", "requests_per_connection", "max_body_size",
    "request_line_limit", "keepalive_idle_timeout", "request_header_timeout", "request_body_timeout" }) do
    if type(cfg[key]) ~= "number" then
      return nil, "configure: " .. key .. " must be a number, got " .. type(cfg[key])
    end
  end
  local tlsConfig
  if cfg.ssl then
    local ok, err = checkIdentity("default", cfg.ssl.default)
    if not ok then return nil, err end
    for host, identity in pairs(cfg.ssl.hosts or {}) do
      ok, err = checkIdentity("hosts[" .. host .. "]", identity)
      if not ok then return nil, err end
    end
    -- Parse every identity once, now (a key that does not match its cert fails here).
    tlsConfig, err = uv.tls_server_config(cfg.ssl)
    if not tlsConfig then return nil, "ssl: " .. err end
  end
  self.cfg = cfg
  self._tls = tlsConfig
  return true
end

-- Accept-Encoding -> "gzip", "deflate" or nil. q=0 refuses; gzip wins ties.
local function negotiate(accept)
  if not accept then return nil end
  local q = {}
  for item in accept:gmatch("[^,]+") do
    local name, params = item:match("^%s*([^;%s]+)%s*(.*)$")
    if name then
      local value = tonumber(params:match("q%s*=%s*([%d.]+)")) or 1
      q[lower(name)] = value
    end
  end
  local star = q["*"]
  local gz = q.gzip or q["x-gzip"] or star or 0
  local df = q.deflate or star or 0
  if gz > 0 and gz >= df then return "gzip" end
  if df > 0 then return "deflate" end
  return nil
end

local function compressible(cfg, contentType)
  local c = cfg.compression
  if not c or not c.enabled or not contentType then return false end
  local media = lower(contentType:match("^%s*([^;%s]+)") or "")
  for _, t in ipairs(c.types or {}) do
    if t == media then return true end
  end
  return false
end

-- Reads until the decoder has an event (all its values: for a head, see
-- src/bindings/http.rs, with the headers as a table); the client's deadline bounds
-- the wait. Between requests the wait is in uv.co_http_next (this coroutine is the
-- handle's on_readable), in the middle of one in uv.co_read_into.
local function nextEvent(client)
  local dec, handle = client.decoder, client.handle
  while true do
    local ev, a, b, c, d, e, f = coHttpNext(dec, client._hkey, client._hgen, client._co, true)
    if ev then return ev, a, b, c, d, e, f end
    local ok, err = nil, a
    if ev == false then
      if client.waitingFirstByte and not dec:idle() then
        -- The first bytes of a request: from now on the head timeout applies.
        client.waitingFirstByte = false
        client.deadline = uv.now() + client.server.cfg.request_header_timeout * 1000
      end
      ok, err = uv.co_read_into(handle, dec)
    end
    if ok == nil then
      if err then return nil, client.timedOut and "timeout" or err end
      if dec:idle() then return nil, "closed" end
      dec:eof()
    end
  end
end

-- Answers bad input (the decoder's status) and ends the connection.
local function reject(server, client, client_ip, status, why)
  client.deadline = nil
  client:write(errorResponse(status))
  server.logger:info(format("%s bad request: %d %s", client_ip, status, tostring(why)))
  return "close"
end

-- The buffer a response head is built in, as a list of pieces, reused (heads are
-- built one at a time, and nothing yields while one is).
local headParts = {}

-- Appends the handler's header k, v to the head's pieces by its lower-case name, but
-- holds back the ones the server looks at (returned, for process_request to write)
-- and the ones it sets itself (connection, content-length, transfer-encoding).
-- Returns n and the held-back values.
local function handlerHeader(parts, n, k, v, ctype, date, cenc, vary, clen)
  -- A name that is not a token, or a value with CR, LF or another control byte (which
  -- would add lines of its own to the head): left out, and the response becomes a 500.
  local bad = badHeader(k, v)
  if bad then
    refusedHeader = refusedHeader or headerError(k, bad)
    return n, ctype, date, cenc, vary, clen
  end
  local l = lower(k)
  if l == "content-type" then ctype = v
  elseif l == "date" then date = v
  elseif l == "content-encoding" then cenc = v
  elseif l == "vary" then vary = v
  elseif l == "content-length" then clen = v
  elseif l ~= "connection" and l ~= "transfer-encoding" then
    n = appendHeader(parts, n, l, v)
  end
  return n, ctype, date, cenc, vary, clen
end

-- A response whose head would not be what it says (a handler's header with CR or LF
-- in it, or a name that is not a token): logged as the handler's error, and answered
-- with a 500 instead.
function Server:_refuse(client, method, url, why)
  self.logger:error("handler error for " .. method .. " " .. url .. ": " .. why)
  client.headWritten = true
  client:write(errorResponse(500))
  return "close"
end

-- Sends a streamed body (content is a function returning pieces, then nil) chunked,
-- compressed if `encoding` says so. Returns the bytes sent, or nil, err.
function Server:_sendStreamed(client, content, encoding, url)
  local z = encoding and zlib.stream("compress", encoding == "gzip" and "gzip" or "zlib")
  local size = 0
  local function sendChunk(data)
    if #data > 0 then
      size = size + #data
      client:write({ format("%x\r\n", #data), data, "\r\n" })
    end
  end
  while true do
    local ok, chunk = pcall(content)
    if not ok then
      -- The head is out: all we can do is cut the connection.
      self.logger:error("content function failed for " .. url .. ": " .. tostring(chunk))
      return nil, chunk
    end
    if chunk == nil then break end
    chunk = tostring(chunk)
    sendChunk(z and (z:write(chunk) .. z:flush()) or chunk)
  end
  if z then sendChunk(z:finish()) end
  client:write("0\r\n\r\n")
  return size
end

-- The Client for a raw tcp (or TLS) handle given to process_request, made on first
-- use and kept with the handle (weakly), so that its decoder keeps what the last
-- request left buffered. The running coroutine waits on the handle.
local clientOf = setmetatable({}, { __mode = "k" })

function Server:_clientFor(handle)
  local client = clientOf[handle]
  if not client then
    client = Client:new(handle, self)
    clientOf[handle] = client
  end
  local co = running()
  if client._co ~= co then
    handle:set_on_readable(co)
    client._co = co
  end
  -- (The sweep enforces its deadlines; process_request takes it off when it ends.)
  self._clients[client] = true
  if not self._sweep then self:_startSweep() end
  return client
end

-- Reads one request, calls the handler, writes the response. `client` is a Client
-- (what serve gives handlers as ctx.client) or, as the seed's API has it, the raw
-- tcp or TLS handle of an accepted connection.
-- Returns "keep-alive", "close", or nil, err.
function Server:process_request(client, client_ip, count, redis_module)
  if type(client) == "userdata" then
    local c = self:_clientFor(client)
    local state, err = self:process_request(c, client_ip, count, redis_module)
    if state ~= "keep-alive" then self._clients[c] = nil end
    return state, err
  end
  local cfg = self.cfg
  -- (The _fast versions: through the FFI, which keeps this path compiled.)
  local started = nowFast()
  client.timedOut = false
  client.headWritten = false
  -- Idle until the first byte, then the head timeout.
  local idle = bufferedFast(client.decoder) == 0
  client.idle = idle
  if not idle then
    client.waitingFirstByte = false
    client.deadline = started + cfg.request_header_timeout * 1000
  else
    client.waitingFirstByte = true
    -- A new TLS connection first has its handshake to do, under its own timeout.
    local wait = (count == 1 and self._tls) and cfg.tls_handshake_timeout or cfg.keepalive_idle_timeout
    client.deadline = started + wait * 1000
  end

  -- For the head: whether it is complete (no body), method, url, httpVersion,
  -- keepAlive and the headers (a table, by lower-case name).
  local ev, complete, method, url, _, keepAlive, headers = nextEvent(client)
  client.idle = false
  if ev == nil then
    client.deadline = nil
    if complete == "closed" then return "close" end
    return nil, complete
  end
  if ev == EV_ERROR then
    return reject(self, client, client_ip, complete, method)
  end
  if rawget(client, "_arrival") and not self:_establish(client) then
    -- (Over TLS, the handshake is done: the 503 goes out encrypted.)
    client.headWritten = true
    client:write(errorResponse(503))
    self.logger:warn("connection limit reached: answered 503")
    return "close"
  end

  -- The body, whole.
  local body
  if not complete then
    client.deadline = uv.now() + cfg.request_body_timeout * 1000
    local parts = {}
    while true do
      local bev, chunk, why = nextEvent(client)
      if bev == EV_BODY then
        parts[#parts + 1] = chunk
      elseif bev == EV_END then
        break
      elseif bev == EV_ERROR then
        return reject(self, client, client_ip, chunk, why)
      else
        client.deadline = nil
        return nil, chunk
      end
    end
    body = concat(parts)
  end
  client.deadline = nil

  headers["x-client-ip"] = client_ip
  if headers["x-real-ip"] == nil then headers["x-real-ip"] = client_ip end
  local q = find(url, "?", 1, true)
  local path = q and sub(url, 1, q - 1) or url
  local args = q and sub(url, q + 1) or ""

  -- (Constant values in the constructor: one template copy, then plain stores.)
  local ctx = { logger = false, client = false, cfg = false }
  ctx.logger, ctx.client, ctx.cfg = self.logger, client, cfg
  if redis_module ~= nil then ctx.redis_module = redis_module end
  local ok, content, status, rheaders = xpcall(self.handle, traceback, method, path, args, headers, body, ctx)
  if not ok then
    self.logger:error("handler error for " .. method .. " " .. url .. ":\n" .. tostring(content))
    content, status, rheaders = "Internal Server Error\n", 500, { ["content-type"] = "text/plain" }
  elseif content == nil and status == nil and rheaders == nil then
    return "keep-alive" -- answered directly on ctx.client (proxied)
  end

  status = tonumber(status) or 200
  -- The head: the handler's headers first, by lower-case name, then the ones the
  -- server looks at or sets. (The loop takes its first entries one by one: a loop
  -- that runs for every request can be compiled as a trace of its own before the
  -- request's whole path is, and then splits that path. See docs/http.md, "Keeping
  -- the hot path compiled".)
  local parts, n = headParts, 1
  parts[1] = statusLines[status]
  local ctype, date, cenc, vary, clen
  if rheaders then
    local k, v = next(rheaders)
    if k ~= nil then
      n, ctype, date, cenc, vary, clen = handlerHeader(parts, n, k, v, ctype, date, cenc, vary, clen)
      k, v = next(rheaders, k)
    end
    if k ~= nil then
      n, ctype, date, cenc, vary, clen = handlerHeader(parts, n, k, v, ctype, date, cenc, vary, clen)
      k, v = next(rheaders, k)
    end
    while k ~= nil do
      n, ctype, date, cenc, vary, clen = handlerHeader(parts, n, k, v, ctype, date, cenc, vary, clen)
      k, v = next(rheaders, k)
    end
  end
  if refusedHeader then
    local why = refusedHeader
    refusedHeader = nil
    return self:_refuse(client, method, url, why)
  end
  if ctype == nil then ctype = "text/html" end
  keepAlive = keepAlive and count < cfg.requests_per_connection and not self._stopping
  local bodiless = status == 204 or status == 304 or (status >= 100 and status < 200)
  local isHead = method == "HEAD"
  local streamed = type(content) == "function"
  if not streamed and content ~= nil and type(content) ~= "string" then content = tostring(content) end
  content = content or ""

  -- Compression: enabled, listed type, big enough (streams always), not encoded yet,
  -- not 204/304/HEAD, and the client accepts it.
  local encoding
  if not bodiless and not isHead and cenc == nil
      and (streamed or #content >= (cfg.compression.min_size or 0)) and compressible(cfg, ctype) then
    encoding = negotiate(headers["accept-encoding"])
  end
  if encoding then
    cenc = encoding
    vary = vary and (vary .. ", Accept-Encoding") or "Accept-Encoding"
    if not streamed then
      content = encoding == "gzip" and zlib.gzip(content) or zlib.deflate(content)
    end
  end

  n = appendHeader(parts, n, "content-type", ctype)
  if cenc ~= nil then n = appendHeader(parts, n, "content-encoding", cenc) end
  if vary ~= nil then n = appendHeader(parts, n, "vary", vary) end
  n = appendHeader(parts, n, "date", date or httpDate())
  n = appendHeader(parts, n, "connection", keepAlive and "keep-alive" or "close")
  if streamed then
    if not bodiless then n = appendHeader(parts, n, "transfer-encoding", "chunked") end
  elseif not bodiless then
    n = appendHeader(parts, n, "content-length", #content)
  elseif clen ~= nil then
    -- (A 304 may say the length a 200 would have had.)
    n = appendHeader(parts, n, "content-length", clen)
  end
  parts[n + 1] = "\r\n"
  -- A response with very many headers would keep the shared buffer that big.
  if n > 4 * 32 then headParts = {} end
  local size = 0
  client.headWritten = true
  if streamed then
    client:write(concat(parts, "", 1, n + 1))
    if not (isHead or bodiless) then
      local err
      size, err = self:_sendStreamed(client, content, encoding, url)
      if not size then return nil, err end
    end
  else
    if not (isHead or bodiless) then
      n = n + 1
      parts[n + 1] = content
      size = #content
    end
    local response = concat(parts, "", 1, n + 1)
    parts[n + 1] = nil -- (the buffer keeps no body alive)
    client:write(response)
  end

  if LEVELS.access >= LEVELS[cfg.log_level] then
    local extra = {}
    for _, name in ipairs(cfg.log_headers or {}) do
      extra[#extra + 1] = format("%s=%q", name, tostring(headers[name] or "-"))
    end
    uv.log("access", "http.server", format("%s %s %s %s %d %d %dms %s", headers["host"] or "-", client_ip,
      method, url, status, size, nowFast() - started, concat(extra, " ")))
  end
  return keepAlive and "keep-alive" or "close"
end

-- One timer per server closes connections whose deadline has passed (slowloris and
-- idle keep-alive alike), so requests cost no timer work.
function Server:_startSweep()
  local cfg = self.cfg
  local shortest = math.min(cfg.keepalive_idle_timeout, cfg.request_header_timeout, cfg.request_body_timeout)
  local interval = math.max(10, math.min(1000, math.floor(shortest * 1000 / 4)))
  local t = uv.new_timer()
  t:unref()
  t:start(interval, interval, function()
    local now = uv.now()
    for client in pairs(self._clients) do
      if client.deadline and now >= client.deadline then
        client.deadline = nil
        client.timedOut = true
        self.logger:debug("closing a connection that missed its deadline")
        client.handle:close()
      end
    end
  end)
  self._sweep = t
end

-- Serves the connection's requests until one ends it.
local function serveRequests(self, client, ip)
  local count = 0
  while true do
    count = count + 1
    -- (rawget: an unset redis_module would be looked for all along the class chain,
    -- for every request.)
    local state, err = self:process_request(client, ip, count, rawget(self, "redis_module"))
    if state ~= "keep-alive" then
      if err and err ~= "closed" then self.logger:debug("connection from " .. ip .. " ended: " .. tostring(err)) end
      return
    end
    if self._stopping then return end
  end
end

-- Connections count against connection_limit from their first complete request
-- head on. Before it (in the TLS handshake, or sending a head slowly) they have a
-- budget of their own, pending_limit, and when it is full a new connection closes the
-- oldest pending one: slow or stalled clients (slowloris, handshakes that never end)
-- cannot keep the ones that send their request at once from being served, as nginx
-- serves them.
function Server:_admitPending(client)
  if self._pendingCount >= self.cfg.pending_limit then
    local oldest, first = nil, math.huge
    for c, arrival in pairs(self._pending) do
      if arrival < first then oldest, first = c, arrival end
    end
    if oldest then
      self:_leavePending(oldest)
      oldest.handle:close()
      self.logger:warn("pending connections at their limit: closed the oldest")
    end
  end
  self._arrivals = self._arrivals + 1
  client._arrival = self._arrivals
  self._pending[client] = self._arrivals
  self._pendingCount = self._pendingCount + 1
end

function Server:_leavePending(client)
  if self._pending[client] then
    self._pending[client] = nil
    self._pendingCount = self._pendingCount - 1
  end
  client._arrival = nil
end

-- The client's first head has come: it now counts against connection_limit.
-- Returns false if that is full.
function Server:_establish(client)
  self:_leavePending(client)
  if self._established >= self.cfg.connection_limit then return false end
  self._established = self._established + 1
  client._established = true
  return true
end

function Server:_serveConnection(handle)
  local cfg = self.cfg
  self._active = self._active + 1
  if self._tls then
    -- The handshake runs with the first reads, under the TLS handshake timeout.
    handle:tls_server(self._tls)
  end
  local client = Client:new(handle, self)
  self:_admitPending(client)
  -- This coroutine serves the connection: it waits for the socket's bytes as the
  -- handle's on_readable, so a wait costs no registration (uv.co_read_into).
  local co = running()
  handle:set_on_readable(co)
  client._co = co
  self._clients[client] = true
  local peer = handle:getpeername()
  local ip = peer and peer.ip or "-"
  -- Under xpcall: the handler's own errors are caught around each call (a 500); this
  -- catches the server's part of a request failing on what a handler returned (a
  -- body whose __tostring raises, say): logged with a traceback, answered with a 500
  -- if the response's head is not out yet, and only this connection ends. (Around
  -- the whole connection, not each request: a request's trace, which starts after a
  -- wait inside process_request, cannot return into an xpcall below it; a hello
  -- request took 21k instructions instead of 12.2k that way.)
  local ok, err = xpcall(serveRequests, traceback, self, client, ip)
  if not ok then
    self.logger:error("connection from " .. ip .. " failed:\n" .. tostring(err))
    if not client.headWritten then client:write(errorResponse(500)) end
  end
  client:close()
  self._clients[client] = nil
  self:_leavePending(client)
  if client._established then self._established = self._established - 1 end
  self._active = self._active - 1
  if self._stopping and self._active == 0 and self._serving then
    uv.wake(self._serving)
  end
end

-- Binds ip:port and serves until stop(). Returns nil (or nil, err if it cannot bind).
function Server:serve()
  local cfg = self.cfg
  local listener = uv.new_tcp()
  local ok, err = listener:bind(cfg.ip, cfg.port)
  if ok then
    ok, err = listener:listen(cfg.backlog, function()
      local h = uv.new_tcp()
      if not listener:accept(h) then
        h:close()
        return
      end
      self:_serveConnection(h)
    end)
  end
  if not ok then
    listener:close()
    return nil, err
  end
  self._listener = listener
  self.port = listener:getsockname().port
  self._stopping = false
  self:_startSweep()
  self.logger:info(format("listening on %s:%d", cfg.ip, self.port))
  self._serving = running()
  repeat
    uv.wait()
  until self._stopping and self._active == 0
  self._serving = nil
  return nil
end

-- Graceful shutdown: stop accepting, close idle connections, let requests in flight
-- finish; serve() then returns.
function Server:stop()
  if self._stopping then return end
  self._stopping = true
  if self._listener then
    self._listener:close()
    self._listener = nil
  end
  if self._sweep then
    self._sweep:close()
    self._sweep = nil
  end
  for client in pairs(self._clients) do
    if client.idle then client.handle:close() end
  end
  if self._active == 0 and self._serving then uv.wake(self._serving) end
end

-- new(config, handle) -> server, err
local function new(config, handle)
  if handle ~= nil and type(handle) ~= "function" then
    return nil, "http.server.new: handle must be a function, got " .. type(handle)
  end
  local server = Server:new(handle)
  local ok, err = server:configure(config)
  if not ok then return nil, err end
  return server
end

return {
  new = new,
  Server = Server,
  Client = Client,
  DEFAULTS = DEFAULTS,
  negotiate = negotiate,
}

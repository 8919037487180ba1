--[[
http: node's http module: a server and a client, HTTP/1.1 with keep-alive.

  local http = require('http')
  http.createServer(function (req, res)
    local body = "Hello world\n"
    res:writeHead(200, { ["Content-Type"] = "text/plain", ["Content-Length"] = #body })
    res:finish(body)
  end):listen(8080)

  http.get("http://127.0.0.1:8080/", function (res)
    res:on('data', function (chunk) p(chunk) end)
  end)

Requests are parsed in Rust (strict, like node's llhttp; see src/http/decoder.rs).
Each request on a connection is served by one coroutine that reads, calls the
handler, waits for the response to finish, and loops for the next request (so
pipelined requests are answered in order); between requests an idle keep-alive
connection holds no coroutine. A response's head and a known-length body leave in one
write.

Server: `server.headersTimeout` (ms, default 60000) bounds the time to receive a
whole request head, idle keep-alive time included; `server.requestTimeout` (300000,
node's) the whole request, body included, from the same start; `server.bodyTimeout`
(30000) the wait for each piece of a body. A request cut by the last two gets a 408
if its response has not started. `server.maxHeaderSize` (8192) gives 431/414 beyond
it. A Lua error in the handler is logged with its traceback and
answered with a 500 if the response has not started (else the connection is closed);
the server keeps serving.

IncomingMessage.headers has lower-case names; a repeated header is joined with ", ",
except set-cookie, which is a list. rawHeaders is the list name, value, ... as sent.
Both are made the first time a handler reads them.
]]

local uv = require('uv')
local codec = require('_http_codec')
local net = require('net')
local stream = require('stream')
local Emitter = require('core').Emitter

local running = coroutine.running
-- (Taken at load: a script that replaces `debug` or `io` must not break error reports.)
local traceback, stderr = debug.traceback, io.stderr
local WAIT = uv.WAIT
local httpNext = uv.http_next
local queueWrite, unixTime = uv.queue_write_fast, uv.unix_time
local concat, tostring, type, pairs, setmetatable = table.concat, tostring, type, pairs, setmetatable
local find, sub = string.find, string.sub
local newReadableState = stream.newReadableState

-- Lower-cased header names, remembered: the same few names come with every response.
-- (They come from handlers and peers, so the cache stops growing at 1000 names.)
local lowerCache, lowerCount = {}, 0
local function lower(name)
  local l = lowerCache[name]
  if l == nil then
    l = string.lower(name)
    if lowerCount < 1000 then
      lowerCache[name], lowerCount = l, lowerCount + 1
    end
  end
  return l
end

local EV_ERROR, EV_HEAD, EV_BODY, EV_END = 0, 1, 2, 3
-- The flags of a head event (src/bindings/http.rs).
local EXPECT_CONTINUE = 2
local band = require('bit').band

local STATUS_CODES = {
  [100] = "Continue", [101] = "Switching Protocols", [200] = "OK", [201] = "Created",
  [202] = "Accepted", [204] = "No Content", [206] = "Partial Content",
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other", [304] = "Not Modified",
  [307] = "Temporary Redirect", [308] = "Permanent Redirect", [400] = "Bad Request",
  [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
  [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [413] = "Payload Too Large", [414] = "URI Too Long", [415] = "Unsupported Media Type",
  [417] = "Expectation Failed", [426] = "Upgrade Required", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

-- The Date header, formatted at most once a second.
local dateSecond, dateString = -1, nil
local function httpDate()
  local now = unixTime()
  if now ~= dateSecond then
    dateSecond = now
    dateString = os.date("!%a, %d %b %Y %H:%M:%S GMT", now)
  end
  return dateString
end

-- Headers given as a map or as luvit's list of { name, value } pairs.
local function eachHeader(headers, fn)
  for k, v in pairs(headers) do
    if type(k) == "number" and type(v) == "table" then
      fn(v[1], v[2])
    else
      fn(k, v)
    end
  end
end

-- One buffer for building heads, reused (heads are built one at a time).
local parts = {}

-- "HTTP/1.1 200 OK\r\n" and friends, made once per known status code.
local statusLines = setmetatable({}, { __index = function(lines, code)
  local line = "HTTP/1.1 " .. code .. " " .. (STATUS_CODES[code] or "Unknown") .. "\r\n"
  if STATUS_CODES[code] then rawset(lines, code, line) end
  return line
end })

-- Small whole numbers (Content-Length above all) as strings, formatted once each.
local smallNumbers = setmetatable({}, { __index = function(numbers, n)
  local text = tostring(n)
  if n >= 0 and n < 65536 and n % 1 == 0 then rawset(numbers, n, text) end
  return text
end })

local function headerValue(value)
  if type(value) == "number" then return smallNumbers[value] end
  return tostring(value)
end

-- Header checks, as node's (its error codes, in a "CODE: message" string). A name
-- must be a token, and a value may hold no control byte but HTAB: a CR or LF would
-- end its line and start one of the sender's choosing (response splitting). Every
-- header and status message a head is built from is checked, however it was given.
local checkField = codec.check_field

-- The names and values found fine already, so that a handler's usual headers cost a
-- table lookup each (Lua strings are interned: "text/plain" is one string however
-- often a handler makes it). At most 1024 are kept; then they start over.
local fineNames, fineValues, fineCount = {}, {}, 0

local function remember(isName, s)
  fineCount = fineCount + 1
  if fineCount > 1024 then fineNames, fineValues, fineCount = {}, {}, 1 end
  if isName then fineNames[s] = true else fineValues[s] = true end
end

-- Whether a header is fit to send: nil if so, else "name" (not a token) or "value"
-- (a control byte in it).
local function badHeader(name, value)
  if fineNames[name] == nil then
    if type(name) ~= "string" or checkField(name, "") then return "name" end
    remember(true, name)
  end
  local t = type(value)
  if t == "string" then
    if fineValues[value] == nil then
      if checkField("x", value) then return "value" end
      remember(false, value)
    end
  elseif t == "table" then
    for i = 1, #value do
      if badHeader(name, value[i]) then return "value" end
    end
  elseif t ~= "number" and (value == nil or checkField("x", tostring(value))) then
    return "value"
  end
  return nil
end

local function shown(name)
  return (tostring(name):gsub("%c", "?"))
end

-- node's error for a header badHeader refused.
local function headerError(name, bad)
  if bad == "name" then
    return 'ERR_INVALID_HTTP_TOKEN: Header name must be a valid HTTP token ["' .. shown(name) .. '"]'
  end
  return 'ERR_INVALID_CHAR: Invalid character in header content ["' .. shown(name) .. '"]'
end

local function validateHeaderName(name)
  if badHeader(name, 0) then error(headerError(name, "name"), 2) end
end

local function validateHeaderValue(name, value)
  if value == nil then
    error('ERR_HTTP_INVALID_HEADER_VALUE: Invalid value "nil" for header "' .. shown(name) .. '"', 2)
  end
  if badHeader("x", value) then error(headerError(name, "value"), 2) end
end

-- Appends "Name: value\r\n" lines (one per value when value is a list).
local function appendHeader(parts, n, name, value)
  if type(value) == "table" then
    for i = 1, #value do
      parts[n + 1], parts[n + 2], parts[n + 3], parts[n + 4] = name, ": ", headerValue(value[i]), "\r\n"
      n = n + 4
    end
    return n
  end
  parts[n + 1], parts[n + 2], parts[n + 3], parts[n + 4] = name, ": ", headerValue(value), "\r\n"
  return n + 4
end

-- Appends one header of a table given to writeHead (name = value, or an { name, value }
-- pair in a list). Returns n, and the four headers a response head must know about,
-- by their lower-case names, updated.
local function givenHeader(parts, n, k, v, date, contentLength, transferEncoding, connection)
  if type(k) == "number" and type(v) == "table" then k, v = v[1], v[2] end
  local bad = badHeader(k, v)
  if bad then error(headerError(k, bad), 0) end
  n = appendHeader(parts, n, k, v)
  local l = lower(k)
  if l == "content-length" then contentLength = v
  elseif l == "date" then date = v
  elseif l == "transfer-encoding" then transferEncoding = v
  elseif l == "connection" then connection = v
  end
  return n, date, contentLength, transferEncoding, connection
end

-- IncomingMessage ------------------------------------------------------------------

local IncomingMessage = stream.Readable:extend()

-- A request, from the fields of the decoder's head event (this runs for every
-- request). Every value in the constructor is a constant, so it is one copy of a
-- template that has all the keys, and the stores after it add none. The template has
-- eight keys, the most a table of eight hash slots holds: the server's later stores
-- (complete, _bodyEnded) then find their keys, and the rest (path, connection, the
-- headers) are made on first read. The header lines stay one string, _rawHead, until
-- someone reads the headers.
function IncomingMessage:request(socket, method, url, httpVersion, keepAlive, rawHead)
  local msg = setmetatable({
    method = false, url = false, httpVersion = false, keepAlive = false,
    socket = false, complete = false, _rawHead = false, _bodyEnded = false,
  }, self.meta)
  msg.method, msg.url, msg.httpVersion, msg.keepAlive = method, url, httpVersion, keepAlive
  msg.socket, msg._rawHead = socket, rawHead
  return msg
end

-- A response (the client's side), from the fields of the decoder's head event.
function IncomingMessage:response(socket, statusCode, statusMessage, httpVersion, keepAlive, rawHead)
  return setmetatable({
    statusCode = statusCode, statusMessage = statusMessage, httpVersion = httpVersion,
    keepAlive = keepAlive, socket = socket, connection = socket, complete = false,
    _rawHead = rawHead, _bodyEnded = false,
  }, self.meta)
end

-- Made on first use, so a handler pays only for what it reads:
-- - headers and rawHeaders, from the head's header lines (native.http_headers);
-- - path (a request's url up to its '?') and connection (the socket);
-- - the body's stream state (a message whose body ended before that starts ended).
IncomingMessage:defineLazy({
  path = function(self)
    local url = rawget(self, "url")
    if type(url) ~= "string" then return nil end
    local q = find(url, "?", 1, true)
    return q and sub(url, 1, q - 1) or url
  end,
  connection = function(self)
    return rawget(self, "socket")
  end,
  headers = function(self)
    local headers, raw = codec.headers(rawget(self, "_rawHead") or "\r\n", true)
    rawset(self, "rawHeaders", raw)
    return headers
  end,
  rawHeaders = function(self)
    local _ = self.headers
    return rawget(self, "rawHeaders")
  end,
  _readableState = function(self)
    local state = newReadableState(nil)
    state.ended = rawget(self, "_bodyEnded") == true
    return state
  end,
})

function IncomingMessage:push(chunk)
  if chunk == nil and rawget(self, "_readableState") == nil then
    rawset(self, "_bodyEnded", true)
    return false
  end
  return stream.Readable.push(self, chunk)
end

-- The body is pushed by the connection's coroutine as it arrives.
function IncomingMessage:_read() end

-- OutgoingMessage: what ServerResponse and ClientRequest share ------------------------

local OutgoingMessage = Emitter:extend()

function OutgoingMessage:initialize(socket)
  self.socket = socket
  self.connection = socket
  self._headers = {} -- lower-case name -> value
  self._names = {}   -- lower-case name -> name as set
  self.headersSent = false
  self.finished = false
  self._chunked = false
end

-- Adds headers (a map, or luvit's list of { name, value }) to the tables of an
-- OutgoingMessage. (A loop, not eachHeader: a closure here would keep the JIT from
-- compiling writeHead.)
local function mergeHeaders(hs, names, headers)
  for k, v in pairs(headers) do
    if type(k) == "number" and type(v) == "table" then k, v = v[1], v[2] end
    local l = lower(k)
    hs[l], names[l] = v, k
  end
end

-- The header tables, made on first use. A ServerResponse starts without them: a
-- handler that only passes its headers to writeHead has them kept as given
-- (`_given`), and they become tables only if someone sets, reads or removes one.
function OutgoingMessage:_own()
  local hs = self._headers
  if hs then return hs, self._names end
  local names
  hs, names = {}, {}
  local given = self._given
  if given then
    self._given = false
    mergeHeaders(hs, names, given)
  end
  self._headers, self._names = hs, names
  return hs, names
end

function OutgoingMessage:setHeader(name, value)
  if self.headersSent then error("setHeader: headers already sent", 2) end
  if type(name) ~= "string" then error("setHeader: name must be a string, got " .. type(name), 2) end
  local bad = badHeader(name, value)
  if bad then error(headerError(name, bad), 2) end
  local hs, names = self:_own()
  local l = lower(name)
  hs[l] = value
  names[l] = name
end

function OutgoingMessage:getHeader(name)
  return (self:_own())[lower(name)]
end

function OutgoingMessage:removeHeader(name)
  if self.headersSent then error("removeHeader: headers already sent", 2) end
  local hs, names = self:_own()
  local l = lower(name)
  hs[l] = nil
  names[l] = nil
end

function OutgoingMessage:hasHeader(name)
  return (self:_own())[lower(name)] ~= nil
end

function OutgoingMessage:getHeaders()
  local out = {}
  for k, v in pairs((self:_own())) do out[k] = v end
  return out
end

-- Queues bytes on the socket; they leave when the running callback yields or returns.
function OutgoingMessage:_send(data)
  local socket = self.socket
  -- (rawget: a socket's `destroyed` is in its class until it is destroyed, and the
  -- class's lookup is a function, for its lazy fields. This runs for every response.)
  if not socket or rawget(socket, "destroyed") or not socket._handle then return false end
  local handle = socket._handle
  -- (An http server's sockets carry their handle's id, for the raw write.)
  local hkey, ok, queued = socket._hkey, nil, nil
  if hkey then
    ok, queued = queueWrite(hkey, socket._hgen, data)
  else
    ok, queued = handle:queue_write(data)
  end
  if not ok then return false end
  -- Past 64 KiB queued, tell the writer to wait for 'drain'.
  if queued > 65536 then
    if not self._waitingDrain then self:_awaitDrain(handle) end
    return false
  end
  return true
end

-- Emits 'drain' once what is queued now has gone out. (Its own function: a closure
-- in _send would keep the JIT from compiling it.)
function OutgoingMessage:_awaitDrain(handle)
  self._waitingDrain = true
  handle:queue_write("", function()
    self._waitingDrain = false
    self:emit('drain')
  end)
end

-- Writes a piece of body (sending the head first). Without a Content-Length the body
-- goes out chunked on HTTP/1.1.
function OutgoingMessage:write(chunk, callback)
  if self.finished then
    error("write after finish", 2)
  end
  chunk = chunk ~= nil and tostring(chunk) or ""
  local head
  if not self.headersSent then
    head = self:_head(nil)
  end
  local ok
  if self._noBody then
    ok = head and self:_send(head) or true
  elseif self._chunked then
    if #chunk == 0 then
      ok = head and self:_send(head) or true
    else
      local frame = string.format("%x\r\n", #chunk)
      ok = self:_send(head and { head, frame, chunk, "\r\n" } or { frame, chunk, "\r\n" })
    end
  else
    ok = self:_send(head and { head, chunk } or chunk)
  end
  if callback then process.nextTick(callback) end
  return ok
end

-- Ends the message, with an optional last piece of body. The head and a body given
-- here leave in one write.
function OutgoingMessage:finish(data, callback)
  if type(data) == "function" then data, callback = nil, data end
  if self.finished then return self end
  if data ~= nil and type(data) ~= "string" then data = tostring(data) end
  if not self.headersSent then
    local len = data and #data or 0
    if len > 0 and not self._noBody then
      -- A small body joins the head in one string; a large one goes as a second
      -- piece of the same write, uncopied.
      self:_send(len <= 16384 and self:_head(len, data) or { self:_head(len), data })
    else
      self:_send(self:_head(len))
    end
  elseif self._chunked and not self._noBody then
    if data and #data > 0 then
      self:_send({ string.format("%x\r\n", #data), data, "\r\n0\r\n\r\n" })
    else
      self:_send("0\r\n\r\n")
    end
  elseif data and #data > 0 and not self._noBody then
    self:_send(data)
  end
  self.finished = true
  if callback then self:once('finish', callback) end
  if rawget(self, "_handlers") then self:emit('finish') end
  self:_finished()
  return self
end
OutgoingMessage.done = OutgoingMessage.finish
OutgoingMessage["end"] = OutgoingMessage.finish

function OutgoingMessage:_finished() end

-- ServerResponse -------------------------------------------------------------------

local ServerResponse = OutgoingMessage:extend()

-- Defaults a response keeps in its class until one of its own is set (rarely: a
-- HEAD request, a chunked body, headers set one by one). They are false
-- rather than nil, so that a read stops here and does not walk the class chain.
ServerResponse.sendDate = true
ServerResponse._chunked = false
ServerResponse._headers = false
ServerResponse._names = false
ServerResponse._noBody = false

-- One table constructor per response: this runs for every request. The header tables
-- are made on first use (OutgoingMessage:_own).
function ServerResponse:new(socket, req)
  -- Every value in the constructor is a constant, so it is one copy of a template
  -- with all the keys; the fields set after it then only store (a key a constructor
  -- gives a computed value is added to the table afterwards, one insertion each).
  -- Eight keys, the most eight hash slots hold: every store a plain response makes
  -- finds its key.
  local res = setmetatable({
    socket = false,
    connection = false,
    statusCode = 200,
    headersSent = false,
    finished = false,
    _given = false,
    _keepAlive = false,
    _http10 = false,
  }, self.meta)
  res.socket, res.connection = socket, socket
  -- (luvit makes a response from its socket alone: then it closes the connection.)
  if req then
    res._keepAlive, res._http10 = req.keepAlive, req.httpVersion == "1.0"
    if req.method == "HEAD" then res._noBody = true end
  end
  return res
end

-- Sends the head now (chunked, if no Content-Length was set), as node and luvit do.
function ServerResponse:flushHeaders()
  if not self.headersSent then self:_send(self:_head(nil)) end
end

-- writeHead(statusCode, [reason], [headers])
function ServerResponse:writeHead(statusCode, reason, headers)
  if self.headersSent then error("writeHead: headers already sent", 2) end
  if type(statusCode) ~= "number" then
    error("writeHead: statusCode must be a number, got " .. type(statusCode), 2)
  end
  if type(reason) == "table" then reason, headers = nil, reason end
  self.statusCode = statusCode
  -- (Without a reason, one set before stays, as in node; storing nil would add a key.)
  if reason ~= nil then self.statusMessage = reason end
  if headers then
    if not self._headers and not self._given then
      -- The common case: nothing set before. Keep the table as given; _head reads it.
      self._given = headers
    else
      local hs, names = self:_own()
      mergeHeaders(hs, names, headers)
    end
  end
  return self
end

-- The status line and headers. `length` is the whole body's length when known (finish
-- with everything), nil when more may follow (then: chunked, or close on HTTP/1.0).
-- A `body` given here is appended, so head and body are one string.
function ServerResponse:_head(length, body)
  local code = self.statusCode
  local message = rawget(self, "statusMessage")
  if message then
    if checkField("x", tostring(message)) then
      error("ERR_INVALID_CHAR: Invalid character in statusMessage", 0)
    end
    parts[1] = "HTTP/1.1 " .. code .. " " .. message .. "\r\n"
  else
    parts[1] = statusLines[code]
  end
  local n = 1
  -- The headers this function must know about, by their lower-case names.
  local date, contentLength, transferEncoding, connection
  local hs = self._headers
  if hs then
    local names = self._names
    for l, value in pairs(hs) do
      n = appendHeader(parts, n, names[l], value)
    end
    date, contentLength, transferEncoding, connection =
      hs.date, hs["content-length"], hs["transfer-encoding"], hs.connection
  end
  local given = self._given
  if given then
    -- The first four one by one, any more in a loop. A loop that runs for every
    -- response can get hot, and compiled as a trace of its own, before the request's
    -- whole path is; then it splits that path, and a hello request took 12.6-12.9k
    -- instructions instead of 9.2-9.4k (callgrind, in about half the runs: which
    -- comes first varies with where the bytecode lands, docs/http.md).
    local k, v = next(given)
    if k ~= nil then
      n, date, contentLength, transferEncoding, connection =
        givenHeader(parts, n, k, v, date, contentLength, transferEncoding, connection)
      k, v = next(given, k)
    end
    if k ~= nil then
      n, date, contentLength, transferEncoding, connection =
        givenHeader(parts, n, k, v, date, contentLength, transferEncoding, connection)
      k, v = next(given, k)
    end
    if k ~= nil then
      n, date, contentLength, transferEncoding, connection =
        givenHeader(parts, n, k, v, date, contentLength, transferEncoding, connection)
      k, v = next(given, k)
    end
    if k ~= nil then
      n, date, contentLength, transferEncoding, connection =
        givenHeader(parts, n, k, v, date, contentLength, transferEncoding, connection)
      k, v = next(given, k)
    end
    while k ~= nil do
      n, date, contentLength, transferEncoding, connection =
        givenHeader(parts, n, k, v, date, contentLength, transferEncoding, connection)
      k, v = next(given, k)
    end
  end
  if self.sendDate and date == nil then
    n = appendHeader(parts, n, "Date", httpDate())
  end
  local bodiless = code == 204 or code == 304 or (code >= 100 and code < 200)
  if bodiless then
    self._noBody = true
  elseif contentLength == nil and transferEncoding == nil then
    if length then
      n = appendHeader(parts, n, "Content-Length", length)
    elseif self._http10 then
      self._keepAlive = false -- the body ends when the connection does
    else
      n = appendHeader(parts, n, "Transfer-Encoding", "chunked")
      self._chunked = true
    end
  elseif transferEncoding ~= nil then
    self._chunked = lower(tostring(transferEncoding)):find("chunked", 1, true) ~= nil
  end
  if connection ~= nil then
    if lower(tostring(connection)) == "close" then self._keepAlive = false end
  elseif not self._keepAlive then
    n = appendHeader(parts, n, "Connection", "close")
  elseif self._http10 then
    n = appendHeader(parts, n, "Connection", "keep-alive")
  end
  parts[n + 1] = "\r\n"
  -- (Sent only now: a header refused above leaves the response unsent, for the 500.)
  self.headersSent = true
  if body then
    parts[n + 2] = body
    return concat(parts, "", 1, n + 2)
  end
  return concat(parts, "", 1, n + 1)
end

-- The connection's coroutine may be waiting for this response to finish.
function ServerResponse:_finished()
  local waiter = rawget(self, "_waiter")
  if waiter then
    self._waiter = nil
    uv.wake(waiter)
  end
end

-- Server -------------------------------------------------------------------------

local Server = net.Server:extend()

function Server:initialize(onRequest)
  net.Server.initialize(self, {})
  self.headersTimeout = 60000
  self.requestTimeout = 300000
  self.bodyTimeout = 30000
  self.maxHeaderSize = 8192
  -- Connections waiting for a request head: socket -> the loop time the wait began.
  self._waiting = {}
  -- Connections receiving a request body: socket -> its response. (The socket holds
  -- when the request began, _reqStart, and when the body last moved, _bodyLast.)
  self._bodies = {}
  -- Connections idle between requests: socket -> true.
  self._idle = {}
  -- (Here rather than left to the class: every wait for a request reads it.)
  self._closing = false
  self._connections = 0
  if onRequest then self:on('request', onRequest) end
end

-- The timeouts, without a timer per request: one timer per server looks at the
-- connections waiting for a head, and at those receiving a body, a few times per
-- timeout, and cuts those that have waited too long. The waits count from their start
-- across all reads, so a client that trickles bytes is cut off like one that sends
-- nothing.
function Server:_startSweep()
  if self._sweep then return end
  local shortest = math.min(self.headersTimeout, self.requestTimeout, self.bodyTimeout)
  local interval = math.max(10, math.min(1000, math.floor(shortest / 4)))
  local t = uv.new_timer()
  t:unref()
  t:start(interval, interval, function() self:_timeOut(uv.now()) end)
  self._sweep = t
  self._now = uv.now()
end

-- Stops accepting, and closes the connections that sit idle between requests (as
-- node does since v19); connections in the middle of a request finish it first.
function Server:close(callback)
  if self._sweep then
    self._sweep:close()
    self._sweep = nil
  end
  self._closing = true
  for socket in pairs(self._idle) do socket:destroy() end
  return net.Server.close(self, callback)
end

local function logHandlerError(err)
  stderr:write("Error in HTTP request handler:\n", tostring(err), "\n")
end

-- Closes a connection once its queued writes are out.
local function closeConnection(socket)
  if socket.destroyed then return end
  socket.destroyed = true
  if socket._handle then uv.close_after_flush(socket._handle) end
end

-- A complete plain-text error response that closes the connection (http.server uses
-- it too).
local function errorResponse(status)
  local text = STATUS_CODES[status] or "Error"
  return "HTTP/1.1 " .. status .. " " .. text .. "\r\nContent-Type: text/plain\r\nContent-Length: "
    .. (#text + 1) .. "\r\nConnection: close\r\nDate: " .. httpDate() .. "\r\n\r\n" .. text .. "\n"
end

local function sendError(socket, status)
  socket._handle:queue_write(errorResponse(status))
end

-- One look at the waits (the sweep's timer calls it).
function Server:_timeOut(now)
  self._now = now
  for socket, since in pairs(self._waiting) do
    if now - since >= self.headersTimeout then
      self._waiting[socket] = nil
      socket:destroy()
    end
  end
  for socket, res in pairs(self._bodies) do
    if now - socket._reqStart >= self.requestTimeout or now - socket._bodyLast >= self.bodyTimeout then
      self._bodies[socket] = nil
      -- (The connection's coroutine, waiting for the body, then hears the close and
      -- ends the request as aborted.)
      if not res.headersSent then sendError(socket, 408) end
      closeConnection(socket)
    end
  end
end

local serve

-- Suspends the connection's coroutine until `res` is finished (a handler may answer
-- later, from a timer) or the socket is gone. (Its own function: a loop inside serve
-- would keep the JIT from compiling serve.)
local function awaitFinish(res, socket)
  repeat
    res._waiter = running()
    uv.wait()
  until res.finished or socket.destroyed
end

-- Calls the 'request' listeners under xpcall. The frames are for the JIT: a trace
-- cannot follow a return into an xpcall made in the frame the trace started in
-- (serve's), nor a vararg function's (emit's) return straight into xpcall ("NYI:
-- return to lower frame"); so serve calls emitRequest, which xpcalls a plain
-- function that calls emit. Neither call is a tail call.
local function callRequestListeners(server, req, res)
  server:emit('request', req, res)
end

local function emitRequest(server, req, res)
  local ok, err = xpcall(callRequestListeners, traceback, server, req, res)
  return ok, err
end

-- A new connection. Its requests are served by `serve`, in the coroutine the loop gave
-- this callback.
function Server:_onConnection(handle)
  local socket = net.Socket:new({ handle = handle })
  socket:pause() -- this server reads; the Socket must not
  self:emit('connection', socket)
  return self:_serve(socket)
end

-- Serves HTTP on a connected net.Socket (luvit's handleConnection; _onConnection).
function Server:_serve(socket)
  local handle = socket._handle
  if not handle then error("http: the socket has no handle to serve on", 3) end
  local dec = codec.decoder("request", self.maxHeaderSize)
  self._connections = self._connections + 1
  self:_startSweep()
  local hkey, hgen = handle:id()
  socket._hkey, socket._hgen, socket._server, socket._dec = hkey, hgen, self, dec
  -- Between requests the connection waits with this callback, kept by the handle.
  -- (It closes over the socket alone, which holds the rest: a closure's every
  -- upvalue is an object of its own, made for each connection.)
  handle:set_on_readable(function()
    return serve(socket._server, socket, socket._dec, socket._hkey, socket._hgen)
  end)
  return serve(self, socket, dec, hkey, hgen)
end

-- Ends a connection that serve is done with.
local function endConnection(self, socket, req, res)
  self._waiting[socket] = nil
  self._idle[socket] = nil
  self._bodies[socket] = nil
  self._connections = self._connections - 1
  -- A server that does not listen (handleConnection's) needs its timer only while it
  -- has connections.
  if self._connections == 0 and not self._handle and self._sweep then
    self._sweep:close()
    self._sweep = nil
  end
  if req and not req.complete then
    req.aborted = true
    req:emit('aborted')
    req:emit('close')
  end
  if res and not res.finished then res:emit('close') end
  closeConnection(socket)
end

-- Serves requests on a connection until it closes. Between requests (the keep-alive
-- wait) it holds no coroutine: it registers the handle's on_readable callback for the
-- socket's next bytes and returns, and the loop calls that callback (serve again) in a
-- fresh coroutine when they come. An idle connection costs its socket, its decoder
-- and that closure. (hkey, hgen: the handle's id, for the raw read; req, res: the
-- request in progress, if any.)
--
-- It takes one event, then calls itself for the next (a tail call: no stack grows).
-- (Not a loop: for the JIT, a loop here is an inner loop to every trace that starts
-- before it, at the callback or the worker that runs it, and each such trace is
-- abandoned until LuaJIT gives up on that start; tail calls to itself form a trace
-- the others link to. See docs/http.md, "Keeping the hot path compiled".)
function serve(self, socket, dec, hkey, hgen, req, res)
  -- The next event, reading the socket for it as needed (native.http_next, in
  -- src/bindings/fast.rs: one C call where next, read, next were three). a, b, ...:
  -- its values (src/bindings/http.rs); for a head a complete, b method, c url,
  -- d httpVersion, e keepAlive, f the header lines, g flags. No event yet: WAIT
  -- when nothing of the next request has come (the handle's on_readable callback is
  -- registered: this coroutine returns to the loop's pool), false in the middle of
  -- one (this coroutine waits, through uv.co_read_into); nil at EOF, a: a read error.
  local ev, a, b, c, d, e, f, g = httpNext(hkey, hgen, dec, req == nil)
  if ev == WAIT or ev == false then
    -- Waiting for (the rest of) a head: the sweep times the wait.
    local waiting = self._waiting
    if req == nil and waiting[socket] == nil then
      local between = ev == WAIT or dec:idle()
      if self._closing and between then return endConnection(self, socket, req, res) end
      waiting[socket] = self._now
      if between then self._idle[socket] = true end
    end
    if ev == WAIT then return end
    local ok, err = uv.co_read_into(socket._handle, dec)
    if ok == nil then
      if err or dec:idle() then return endConnection(self, socket, req, res) end
      dec:eof() -- the decoder reports whether the input ended mid-message
    end
  elseif ev == nil then
    if a or dec:idle() then return endConnection(self, socket, req, res) end
    dec:eof()
  elseif ev == EV_HEAD then
    local since = self._waiting[socket] or self._now
    self._waiting[socket] = nil
    self._idle[socket] = nil
    req = IncomingMessage:request(socket, b, c, d, e, f)
    res = ServerResponse:new(socket, req)
    if band(g, EXPECT_CONTINUE) ~= 0 then
      if self:listenerCount('checkContinue') > 0 then
        self:emit('checkContinue', req, res)
      else
        socket._handle:queue_write("HTTP/1.1 100 Continue\r\n\r\n")
      end
    end
    local ok, err = emitRequest(self, req, res)
    if not ok then
      logHandlerError(err)
      if not res.headersSent then
        res._keepAlive = false
        sendError(socket, 500)
        res.finished = true
      else
        return endConnection(self, socket, req, res)
      end
    end
    if a then -- no body: the message ended with its head
      ev = EV_END
    elseif not rawget(socket, "destroyed") then
      -- A body follows: requestTimeout and bodyTimeout apply until it has come.
      socket._reqStart, socket._bodyLast = since, self._now
      self._bodies[socket] = res
    end
  elseif ev == EV_BODY then
    socket._bodyLast = self._now
    req:push(a)
  end
  if ev == EV_END then
    self._bodies[socket] = nil
    req.complete = true
    req:push(nil)
    -- Answer in order: the next request waits until this response is done.
    if not res.finished and not rawget(socket, "destroyed") then awaitFinish(res, socket) end
    if not res._keepAlive or rawget(socket, "destroyed") then
      return endConnection(self, socket, req, res)
    end
    req, res = nil, nil
  elseif ev == EV_ERROR then -- a is the status to answer, b why
    if not res or not res.headersSent then sendError(socket, a) end
    return endConnection(self, socket, req, res)
  end
  return serve(self, socket, dec, hkey, hgen, req, res)
end

-- ClientRequest ----------------------------------------------------------------------

local ClientRequest = OutgoingMessage:extend()

local Agent = Emitter:extend()

function Agent:initialize(options)
  options = options or {}
  self.keepAlive = options.keepAlive ~= false
  self.maxFreeSockets = options.maxFreeSockets or 256
  self.freeSockets = {} -- "host:port" -> list of idle sockets
end

-- An idle connected socket for host:port, or nil.
function Agent:_takeFree(key)
  local list = self.freeSockets[key]
  while list and #list > 0 do
    local socket = table.remove(list)
    if not socket.destroyed then
      socket._handle:read_stop()
      socket:ref()
      return socket
    end
  end
end

function Agent:_release(key, socket)
  if not self.keepAlive or socket.destroyed then
    return closeConnection(socket)
  end
  local list = self.freeSockets[key]
  if not list then
    list = {}
    self.freeSockets[key] = list
  end
  if #list >= self.maxFreeSockets then return closeConnection(socket) end
  socket:unref() -- an idle pooled socket does not keep the process alive
  list[#list + 1] = socket
  -- While idle, anything from the server (its close, above all) retires the socket.
  socket._handle:read_start(function()
    socket._handle:read_stop()
    for i = #list, 1, -1 do
      if list[i] == socket then table.remove(list, i) end
    end
    socket:destroy()
  end)
end

local globalAgent = Agent:new()

function ClientRequest:initialize(options, onResponse)
  OutgoingMessage.initialize(self, nil)
  self.method = (options.method or "GET"):upper()
  self.path = options.path or "/"
  -- (As node: a space or a control byte would change the request line's meaning.)
  if find(self.path, "[%c ]") then
    error("ERR_UNESCAPED_CHARACTERS: Request path contains unescaped characters", 0)
  end
  if find(self.method, "[^%w!#$%%&'*+%-.^_`|~]") then
    error('ERR_INVALID_HTTP_TOKEN: Method must be a valid HTTP token ["' .. shown(self.method) .. '"]', 0)
  end
  self.host = options.hostname or options.host or "localhost"
  self.port = tonumber(options.port) or 80
  self.agent = options.agent == nil and globalAgent or options.agent
  self._tls = options._tls -- https: { config, servername }
  self._noBody = false
  self._pending = {}
  if options.headers then
    eachHeader(options.headers, function(name, value) self:setHeader(name, value) end)
  end
  if not self._headers.host then
    self:setHeader("Host", self.port == 80 and self.host or (self.host .. ":" .. self.port))
  end
  if onResponse then self:once('response', onResponse) end
  self:_connect()
end

function ClientRequest:_head(length, body)
  self.headersSent = true
  local hs = self._headers
  local parts = { self.method, " ", self.path, " HTTP/1.1\r\n" }
  local n = 4
  for l, value in pairs(hs) do
    n = appendHeader(parts, n, self._names[l], value)
  end
  if hs["content-length"] == nil and hs["transfer-encoding"] == nil then
    if length then
      if length > 0 or (self.method ~= "GET" and self.method ~= "HEAD") then
        n = appendHeader(parts, n, "Content-Length", length)
      end
    else
      n = appendHeader(parts, n, "Transfer-Encoding", "chunked")
      self._chunked = true
    end
  elseif hs["transfer-encoding"] ~= nil then
    self._chunked = true
  end
  if hs.connection == nil then
    n = appendHeader(parts, n, "Connection", (self.agent and self.agent.keepAlive) and "keep-alive" or "close")
  end
  parts[n + 1] = "\r\n"
  parts[n + 2] = body
  return concat(parts)
end

-- Until the socket is connected, writes wait here.
function ClientRequest:_send(data)
  if self.socket and self.socket._handle and not self.socket.connecting then
    return OutgoingMessage._send(self, data)
  end
  self._pending[#self._pending + 1] = data
  return true
end

function ClientRequest:_connect()
  local key = (self._tls and "tls:" or "") .. self.host .. ":" .. self.port
  self._key = key
  local socket = self.agent and self.agent:_takeFree(key)
  if socket then
    self._reused = true
    process.nextTick(function() self:_attach(socket) end)
    return
  end
  socket = net.Socket:new()
  socket:pause() -- the response reader below reads; the Socket must not
  socket:connect(self.port, self.host, function()
    if self._tls then
      local h = socket._handle
      local ok, err, code = h:tls_client(self._tls.config, self._tls.servername)
      if ok then ok, err, code = uv.co_tls_handshake(h) end
      if not ok then return socket:destroy(net.makeError(err, code)) end
    end
    self:_attach(socket)
  end)
  -- (net passes uv's errors on as they are; http's are core.Errors with a code.)
  socket:on('error', function(err)
    if not self._gotResponse then self:emit('error', net.makeError(err)) end
  end)
  self.socket = socket
end

-- Connected: send what was written, then read the response in this coroutine.
function ClientRequest:_attach(socket)
  self.socket = socket
  self.connection = socket
  if self._timeoutMs then socket:setTimeout(self._timeoutMs, function() self:emit('timeout') end) end
  self:emit('socket', socket)
  for i = 1, #self._pending do
    OutgoingMessage._send(self, self._pending[i])
  end
  self._pending = {}
  return self:_readResponse(socket)
end

function ClientRequest:_readResponse(socket)
  local handle = socket._handle
  local dec = codec.decoder("response")
  if self.method == "HEAD" then dec:set_no_body() end
  local res
  while true do
    -- For a head: a complete, b statusCode, c statusMessage, d httpVersion,
    -- e keepAlive, f the header lines (src/bindings/http.rs).
    local ev, a, b, c, d, e, f = dec:next()
    if ev == nil then
      if not handle or socket.destroyed then break end
      local ok, err, code = uv.co_read_into(handle, dec)
      if ok == nil then
        if err then
          self:_fail(net.makeError(err, code))
          return
        end
        if dec:idle() and not res then
          -- Closed before answering: a reused idle socket the server dropped. Retry
          -- once on a new connection.
          if self._reused and not self._retried then
            self._retried = true
            self._reused = false
            closeConnection(socket)
            self.agent = nil
            self.headersSent = false
            self._pending = self._sent or {}
            return self:_connect()
          end
          self:_fail(net.makeError("ECONNRESET: socket hang up", "ECONNRESET"))
          return
        end
        dec:eof()
        self._peerEnded = true
      end
    elseif ev == EV_HEAD then
      local head = IncomingMessage:response(socket, b, c, d, e, f)
      if b >= 100 and b < 200 then
        self:emit('information', head)
      else
        self._gotResponse = true
        res = head
        self.res = res
        self:emit('response', res)
        if a then ev = EV_END end
      end
    elseif ev == EV_BODY then
      res:push(a)
    end
    if ev == EV_END then
      if res then
        res.complete = true
        res:push(nil)
        if res.keepAlive and self.agent and self.agent.keepAlive then
          self.agent:_release(self._key, socket)
        else
          closeConnection(socket)
        end
        return
      end
    elseif ev == EV_ERROR then
      if res and self._peerEnded then
        -- The server closed in the middle of the body: node's (and luvit's) code for
        -- a response cut short.
        self:_fail(net.makeError("ECONNRESET: aborted", "ECONNRESET"))
      else
        self:_fail(net.makeError("HPE_INVALID: " .. tostring(b), "HPE_INVALID"))
      end
      return
    end
  end
end

function ClientRequest:_fail(err)
  if self.socket then closeConnection(self.socket) end
  if self.res and not self.res.complete then
    self.res:emit('aborted')
    self.res:emit('error', err)
  else
    self:emit('error', err)
  end
end

function ClientRequest:setTimeout(ms, callback)
  self._timeoutMs = ms
  if callback then self:once('timeout', callback) end
  if self.socket and self.socket._handle and not self.socket.connecting then
    self.socket:setTimeout(ms, function() self:emit('timeout') end)
  end
  return self
end

-- Ends the request at once, as node's abort: 'abort' on it, and on a response not
-- yet complete 'aborted' (the response reader then stops, quietly).
function ClientRequest:abort()
  if self.aborted then return end
  self.aborted = true
  if self.socket then self.socket:destroy() end
  self:emit('abort')
  local res = self.res
  if res and not res.complete then
    res.aborted = true
    res:emit('aborted')
    res:emit('close')
  end
  self:emit('close')
end
ClientRequest.destroy = ClientRequest.abort

-- Module functions -------------------------------------------------------------------

local function createServer(onRequest)
  return Server:new(onRequest)
end

-- luvit's: serves HTTP on a socket accepted elsewhere (a net server's), with
-- onRequest(req, res) for each request, as createServer's server would.
local function handleConnection(socket, onRequest)
  local server = Server:new(onRequest)
  socket:pause() -- the server reads; the Socket must not
  return server:_serve(socket)
end

-- luvit's: request options from a URL string (a table is returned as it is).
local function parseUrl(options)
  if type(options) == "string" then
    local u = require('url').parse(options)
    options = { hostname = u.hostname, host = u.hostname, port = u.port, path = u.path, protocol = u.protocol }
  end
  return options
end

local function request(options, onResponse)
  options = parseUrl(options)
  if type(options) ~= "table" then
    error("http.request: options must be a table or a URL string, got " .. type(options), 2)
  end
  return ClientRequest:new(options, onResponse)
end

-- `get` for a `request` function: the request, already finished (https reuses it).
local function getter(requestFn)
  return function(options, onResponse)
    local req = requestFn(options, onResponse)
    req:finish()
    return req
  end
end

local get = getter(request)

return setmetatable({
  createServer = createServer,
  handleConnection = handleConnection,
  parseUrl = parseUrl,
  request = request,
  get = get,
  Server = Server,
  IncomingMessage = IncomingMessage,
  OutgoingMessage = OutgoingMessage,
  ServerResponse = ServerResponse,
  ClientRequest = ClientRequest,
  Agent = Agent,
  globalAgent = globalAgent,
  STATUS_CODES = STATUS_CODES,
  date = httpDate,
  errorResponse = errorResponse,
  validateHeaderName = validateHeaderName,
  validateHeaderValue = validateHeaderValue,
  -- For http.server: status lines and lower-cased names, made once, a head's header
  -- lines, and the header checks.
  badHeader = badHeader,
  headerError = headerError,
  statusLines = statusLines,
  lowerName = lower,
  appendHeader = appendHeader,
  getter = getter,
}, {
  -- luvit keeps http-header's headerMeta here too; loaded when first read.
  __index = function(http, key)
    if key == "headerMeta" then
      local meta = require('http-header').headerMeta
      rawset(http, key, meta)
      return meta
    end
  end,
})

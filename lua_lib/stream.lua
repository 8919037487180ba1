--[[
stream: node's streams, in Lua: Readable, Writable, Duplex, Transform, PassThrough.

  local stream = require('stream')
  local Upper = stream.Transform:extend()
  function Upper:_transform(chunk, callback) callback(nil, chunk:upper()) end

  local src = stream.Readable:new()
  src:pipe(Upper:new()):on('data', function(s) print(s) end)
  src:push("hello") src:push(nil)                 --> HELLO

A subclass implements `_read(n)` (then calls `self:push(chunk)`, and `push(nil)` at the
end), `_write(chunk, callback)`, or `_transform(chunk, callback)` and `_flush(callback)`.
`write` returns false once `highWaterMark` bytes (16 KiB; 16 items in objectMode) are
buffered; 'drain' says when to write again, and `pipe` does that for you.

Events: 'data', 'end', 'finish', 'drain', 'error', 'close', 'pause', 'resume'.
`finish` ends the writable side (luvit's name; `done` and ["end"] are aliases).
]]

local Emitter = require('core').Emitter

local function sizeOf(state, chunk)
  if state.objectMode then return 1 end
  return #chunk
end

local function defer(fn, ...)
  process.nextTick(fn, ...)
end

-- Readable -----------------------------------------------------------------------

local Readable = Emitter:extend()

-- A readable side's state (one table constructor: subclasses that make many streams,
-- such as one request per HTTP message, call this directly).
local function newReadableState(options)
  local objectMode = options and options.objectMode or false
  return {
    objectMode = objectMode,
    highWaterMark = options and options.highWaterMark or (objectMode and 16 or 16 * 1024),
    buffer = {},
    head = 1,
    tail = 0,
    length = 0,
    flowing = nil, -- nil: nobody asked yet; true: 'data' events; false: paused
    ended = false,
    endEmitted = false,
    reading = false,
    flowingNow = false,
    destroyed = false,
  }
end

function Readable:initialize(options)
  self._readableState = newReadableState(options)
  if options and options.read then self._read = options.read end
  if options and options.destroy then self._destroy = options.destroy end
end

function Readable:_read()
  error("stream.Readable: _read is not implemented", 2)
end

local function emitEnd(self)
  local state = self._readableState
  if state.endEmitted or state.length > 0 then return end
  state.endEmitted = true
  self:emit('end')
end

-- 'end' is emitted (on the next tick) once the data has been consumed, or, for a
-- stream nobody reads, as soon as somebody listens for it. A stream with no consumer
-- and no 'end' listener costs nothing at its end.
local function maybeEnd(self)
  local state = self._readableState
  if state.ended and state.length == 0 and not state.endEmitted and not state.endScheduled then
    if state.flowing or self:listenerCount('end') > 0 then
      state.endScheduled = true
      defer(emitEnd, self)
    end
  end
end

local function shift(state)
  if state.head > state.tail then return nil end
  local chunk = state.buffer[state.head]
  state.buffer[state.head] = nil
  state.head = state.head + 1
  state.length = state.length - sizeOf(state, chunk)
  return chunk
end

local function maybeRead(self)
  local state = self._readableState
  if not state.reading and not state.ended and not state.destroyed and state.length < state.highWaterMark then
    state.reading = true
    self:_read(state.highWaterMark)
  end
end

-- Emits buffered chunks while flowing.
local function flow(self)
  local state = self._readableState
  if state.flowingNow then return end
  state.flowingNow = true
  while state.flowing do
    local chunk = shift(state)
    if chunk == nil then break end
    self:emit('data', chunk)
  end
  state.flowingNow = false
  if state.flowing then
    maybeEnd(self)
    maybeRead(self)
  end
end

-- Adds a chunk (nil: no more data). Returns false when the consumer is behind.
function Readable:push(chunk)
  local state = self._readableState
  if chunk == nil then
    state.ended = true
    state.reading = false
    if state.flowing then flow(self) end
    maybeEnd(self)
    return false
  end
  if state.ended then
    self:emit('error', "stream.push() after EOF")
    return false
  end
  state.reading = false
  if state.flowing and state.length == 0 and not state.flowingNow then
    self:emit('data', chunk)
    if state.flowing then maybeRead(self) end
  else
    state.tail = state.tail + 1
    state.buffer[state.tail] = chunk
    state.length = state.length + sizeOf(state, chunk)
    if state.flowing then
      flow(self)
    else
      self:emit('readable')
    end
  end
  return state.length < state.highWaterMark
end

-- Pulls buffered data: one item in objectMode, else everything buffered (or n bytes).
function Readable:read(n)
  local state = self._readableState
  local out
  if state.objectMode then
    out = shift(state)
  elseif state.length > 0 then
    local parts = {}
    while state.head <= state.tail do parts[#parts + 1] = shift(state) end
    out = table.concat(parts)
    if n and n < #out then
      -- Put the rest back at the front.
      local rest = out:sub(n + 1)
      out = out:sub(1, n)
      state.head = state.head - 1
      state.buffer[state.head] = rest
      state.length = state.length + #rest
    end
  end
  maybeEnd(self)
  maybeRead(self)
  return out
end

function Readable:pause()
  local state = self._readableState
  if state.flowing ~= false then
    state.flowing = false
    self:emit('pause')
  end
  return self
end

function Readable:resume()
  local state = self._readableState
  if not state.flowing then
    state.flowing = true
    self:emit('resume')
    flow(self)
    maybeRead(self)
  end
  return self
end

function Readable:isPaused()
  return self._readableState.flowing == false
end

-- Adding a 'data' listener starts the flow, as in node.
function Readable:on(name, callback)
  Emitter.on(self, name, callback)
  local state = self._readableState
  if name == 'data' and state and state.flowing ~= false then
    self:resume()
  elseif name == 'end' and state then
    maybeEnd(self)
  end
  return self
end

-- Sends everything to `dest`, pausing while dest is full. Ends dest at the end unless
-- opts["end"] == false.
function Readable:pipe(dest, opts)
  self:on('data', function(chunk)
    if dest:write(chunk) == false then
      self:pause()
    end
  end)
  dest:on('drain', function()
    self:resume()
  end)
  if not opts or opts["end"] ~= false then
    self:once('end', function()
      dest:finish()
    end)
  end
  dest:emit('pipe', self)
  return dest
end

local function destroy(self, err)
  local rs, ws = self._readableState, self._writableState
  if (rs and rs.destroyed) or (ws and ws.destroyed) then return self end
  if rs then rs.destroyed = true end
  if ws then ws.destroyed = true end
  if self._destroy then
    self:_destroy(err, function(e)
      if e then self:emit('error', e) end
      self:emit('close')
    end)
  else
    if err then self:emit('error', err) end
    self:emit('close')
  end
  return self
end
Readable.destroy = destroy

-- Writable -----------------------------------------------------------------------

local Writable = Emitter:extend()

local function newWritableState(options)
  options = options or {}
  return {
    objectMode = options.objectMode or false,
    highWaterMark = options.highWaterMark or (options.objectMode and 16 or 16 * 1024),
    length = 0,
    queue = {},
    qhead = 1,
    qtail = 0,
    writing = false,
    sync = false,
    needDrain = false,
    ending = false,
    finished = false,
    destroyed = false,
  }
end

local function initWritable(self, options)
  self._writableState = newWritableState(options)
  options = options or {}
  if options.write then self._write = options.write end
  if options.final then self._final = options.final end
  if options.destroy then self._destroy = options.destroy end
end

function Writable:initialize(options)
  initWritable(self, options)
end

function Writable:_write()
  error("stream.Writable: _write is not implemented", 2)
end

local doWrite

local function maybeFinish(self)
  local state = self._writableState
  if not state.ending or state.finished or state.writing or state.qhead <= state.qtail or state.finishing then
    return
  end
  state.finishing = true
  local function done(err)
    if err then return self:emit('error', err) end
    state.finished = true
    self:emit('finish')
  end
  if self._final then
    self:_final(done)
  else
    done()
  end
end

local function clearQueue(self)
  local state = self._writableState
  while not state.writing and state.qhead <= state.qtail do
    local item = state.queue[state.qhead]
    state.queue[state.qhead] = nil
    state.qhead = state.qhead + 1
    doWrite(self, item[1], item[2])
  end
end

function doWrite(self, chunk, callback)
  local state = self._writableState
  local len = sizeOf(state, chunk)
  state.writing = true
  state.sync = true
  self:_write(chunk, function(err)
    state.writing = false
    state.length = state.length - len
    if err then
      if callback then callback(err) end
      self:emit('error', err)
      return
    end
    if callback then callback() end
    if state.needDrain and state.length == 0 then
      state.needDrain = false
      self:emit('drain')
    end
    if not state.sync then clearQueue(self) end
    maybeFinish(self)
  end)
  state.sync = false
end

-- Writes a chunk; callback(err) runs once it is handed on. Returns false when the
-- caller should wait for 'drain'.
function Writable:write(chunk, callback)
  local state = self._writableState
  if state.ending then
    local err = "write after end"
    if callback then callback(err) end
    self:emit('error', err)
    return false
  end
  if chunk == nil then error("stream.write: chunk must not be nil", 2) end
  state.length = state.length + sizeOf(state, chunk)
  local ok = state.length < state.highWaterMark
  if not ok then state.needDrain = true end
  if state.writing or state.qhead <= state.qtail then
    state.qtail = state.qtail + 1
    state.queue[state.qtail] = { chunk, callback }
  else
    doWrite(self, chunk, callback)
    clearQueue(self)
  end
  return ok
end

-- Ends the writable side, after an optional last chunk. 'finish' follows.
function Writable:finish(chunk, callback)
  if type(chunk) == "function" then chunk, callback = nil, chunk end
  local state = self._writableState
  if chunk ~= nil then self:write(chunk) end
  if callback then self:once('finish', callback) end
  if not state.ending then
    state.ending = true
    maybeFinish(self)
  end
  return self
end
Writable.done = Writable.finish
Writable["end"] = Writable.finish
Writable.destroy = destroy

-- Duplex ---------------------------------------------------------------------------

local Duplex = Readable:extend()

function Duplex:initialize(options)
  Readable.initialize(self, options)
  initWritable(self, options)
  self.allowHalfOpen = not (options and options.allowHalfOpen == false)
end

for _, name in ipairs({ "write", "finish", "done", "_write" }) do
  Duplex[name] = Writable[name]
end
Duplex["end"] = Writable.finish

-- Transform ------------------------------------------------------------------------

local Transform = Duplex:extend()

function Transform:initialize(options)
  Duplex.initialize(self, options)
  if options and options.transform then self._transform = options.transform end
  if options and options.flush then self._flush = options.flush end
end

function Transform:_transform()
  error("stream.Transform: _transform is not implemented", 2)
end

function Transform:_write(chunk, callback)
  self:_transform(chunk, function(err, data)
    if data ~= nil then self:push(data) end
    callback(err)
  end)
end

function Transform:_read() end

function Transform:_final(callback)
  local function finish(err, data)
    if data ~= nil then self:push(data) end
    self:push(nil)
    callback(err)
  end
  if self._flush then
    self:_flush(finish)
  else
    finish()
  end
end

local PassThrough = Transform:extend()

function PassThrough:_transform(chunk, callback)
  callback(nil, chunk)
end

return {
  newReadableState = newReadableState,
  newWritableState = newWritableState,
  Readable = Readable,
  Writable = Writable,
  Duplex = Duplex,
  Transform = Transform,
  PassThrough = PassThrough,
}

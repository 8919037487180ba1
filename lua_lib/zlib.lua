--[[
zlib: deflate and gzip, node's names, one-shot and streaming (miniz_oxide underneath).

  local zlib = require('zlib')
  local packed = zlib.gzip("hello hello hello")
  assert(zlib.gunzip(packed) == "hello hello hello")
  local bad, err = zlib.inflate("not deflate data")    --> nil, "zlib: ..."

  local gz = zlib.createGzip()                  -- a stream.Transform
  gz:on('data', function(chunk) out[#out + 1] = chunk end)
  gz:write("part one, ") gz:finish("part two")

One-shot functions take a string (and an optional level 0-9 for compressors) and
return a string, or nil and an error for corrupt input. Formats: deflate/inflate
(zlib), gzip/gunzip, deflateRaw/inflateRaw (no header).
]]

local native = require('_zlib')
local Transform = require('stream').Transform

local function oneshot(op, format, name)
  return function(data, level)
    if type(data) ~= "string" then
      error("zlib." .. name .. ": argument #1 must be a string, got " .. type(data), 2)
    end
    return native.oneshot(op, format, data, level)
  end
end

-- A Transform over a native stream.
local ZlibStream = Transform:extend()

function ZlibStream:initialize(op, format, options)
  Transform.initialize(self, options)
  self._z = native.stream(op, format, options and options.level)
end

function ZlibStream:_transform(chunk, callback)
  local out, err = self._z:write(chunk)
  if out == nil then return callback(err) end
  callback(nil, #out > 0 and out or nil)
end

function ZlibStream:_flush(callback)
  local out, err = self._z:finish()
  if out == nil then return callback(err) end
  callback(nil, #out > 0 and out or nil)
end

-- Pushes out what is buffered so far (a sync flush), keeping the stream open.
function ZlibStream:flush()
  local out = self._z:flush()
  if out and #out > 0 then self:push(out) end
end

local function creator(op, format)
  return function(options) return ZlibStream:new(op, format, options) end
end

return {
  deflate = oneshot("compress", "zlib", "deflate"),
  inflate = oneshot("decompress", "zlib", "inflate"),
  gzip = oneshot("compress", "gzip", "gzip"),
  gunzip = oneshot("decompress", "gzip", "gunzip"),
  deflateRaw = oneshot("compress", "raw", "deflateRaw"),
  inflateRaw = oneshot("decompress", "raw", "inflateRaw"),
  createDeflate = creator("compress", "zlib"),
  createInflate = creator("decompress", "zlib"),
  createGzip = creator("compress", "gzip"),
  createGunzip = creator("decompress", "gzip"),
  createDeflateRaw = creator("compress", "raw"),
  createInflateRaw = creator("decompress", "raw"),
  -- The raw stream (write/flush/finish), for code that frames output itself.
  stream = native.stream,
  ZlibStream = ZlibStream,
}

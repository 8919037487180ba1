--[[
zlib: deflate and gzip, node's names, one-shot and streaming (miniz_oxide underneath).

  local zlib = require('zlib')
  local packed = zlib.gzip("hello hello hello")
  assert(zlib.gunzip(packed) == "hello hello hello")
  local bad, err = zlib.inflate("not deflate data")    --> nil, "zlib: ..."

  local gz = zlib.createGzip()                  -- a stream.Transform
  gz:on('data', function(chunk) out[#out + 1] = chunk end)
  gz:write("part one, ") gz:finish("part two")

One-shot functions take a string, and an optional level 0-9 or an options table
`{ level = 0-9, maxOutputLength = bytes }` (node's), and return a string, or nil
and an error for corrupt input. Past maxOutputLength they return nil,
"ERR_BUFFER_TOO_LARGE: ...", "ERR_BUFFER_TOO_LARGE" (a decompression bomb stops
there), and out of memory they raise "not enough memory". Streams take the same
options. Formats: deflate/inflate (zlib), gzip/gunzip, deflateRaw/inflateRaw (no
header).

  local body, err = zlib.gunzip(upload, { maxOutputLength = 10 * 1024 * 1024 })
]]

local native = require('_zlib')
local Transform = require('stream').Transform

-- level, maxOutputLength from a level or an options table.
local function settings(options, name)
  if options == nil or type(options) == "number" then return options, nil end
  if type(options) ~= "table" then
    error("zlib." .. name .. ": options must be a level or a table, got " .. type(options), 3)
  end
  return options.level, options.maxOutputLength
end

local function oneshot(op, format, name)
  return function(data, options)
    if type(data) ~= "string" then
      error("zlib." .. name .. ": argument #1 must be a string, got " .. type(data), 2)
    end
    local level, max = settings(options, name)
    local out, err, code = native.oneshot(op, format, data, level, max)
    if code == "ENOMEM" then error("not enough memory", 2) end
    return out, err, code
  end
end

-- A Transform over a native stream.
local ZlibStream = Transform:extend()

function ZlibStream:initialize(op, format, options)
  Transform.initialize(self, options)
  self._z = native.stream(op, format, options and options.level, options and options.maxOutputLength)
end

function ZlibStream:_transform(chunk, callback)
  if self._failed then return callback() end -- (its 'error' is out; the rest is dropped)
  local out, err, code = self._z:write(chunk)
  if code == "ENOMEM" then error("not enough memory", 0) end
  if out == nil then
    self._failed = true
    return callback(err)
  end
  callback(nil, #out > 0 and out or nil)
end

function ZlibStream:_flush(callback)
  if self._failed then return callback() end
  local out, err, code = self._z:finish()
  if code == "ENOMEM" then error("not enough memory", 0) end
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
  -- The raw stream (write/flush/finish), for code that frames output itself. Its
  -- failures are values: nil, "CODE: message", CODE (ENOMEM among them).
  stream = native.stream,
  ZlibStream = ZlibStream,
}

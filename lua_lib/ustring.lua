--[[
ustring: UTF-8 strings as lists of characters, as luvit's.

  local ustring = require('ustring')
  local u = ustring.new("héllo wörld")
  print(#u, u[2], tostring(u:sub(1, 5)))   --> 11  é  héllo
  print(tostring(u:upper()), u:find("wö"))   --> HéLLO WöRLD  7 8

A ustring is a table of characters (each a string of one to four bytes) with methods;
tostring() joins it back. new() raises on invalid UTF-8 unless told to allow it.
Pattern functions (find, match, gmatch, gsub) work on the bytes and give character
positions back; upper and lower change ASCII letters only, as string's do.
]]

local band, rshift = bit.band, bit.rshift
local sub, byte, concat = string.sub, string.byte, table.concat
local tostring, setmetatable = tostring, setmetatable

local ustring = {}
local meta = { __index = ustring }

-- How many bytes the character starting with byte `b` has (0: not a start byte).
local function chlen(b)
  if b < 0x80 then return 1 end
  if rshift(b, 5) == 0x06 then return 2 end
  if rshift(b, 4) == 0x0E then return 3 end
  if rshift(b, 3) == 0x1E then return 4 end
  return 0
end
ustring.chlen = chlen

local function wrap(chars)
  return setmetatable(chars, meta)
end

function ustring.new(str, allowInvalid)
  str = str ~= nil and tostring(str) or ""
  local chars, i, n = {}, 1, #str
  while i <= n do
    local len = chlen(byte(str, i))
    local bad = len == 0 or i + len - 1 > n
    if not bad then
      for k = i + 1, i + len - 1 do
        if band(byte(str, k), 0xC0) ~= 0x80 then bad = true break end
      end
    end
    if bad then
      if not allowInvalid then error("ustring: invalid UTF-8 sequence at byte " .. i, 2) end
      len = 1
    end
    chars[#chars + 1] = sub(str, i, i + len - 1)
    i = i + len
  end
  return wrap(chars)
end

function ustring.copy(u)
  local c = {}
  for i = 1, #u do c[i] = u[i] end
  return wrap(c)
end

-- The character index holding byte `rawindex` of the string (searching from
-- character `initindex`, which starts at byte `initrawindex`), or nil.
function ustring.uindex(u, rawindex, initrawindex, initindex)
  local index = initindex or 1
  local left = rawindex - (initrawindex or 1) + 1
  while true do
    local ch = u[index]
    if ch == nil then return nil end
    left = left - #ch
    if left <= 0 then return index end
    index = index + 1
  end
end

function ustring.len(u) return rawlen(u) end

function ustring.sub(u, i, j)
  local n = #u
  j = j or -1
  if i < 0 then i = n + i + 1 end
  if j < 0 then j = n + j + 1 end
  if i < 1 then i = 1 end
  local c = {}
  for k = i, math.min(j, n) do c[#c + 1] = u[k] end
  return wrap(c)
end

function ustring.find(u, pattern, init, plain)
  local first, last = string.find(tostring(u), tostring(pattern), init, plain)
  if first == nil then return nil end
  local ufirst = ustring.uindex(u, first)
  return ufirst, ustring.uindex(u, last, first, ufirst)
end

function ustring.match(u, pattern, init) return string.match(tostring(u), tostring(pattern), init) end
function ustring.gmatch(u, pattern) return string.gmatch(tostring(u), pattern) end

function ustring.gsub(u, pattern, repl, n)
  local s, count = string.gsub(tostring(u), tostring(pattern), repl, n)
  return ustring.new(s, true), count
end

function ustring.format(fmt, ...) return ustring.new(string.format(tostring(fmt), ...)) end

local function each(u, fn)
  local c = {}
  for i = 1, #u do c[i] = fn(u[i]) end
  return wrap(c)
end

function ustring.lower(u) return each(u, string.lower) end
function ustring.upper(u) return each(u, string.upper) end

function ustring.rep(u, n)
  local c, len = {}, #u
  for _ = 1, n do
    for i = 1, len do c[#c + 1] = u[i] end
  end
  return wrap(c)
end

function ustring.reverse(u)
  local c, n = {}, #u
  for i = 1, n do c[i] = u[n - i + 1] end
  return wrap(c)
end

function meta.__eq(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

function meta.__tostring(u) return concat(u) end

function meta.__concat(a, b)
  if type(a) == "string" then a = ustring.new(a) end
  if type(b) == "string" then b = ustring.new(b) end
  local c = ustring.copy(a)
  for i = 1, #b do c[#c + 1] = b[i] end
  return c
end

meta.__len = ustring.len

return ustring

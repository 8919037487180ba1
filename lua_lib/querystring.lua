--[[
querystring: parse and build URL query strings.

  local qs = require('querystring')
  qs.parse("a=1&b=x%20y&a=2")         --> { a = { "1", "2" }, b = "x y" }
  qs.stringify({ a = "1", b = "x y" }) --> "a=1&b=x%20y"   (keys sorted)
  qs.urlencode("a~b*c")                --> "a%7Eb*c"        (luvit's escaping)
]]

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- luvit's set of bytes left as they are: letters, digits and * - . _ (node leaves
-- ~ ! ' ( ) too; luvit escapes them, and luvit is the spec here).
local function escape(s)
  return (tostring(s):gsub("[^%w%*%-%._]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function parse(str, sep, eq)
  sep, eq = sep or "&", eq or "="
  local out = {}
  if type(str) ~= "string" or str == "" then return out end
  for pair in (str .. sep):gmatch("(.-)" .. sep:gsub("%p", "%%%0")) do
    if pair ~= "" then
      local k, v = pair:match("^(.-)" .. eq:gsub("%p", "%%%0") .. "(.*)$")
      if not k then k, v = pair, "" end
      k, v = unescape(k), unescape(v)
      local old = out[k]
      if old == nil then
        out[k] = v
      elseif type(old) == "table" then
        old[#old + 1] = v
      else
        out[k] = { old, v }
      end
    end
  end
  return out
end

local function stringify(t, sep, eq)
  sep, eq = sep or "&", eq or "="
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "table" then
      for _, item in ipairs(v) do parts[#parts + 1] = escape(k) .. eq .. escape(item) end
    else
      parts[#parts + 1] = escape(k) .. eq .. escape(v)
    end
  end
  return table.concat(parts, sep)
end

return {
  parse = parse,
  stringify = stringify,
  escape = escape,
  unescape = unescape,
  urlencode = escape,
  urldecode = unescape,
  decode = parse,
  encode = stringify,
}

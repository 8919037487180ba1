--[[
json: parse and stringify, backed by serde_json.

  local JSON = require('json')
  local value = JSON.parse('{"a": [1, 2, null] /* comments are fine */}')
  assert(value.a[3] == JSON.null)
  print(JSON.stringify(value))                                     --> {"a":[1,2,null]}
  print(JSON.stringify(value, { beautify = true, indent_string = "  " }))
  print(JSON.stringify(value, { indent = 4 }))

parse returns the value, or nil and a message with the line and column. null is
JSON.null (a NULL light userdata, like lua-cjson's). Beautified output sorts object
keys. Empty tables encode as [] unless they carry JSON.object's metatable; decoded
empty objects do.
]]

local native = require('_json')

local json = {
  null = native.null,
  object = native.object_mt,
  array = native.array_mt,
}

function json.parse(text)
  if type(text) ~= "string" then
    error("json.parse: argument #1 must be a string, got " .. type(text), 2)
  end
  return native.parse(text)
end
json.decode = json.parse

-- opts: beautify (bool), indent_string (string), indent (number of spaces, a string,
-- or true for two spaces). Any of them turns on pretty printing.
function json.stringify(value, opts)
  local indent
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("json.stringify: argument #2 (options) must be a table, got " .. type(opts), 2)
    end
    local i = opts.indent
    if type(i) == "number" then
      indent = string.rep(" ", i)
    elseif type(i) == "string" then
      indent = i
    elseif i == true then
      indent = "  "
    end
    if opts.indent_string then indent = opts.indent_string end
    if opts.beautify and not indent then indent = "  " end
  end
  local text, _, code = native.stringify(value, indent)
  if code == "ENOMEM" then error("not enough memory", 2) end
  return text
end
json.encode = json.stringify

-- Marks a table so it encodes as an object even when empty.
function json.as_object(t)
  return setmetatable(t or {}, json.object)
end

return json

--[[
pretty-print: dump Lua values the way luvit's `p()` does, colored on a terminal.

  local pp = require('pretty-print')
  pp.prettyPrint({ 1, 2, name = 'x' })   --> { 1, 2, name = 'x' }
  local s = pp.dump("a\n")                --> 'a\n'
  print(pp.colorize('err', 'oops'))

`p(...)` is this module's prettyPrint. Tables that don't fit in one line of `width`
(80 columns) are broken over several lines, two spaces per level.
]]

local uv = require('uv')

local useColors = false
local width = 80

local theme = {
  property = "0;37",
  sep = "1;30",
  braces = "1;30",
  ["nil"] = "1;30",
  boolean = "0;33",
  number = "1;33",
  string = "0;32",
  quotes = "1;32",
  escape = "1;32",
  ["function"] = "0;35",
  thread = "1;35",
  table = "1;34",
  userdata = "1;36",
  cdata = "0;36",
  err = "1;31",
  success = "1;33;42",
  failure = "1;33;41",
  highlight = "1;36;44",
}

local function color(name)
  return "\27[" .. (theme[name] or "0") .. "m"
end

local function colorize(name, text, reset)
  if not useColors then return tostring(text) end
  return color(name) .. tostring(text) .. color(reset)
end

local function strip(s)
  return (s:gsub("\27%[[^m]*m", ""))
end

local escapes = { [7] = "\\a", [8] = "\\b", [9] = "\\t", [10] = "\\n", [11] = "\\v", [12] = "\\f", [13] = "\\r",
  [92] = "\\\\" }

local function escape_char(c)
  local b = c:byte()
  local e = escapes[b] or (c == "'" and "\\'") or (c == '"' and '\\"') or string.format("\\%03d", b)
  return colorize("escape", e, "string")
end

local function quote(s)
  -- Single quotes unless the string has one and no double quote.
  local q, pattern = "'", "[%c\\'\128-\255]"
  if s:find("'", 1, true) and not s:find('"', 1, true) then
    q, pattern = '"', '[%c\\\128-\255]'
  end
  local body = s:gsub(pattern, escape_char)
  return colorize("quotes", q, "string") .. body .. colorize("quotes", q)
end

local function is_identifier(k)
  return type(k) == "string" and k:find("^[%a_][%w_]*$") ~= nil
end

-- Renders `value`; a table becomes a node { open, items..., close } that `layout`
-- then prints on one line or several.
local function render(value, seen, depth)
  local t = type(value)
  local mt = t == "table" and getmetatable(value)
  if t == "string" then
    return quote(value)
  elseif mt and type(mt) == "table" and rawget(mt, "__tostring") then
    -- An object that names itself (a Timeout, an Error) prints as its name, as luvit.
    return colorize("userdata", tostring(value))
  elseif t == "table" and not seen[value] then
    seen[value] = true
    local items = {}
    local nextIndex = 1
    -- Array part first, in order; then the other keys.
    while rawget(value, nextIndex) ~= nil do
      items[#items + 1] = render(value[nextIndex], seen, depth + 1)
      nextIndex = nextIndex + 1
    end
    for k, v in pairs(value) do
      if not (type(k) == "number" and k >= 1 and k < nextIndex and k % 1 == 0) then
        local key
        if is_identifier(k) then
          key = colorize("property", k)
        else
          key = colorize("property", "[") .. render(k, seen, depth + 1) .. colorize("property", "]")
        end
        local rendered = render(v, seen, depth + 1)
        if type(rendered) == "table" then
          rendered.prefix = key .. colorize("sep", " = ")
          items[#items + 1] = rendered
        else
          items[#items + 1] = key .. colorize("sep", " = ") .. rendered
        end
      end
    end
    seen[value] = nil
    return { items = items }
  elseif t == "number" or t == "boolean" or t == "nil" then
    return colorize(t, tostring(value))
  else
    return colorize(t, tostring(value))
  end
end

local function flat(node)
  if type(node) == "string" then return node end
  local parts = {}
  for i, item in ipairs(node.items) do parts[i] = flat(item) end
  local body = #parts == 0 and colorize("braces", "{}")
    or colorize("braces", "{ ") .. table.concat(parts, colorize("sep", ", ")) .. colorize("braces", " }")
  return (node.prefix or "") .. body
end

local function layout(node, indent, out)
  local one = flat(node)
  if type(node) == "string" or #strip(one) + #indent <= width then
    out[#out + 1] = one
    return
  end
  out[#out + 1] = (node.prefix or "") .. colorize("braces", "{")
  local inner = indent .. "  "
  for i, item in ipairs(node.items) do
    out[#out + 1] = "\n" .. inner
    layout(item, inner, out)
    if i < #node.items then out[#out + 1] = colorize("sep", ",") end
  end
  out[#out + 1] = "\n" .. indent .. colorize("braces", "}")
end

local function dump(value, _, nocolor)
  local out = {}
  layout(render(value, {}, 0), "", out)
  local s = table.concat(out)
  return nocolor and strip(s) or s
end

local function prettyPrint(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    parts[i] = dump((select(i, ...)))
  end
  io.write(table.concat(parts, "\t"), "\n")
end

local function loadColors(enabled)
  useColors = enabled and true or false
end

-- Colors only when stdout is a terminal.
loadColors(uv.guess_handle(1) == "tty")

return {
  prettyPrint = prettyPrint,
  dump = dump,
  color = color,
  colorize = colorize,
  strip = strip,
  loadColors = loadColors,
  theme = theme,
}

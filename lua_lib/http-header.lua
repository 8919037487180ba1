--[[
http-header: luvit's header lists, read and written by name in any case.

  local httpHeader = require('http-header')
  local headers = httpHeader.toHeaders({ ["Content-Type"] = "text/plain", { "X-A", "1" } })
  print(headers["content-type"])      --> text/plain
  headers["x-a"] = { "2", "3" }       -- replaces X-A with two X-A lines
  for i = 1, #headers do print(headers[i][1], headers[i][2]) end

A headers table is a list of { name, value } pairs, in order, with headerMeta as its
metatable: reading a string key finds the first pair of that name (case-insensitive),
writing one removes every pair of that name and appends the new value (a list of
values appends one pair each; nil only removes). Number keys are plain list slots.
]]

local lower, remove, type, tostring, rawget, rawset, setmetatable =
  string.lower, table.remove, type, tostring, rawget, rawset, setmetatable

local headerMeta = {}

function headerMeta.__index(list, name)
  if type(name) ~= "string" then return rawget(list, name) end
  name = lower(name)
  for i = 1, #list do
    local pair = list[i]
    if lower(pair[1]) == name then return pair[2] end
  end
end

function headerMeta.__newindex(list, name, value)
  if type(name) ~= "string" then return rawset(list, name, value) end
  local wanted = lower(name)
  for i = #list, 1, -1 do
    if lower(list[i][1]) == wanted then remove(list, i) end
  end
  if value == nil then return end
  if type(value) == "table" then
    for i = 1, #value do rawset(list, #list + 1, { name, tostring(value[i]) }) end
  else
    rawset(list, #list + 1, { name, tostring(value) })
  end
end

-- `tbl` (or a new table) as a headers table.
local function newHeaders(tbl)
  return setmetatable(tbl or {}, headerMeta)
end

-- Adds the headers of `tbl` (name = value, name = { values }, or { name, value }
-- pairs) to the headers table `headers`: a name replaces what it had, a pair appends.
local function appendToHeaders(tbl, headers)
  if tbl then
    for k, v in pairs(tbl) do
      if type(k) == "number" then
        rawset(headers, #headers + 1, v)
      else
        headers[k] = v
      end
    end
  end
  return headers
end

-- A new headers table from any of the forms above.
local function toHeaders(tbl)
  return appendToHeaders(tbl, newHeaders())
end

-- One headers table from several; a later name replaces an earlier one.
local function combineHeaders(...)
  local combined = newHeaders()
  for i = 1, select('#', ...) do
    appendToHeaders((select(i, ...)), combined)
  end
  return combined
end

-- The { name, value } pairs of `tbl` (a decoded head, say) as a headers table; its
-- other keys are left out.
local function getHeaders(tbl)
  local headers = newHeaders()
  if tbl then
    for i = 1, #tbl do
      if type(tbl[i]) == "table" then rawset(headers, #headers + 1, tbl[i]) end
    end
  end
  return headers
end

return {
  headerMeta = headerMeta,
  newHeaders = newHeaders,
  toHeaders = toHeaders,
  combineHeaders = combineHeaders,
  getHeaders = getHeaders,
}

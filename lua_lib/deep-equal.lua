--[[
deep-equal: structural equality for test assertions.

  local deepEqual = require('deep-equal')
  assert(deepEqual({ 1, { a = 2 } }, { 1, { a = 2 } }))
  local same, why = deepEqual({ a = 1 }, { a = 2 })   --> false, "at .a: expected 1, got 2"
]]

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function key_path(prefix, k)
  if type(k) == "string" and k:find("^[%a_][%w_]*$") then return prefix .. "." .. k end
  return prefix .. "[" .. describe(k) .. "]"
end

local function deepEqual(expected, actual, where, seen)
  where = where or ""
  if expected == actual then return true end
  -- NaN is equal to itself here, which is what a test means.
  if expected ~= expected and actual ~= actual then return true end
  local te, ta = type(expected), type(actual)
  if te ~= "table" or ta ~= "table" then
    return false, "at " .. (where == "" and "top" or where) .. ": expected " .. describe(expected) .. ", got " .. describe(actual)
  end
  seen = seen or {}
  if seen[expected] == actual then return true end
  seen[expected] = actual
  for k, v in pairs(expected) do
    local ok, why = deepEqual(v, actual[k], key_path(where, k), seen)
    if not ok then return false, why end
  end
  for k in pairs(actual) do
    if expected[k] == nil then
      return false, "at " .. key_path(where, k) .. ": unexpected " .. describe(actual[k])
    end
  end
  return true
end

return deepEqual

--[[
path: POSIX path manipulation, as node's path module.

  local path = require('path')
  path.join("a", "b/../c")           --> "a/c"
  path.resolve("x")                   --> "/current/dir/x"
  path.dirname("/a/b.lua")            --> "/a"
  path.basename("/a/b.lua", ".lua")   --> "b"
  path.extname("b.tar.gz")            --> ".gz"
  path.relative("/a/b", "/a/c/d")     --> "../c/d"
]]

local uv = require('uv')

local path = { sep = "/", delimiter = ":" }

local function check(fn, p, n)
  if type(p) ~= "string" then
    error("path." .. fn .. ": argument #" .. (n or 1) .. " must be a string, got " .. type(p), 3)
  end
end

function path.isAbsolute(p)
  check("isAbsolute", p)
  return p:sub(1, 1) == "/"
end

-- Resolves "." and "..", squeezes slashes, keeps a trailing slash.
function path.normalize(p)
  check("normalize", p)
  if p == "" then return "." end
  local absolute = p:sub(1, 1) == "/"
  local trailing = p:sub(-1) == "/"
  local parts = {}
  for part in p:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 and parts[#parts] ~= ".." then
        parts[#parts] = nil
      elseif not absolute then
        parts[#parts + 1] = ".."
      end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  local s = table.concat(parts, "/")
  if absolute then s = "/" .. s end
  if s == "" then return absolute and "/" or "." end
  if trailing and s ~= "/" then s = s .. "/" end
  return s
end

function path.join(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    check("join", p, i)
    if p ~= "" then parts[#parts + 1] = p end
  end
  if #parts == 0 then return "." end
  return path.normalize(table.concat(parts, "/"))
end

-- An absolute path: the arguments applied right to left from the working directory.
function path.resolve(...)
  local resolved = ""
  for i = select("#", ...), 1, -1 do
    local p = select(i, ...)
    check("resolve", p, i)
    if p ~= "" then
      resolved = resolved == "" and p or (p .. "/" .. resolved)
      if p:sub(1, 1) == "/" then break end
    end
  end
  if resolved:sub(1, 1) ~= "/" then
    resolved = uv.cwd() .. "/" .. resolved
  end
  local out = path.normalize(resolved)
  if #out > 1 and out:sub(-1) == "/" then out = out:sub(1, -2) end
  return out
end

function path.dirname(p)
  check("dirname", p)
  local trimmed = p:gsub("/+$", "")
  if trimmed == "" then return p:sub(1, 1) == "/" and "/" or "." end
  local dir = trimmed:match("^(.*)/[^/]*$")
  if dir == nil then return "." end
  dir = dir:gsub("/+$", "")
  return dir == "" and "/" or dir
end

function path.basename(p, ext)
  check("basename", p)
  local base = p:gsub("/+$", ""):match("[^/]*$")
  if ext and ext ~= base and base:sub(-#ext) == ext then
    base = base:sub(1, -#ext - 1)
  end
  return base
end

function path.extname(p)
  check("extname", p)
  local base = path.basename(p)
  local ext = base:match("^.+(%.[^.]*)$")
  return ext or ""
end

-- The path from `from` to `to`.
function path.relative(from, to)
  check("relative", from, 1)
  check("relative", to, 2)
  from, to = path.resolve(from), path.resolve(to)
  if from == to then return "" end
  local a, b = {}, {}
  for part in from:gmatch("[^/]+") do a[#a + 1] = part end
  for part in to:gmatch("[^/]+") do b[#b + 1] = part end
  local i = 1
  while a[i] and a[i] == b[i] do i = i + 1 end
  local out = {}
  for _ = i, #a do out[#out + 1] = ".." end
  for j = i, #b do out[#out + 1] = b[j] end
  return table.concat(out, "/")
end

return path

--[[
The module system, with luvit's rules.

  local hello = require('./hello')   -- relative to the requiring file
  local json  = require('json')      -- bare name: libs/ and deps/ walking up, then
                                     -- the embedded lua_lib, then the requiring
                                     -- file's own directory, then package.path

Each candidate path p is tried as p, p.lua and p/init.lua. A module's code sees
`module` (path, dir, exports), `exports` and its own `require`; returning a value
replaces the exports. Modules are cached by resolved path, so two names for one file
load it once. The not-found error lists every path tried.
]]

local native = ...
-- (Its own reference, taken at start: a script may replace the global.)
local io = io

-- Path helpers (lua_lib/path.lua has the full set; this is the part the loader needs
-- before any module exists).
local function normalize(p)
  local absolute = p:sub(1, 1) == "/"
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
  if absolute then return "/" .. s end
  return s == "" and "." or s
end

local function dirname(p)
  local d = p:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  return d == "" and "/" or d
end

local function read_file(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local src = f:read("*a") -- nil for a directory
  f:close()
  return src
end

local cache = {}           -- resolved path -> exports
local EMBEDDED = "lua_lib/" -- path prefix of embedded modules (and of their chunk names)

local make_require

-- Put before a module's first line, so line numbers in errors stay the file's own.
local PREFIX = "local module, exports, require = ... "

-- Runs one module, caching its exports before running (for cycles). `src` is a
-- file's source, or an embedded module already compiled by native.lua_lib.
local function load_module(path, src, embedded)
  local cached = cache[path]
  if cached ~= nil then return cached end
  local module = { path = path, dir = dirname(path), exports = {} }
  cache[path] = module.exports
  local fn, err = src, nil
  if type(src) == "string" then
    fn, err = loadstring(PREFIX .. src:gsub("^#![^\n]*", ""), "@" .. path)
    if not fn then error(err, 0) end
  end
  local ret = fn(module, module.exports, make_require(module.dir, embedded))
  if ret ~= nil then module.exports = ret end
  cache[path] = module.exports
  return module.exports
end

-- Tries p, p.lua and p/init.lua on disk.
local function try_disk(p, tried)
  for _, candidate in ipairs({ p, p .. ".lua", p .. "/init.lua" }) do
    local cached = cache[candidate]
    if cached ~= nil then return candidate, nil, cached end
    tried[#tried + 1] = candidate
    local src = read_file(candidate)
    if src then return candidate, src end
  end
end

-- Tries name, name/init in the embedded library (`http.server` is http/server.lua).
local function try_embedded(name, tried)
  local base = name:gsub("%.", "/")
  for _, candidate in ipairs({ base, base .. "/init" }) do
    local path = EMBEDDED .. candidate .. ".lua"
    if cache[path] ~= nil then return path, nil, cache[path] end
    tried[#tried + 1] = path .. " (embedded)"
    local fn = native.lua_lib(candidate, PREFIX)
    if fn then return path, fn end
  end
end

function make_require(dir, embedded)
  return function(name)
    if type(name) ~= "string" then
      error("require: module name must be a string, got " .. type(name), 2)
    end
    local tried = {}
    local path, src, cached
    local first = name:sub(1, 1)
    if first == "." or first == "/" then
      local target = first == "/" and normalize(name) or normalize(dir .. "/" .. name)
      if embedded then
        path, src, cached = try_embedded(target:sub(#EMBEDDED + 1), tried)
      else
        path, src, cached = try_disk(target, tried)
      end
    else
      -- Built-in libraries (ffi, bit, jit, string...) and package.preload (jit.profile...).
      local pre = package.loaded[name]
      if pre ~= nil then return pre end
      local loader = package.preload[name]
      if loader then
        local value = loader(name)
        if value == nil then value = true end
        package.loaded[name] = value
        return value
      end
      if not embedded then
        -- libs/<name> and deps/<name>, from the module's directory up to the root.
        local d = dir
        while not path do
          local base = d == "/" and "" or d
          path, src, cached = try_disk(base .. "/libs/" .. name, tried)
          if path then break end
          path, src, cached = try_disk(base .. "/deps/" .. name, tried)
          if path or d == "/" or d == "." then break end
          d = dirname(d)
        end
      end
      if not path then
        path, src, cached = try_embedded(name, tried)
      end
      if not path and not embedded then
        path, src, cached = try_disk(dir .. "/" .. name, tried)
      end
      if not path then
        -- LuaRocks and friends: plain Lua modules on package.path / package.cpath.
        local file = package.searchpath(name, package.path)
        if file then
          if cache[file] == nil then
            cache[file] = assert(loadfile(file))(name, file)
            if cache[file] == nil then cache[file] = true end
          end
          return cache[file]
        end
        tried[#tried + 1] = "package.path " .. package.path
        local lib = package.searchpath(name, package.cpath)
        if lib then
          if cache[lib] == nil then
            local open = assert(package.loadlib(lib, "luaopen_" .. name:gsub("%.", "_")))
            cache[lib] = open(name) or true
          end
          return cache[lib]
        end
        tried[#tried + 1] = "package.cpath " .. package.cpath
      end
    end
    if cached ~= nil then return cached end
    if not path then
      error("module '" .. name .. "' not found from " .. dir .. "; tried:\n  " .. table.concat(tried, "\n  "), 2)
    end
    return load_module(path, src, path:sub(1, #EMBEDDED) == EMBEDDED)
  end
end

-- The main script is a module like any other, run from its absolute path.
local function run_main(script)
  local path = script
  if path:sub(1, 1) ~= "/" then path = (native.cwd() or ".") .. "/" .. path end
  path = normalize(path)
  local src = read_file(path)
  if not src then error("cannot open " .. script, 0) end
  return load_module(path, src, false)
end

return {
  make_require = make_require,
  run_main = run_main,
  normalize = normalize,
  dirname = dirname,
}

--[[
core: the object system and the event emitter everything else is built on.

  local core = require('core')
  local Rectangle = core.Object:extend()
  function Rectangle:initialize(w, h) self.w, self.h = w, h end
  function Rectangle:getArea() return self.w * self.h end
  p(Rectangle:new(3, 4):getArea())          --> 12

  local e = core.Emitter:new()
  e:on('ping', function(n) print('pong', n) end)
  e:emit('ping', 1)
]]

-- Object ---------------------------------------------------------------------

-- A class is a table whose `meta` is the metatable of its instances; `extend` makes a
-- subclass whose meta inherits the parent's metamethods and whose lookups fall back
-- to the parent through __index.
local Object = {}
Object.meta = { __index = Object, class = Object }

-- Instance lookups for a class with lazy fields: the field's maker runs on first read
-- and its value is stored in the instance; everything else falls back to the class.
local function lazyIndex(class, makers)
  return function(obj, key)
    local make = makers[key]
    if make then
      local value = make(obj)
      rawset(obj, key, value)
      return value
    end
    return class[key]
  end
end

-- An empty instance, without calling initialize.
function Object:create()
  local meta = rawget(self, "meta")
  if not meta then error("Cannot inherit from instance object", 2) end
  return setmetatable({}, meta)
end

-- An instance, initialized with the arguments.
function Object:new(...)
  local obj = self:create()
  if type(obj.initialize) == "function" then
    obj:initialize(...)
  end
  return obj
end

-- A subclass (it inherits lazy fields too).
function Object:extend()
  local class = self:create()
  local meta = {}
  for k, v in pairs(self.meta) do meta[k] = v end
  meta.__index = meta.lazy and lazyIndex(class, meta.lazy) or class
  meta.class = class
  meta.super = self
  class.meta = meta
  return class
end

-- Fields an instance makes the first time they are read, for state that many
-- instances never use: `makers[name](obj)` returns the value, which is then stored
-- in the instance.
--   Socket:defineLazy({ _readableState = function(self) return newState() end })
function Object:defineLazy(makers)
  local meta = rawget(self, "meta")
  local all = {}
  for k, v in pairs(meta.lazy or {}) do all[k] = v end
  for k, v in pairs(makers) do all[k] = v end
  meta.lazy = all
  meta.__index = lazyIndex(self, all)
end

-- Is `obj` an instance of `class` or of one of its subclasses? (A class counts as
-- an instance of itself and of its ancestors, as in luvit: instanceof(Object, Object).)
local function instanceof(obj, class)
  if type(obj) ~= "table" or type(class) ~= "table" then return false end
  -- (A class holds its own meta; an instance has its class's as metatable.)
  local mt = rawget(obj, "meta") or getmetatable(obj)
  while mt do
    if (mt.class or mt.__index) == class then return true end
    local super = mt.super
    if not super then return false end
    mt = rawget(super, "meta")
  end
  return false
end

function Object:instanceof(class)
  return instanceof(self, class)
end

-- Emitter --------------------------------------------------------------------

-- Listeners live in self._handlers[name], a list. Removing one while `emit` walks the
-- list is safe: the slot becomes false and the list is compacted when the outermost
-- emit of that name finishes.
local Emitter = Object:extend()

local function handlers_of(self, name)
  local all = rawget(self, "_handlers")
  if not all then
    all = {}
    rawset(self, "_handlers", all)
  end
  local list = all[name]
  if not list then
    list = { n = 0, emitting = 0 }
    all[name] = list
  end
  return list
end

function Emitter:on(name, callback)
  if type(callback) ~= "function" then
    error("Emitter:on: listener for '" .. tostring(name) .. "' must be a function, got " .. type(callback), 2)
  end
  local list = handlers_of(self, name)
  list.n = list.n + 1
  list[list.n] = callback
  return self
end
Emitter.addListener = Emitter.on

-- The listener each `once` wrapper stands for, so that removeListener(name, fn)
-- finds it by fn (weak: a wrapper goes with its registration).
local onceOf = setmetatable({}, { __mode = "k" })

function Emitter:once(name, callback)
  if type(callback) ~= "function" then
    error("Emitter:once: listener for '" .. tostring(name) .. "' must be a function, got " .. type(callback), 2)
  end
  local function wrapped(...)
    self:removeListener(name, wrapped)
    return callback(...)
  end
  onceOf[wrapped] = callback
  return self:on(name, wrapped)
end

local function compact(list)
  local j = 0
  for i = 1, list.n do
    local fn = list[i]
    list[i] = nil
    if fn then
      j = j + 1
      list[j] = fn
    end
  end
  list.n = j
end

function Emitter:emit(name, ...)
  local all = rawget(self, "_handlers")
  local list = all and all[name]
  if not list or list.n == 0 then
    if name == "error" then return self:_unhandledError(...) end
    return self
  end
  list.emitting = list.emitting + 1
  -- Listeners added during this emit are not called until the next one.
  local n = list.n
  for i = 1, n do
    local fn = list[i]
    if fn then fn(...) end
  end
  list.emitting = list.emitting - 1
  if list.emitting == 0 and list.dirty then
    list.dirty = nil
    compact(list)
  end
  return self
end

-- Removes one registration of `callback` (or all listeners of `name` without one).
function Emitter:removeListener(name, callback)
  local all = rawget(self, "_handlers")
  local list = all and all[name]
  if not list then return end
  for i = 1, list.n do
    local fn = list[i]
    if callback == nil or fn and (fn == callback or onceOf[fn] == callback) then
      list[i] = false
      list.dirty = true
      if callback ~= nil then break end
    end
  end
  if list.emitting == 0 and list.dirty then
    list.dirty = nil
    compact(list)
  end
  return self
end
Emitter.off = Emitter.removeListener

function Emitter:removeAllListeners(name)
  local all = rawget(self, "_handlers")
  if not all then return self end
  if name == nil then
    for key in pairs(all) do self:removeListener(key) end
  else
    self:removeListener(name)
  end
  return self
end

function Emitter:listenerCount(name)
  local all = rawget(self, "_handlers")
  local list = all and all[name]
  if not list then return 0 end
  local count = 0
  for i = 1, list.n do
    if list[i] then count = count + 1 end
  end
  return count
end

function Emitter:listeners(name)
  local all = rawget(self, "_handlers")
  local list = all and all[name]
  local out = {}
  if list then
    for i = 1, list.n do
      if list[i] then out[#out + 1] = list[i] end
    end
  end
  return out
end

-- An 'error' nobody listens for goes, as in luvit, to the process's 'error'
-- listeners if it has any (with the emitter after it); otherwise it is dropped,
-- and logged at warn level. It is not raised.
function Emitter:_unhandledError(err, ...)
  local process = rawget(_G, "process")
  if process and self ~= process and process:listenerCount('error') > 0 then
    process:emit('error', err, self)
    return self
  end
  require('uv').log("warn", "core", "unhandled 'error' event: " .. tostring(err))
  return self
end

-- Forwards `name` events to `target` (luvit's propagate). Returns target.
function Emitter:propagate(name, target)
  if target and target.emit then
    self:on(name, function(...) target:emit(name, ...) end)
    return target
  end
  return self
end

-- A callback for node-style APIs: `self[name](self, ...)` on success, and the first
-- argument (err) re-routed to the 'error' event.
function Emitter:wrap(name)
  local fn = self[name]
  if type(fn) ~= "function" then
    error("Emitter:wrap: '" .. tostring(name) .. "' is not a method", 2)
  end
  return function(err, ...)
    if err then return self:emit("error", err) end
    return fn(self, ...)
  end
end

-- Error ----------------------------------------------------------------------

local Error = Object:extend()

function Error:initialize(message)
  self.message = message
  if type(message) == "string" then
    self.code = message:match("^(E%u+):")
  end
end

Error.meta.__tostring = function(self)
  return tostring(self.message)
end

return {
  Object = Object,
  Emitter = Emitter,
  Error = Error,
  instanceof = instanceof,
}

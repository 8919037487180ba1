--[[
utils: small helpers luvit code leans on.

  local utils = require('utils')
  local greet = utils.bind(print, "hello")      -- greet("world") prints "hello world"
  -- adapt: one function serving both callback and coroutine callers
  local function read(path, callback) return utils.adapt(callback, fs_read, path) end
  print(utils.dump({ 1, 2 }))
  utils.stdout:write("through a stream handle\n")   -- stdin/stdout/stderr: made on first use
]]

local pp = require('pretty-print')
local uv = require('uv')

local unpack = unpack or table.unpack

-- A function with `self` (and more leading arguments) bound.
local function bind(fn, self, ...)
  assert(type(fn) == "function", "utils.bind: argument #1 must be a function")
  local n = select("#", ...)
  if n == 0 then
    return function(...) return fn(self, ...) end
  end
  local bound = { ... }
  return function(...)
    local args = { unpack(bound, 1, n) }
    local m = select("#", ...)
    for i = 1, m do args[n + i] = select(i, ...) end
    return fn(self, unpack(args, 1, n + m))
  end
end

local function noop() end

-- Calls the callback-style `fn(..., callback)` either way round:
-- - `c` is a function (or nil): it is passed as the callback, and fn's return value
--   is returned;
-- - `c` is a coroutine (usually coroutine.running()): the coroutine waits for the
--   callback and gets its results, or `nil, err` (luvit's form).
local function adapt(c, fn, ...)
  local n = select("#", ...)
  local args = { ... }
  if c == nil then c = noop end
  local kind = type(c)
  if kind == "function" then
    args[n + 1] = c
    return fn(unpack(args, 1, n + 1))
  elseif kind ~= "thread" then
    error("utils.adapt: continuation must be a function or a coroutine, got " .. kind, 2)
  end
  local done, results, waiting = false, nil, false
  args[n + 1] = function(...)
    done, results = true, { n = select("#", ...), ... }
    if waiting then
      assert(coroutine.resume(c))
    end
  end
  fn(unpack(args, 1, n + 1))
  while not done do
    waiting = true
    coroutine.yield()
  end
  if results[1] then return nil, results[1] end
  return unpack(results, 2, results.n)
end

-- Resumes `thread`, raising its error (with its traceback) if it fails (luvit's).
local function assertResume(thread, ...)
  local ok, err = coroutine.resume(thread, ...)
  if not ok then error(debug.traceback(thread, tostring(err)), 0) end
end

-- luvit's stdin, stdout and stderr: stream handles over descriptors 0-2 (a tty, or a
-- pipe handle over a pipe, socket or file), made when first read. (Not at load: a
-- handle makes its descriptor non-blocking, which C's stdio under print and io.write
-- does not expect.)
local STDIO = { stdin = 0, stdout = 1, stderr = 2 }

local function stdioHandle(fd)
  if uv.guess_handle(fd) == "tty" then return assert(uv.new_tty(fd, fd == 0)) end
  local pipe = uv.new_pipe(false)
  assert(pipe:open(fd))
  return pipe
end

local luaPrint = print

return setmetatable({
  bind = bind,
  noop = noop,
  adapt = adapt,
  assertResume = assertResume,
  print = luaPrint,
  dump = pp.dump,
  colorize = pp.colorize,
  prettyPrint = pp.prettyPrint,
  strip = pp.strip,
  stripColors = pp.strip,
}, {
  __index = function(utils, key)
    local fd = STDIO[key]
    if fd == nil then return nil end
    local handle = stdioHandle(fd)
    rawset(utils, key, handle)
    return handle
  end,
})

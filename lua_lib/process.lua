--[[
process: the running process, as node and luvit show it. Also the global `process`.

  process:on('exit', function(code) print("bye", code) end)
  print(process.argv[0], process.argv[1])   -- the binary, the script
  print(process.env.HOME, process.pid, process.cwd())
  process.nextTick(function() print("before any I/O") end)
  process.exitCode = 3                      -- exit code when the loop runs dry
  process.exit(0)                           -- emits 'exit', then exits now

Events: 'exit' (code), 'uncaughtException' (err). With an 'uncaughtException'
listener, an uncaught error is handed to it and the process carries on.
]]

local native = require('_native')
local Emitter = require('core').Emitter

local Process = Emitter:extend()

-- process.env reads and writes the real environment (so child processes see changes)
-- and works with pairs().
local function makeEnv()
  local cache = native.env()
  return setmetatable({}, {
    __index = function(_, key) return cache[key] end,
    __newindex = function(_, key, value)
      if value ~= nil then value = tostring(value) end
      cache[key] = value
      native.setenv(key, value)
    end,
    __pairs = function() return next, cache, nil end,
  })
end

local stdout = {
  write = function(_, data)
    io.stdout:write(data)
    return true
  end,
}
local stderr = {
  write = function(_, data)
    io.stderr:write(data)
    return true
  end,
}

local process = Process:new()
process.argv = native.argv
process.env = makeEnv()
process.pid = native.pid
process.exitCode = 0
process.version = "v" .. native.version
process.versions = { stardust = native.version, luajit = (jit.version:gsub("^LuaJIT ", "")), mio = native.mio_version }
process.platform = jit.os:lower()
process.arch = jit.arch
process.title = "stardust"
process.stdout = stdout
process.stderr = stderr

function process.cwd()
  return native.cwd()
end

-- Emits 'exit' and exits now, with `code` (default process.exitCode).
function process.exit(code)
  if code == nil then code = process.exitCode end
  if type(code) ~= "number" then
    error("process.exit: argument #1 (code) must be a number, got " .. type(code), 2)
  end
  native.process_exit(code)
end

-- Nanoseconds from an arbitrary start, as a number (luvit's process.hrtime).
function process.hrtime()
  return native.hrtime()
end

-- rss (resident set), peakRss (high-water mark) and heapUsed (Lua heap), in bytes.
function process.memoryUsage()
  local heap = collectgarbage("count") * 1024
  return { rss = native.rss(), peakRss = native.peak_rss(), heapUsed = heap, heapTotal = heap }
end

-- Runs `fn(...)` as soon as the current callback returns, before any other I/O.
local function runPacked(packed)
  return packed[1](unpack(packed, 2, packed.n))
end

function process.nextTick(fn, ...)
  if type(fn) ~= "function" then
    error("process.nextTick: argument #1 must be a function, got " .. type(fn), 2)
  end
  -- Tells batch runners (the timer lists) to let the loop run ticks between callbacks.
  native.ticks_queued = true
  if select("#", ...) == 0 then
    native.next_tick(fn)
  else
    native.next_tick(runPacked, { n = select("#", ...) + 1, fn, ... })
  end
end

return process

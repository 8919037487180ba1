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

local uv = require('uv')
local Emitter = require('core').Emitter

local Process = Emitter:extend()

-- process.env reads and writes the real environment (so child processes see changes)
-- and works with pairs().
local function makeEnv()
  local cache = uv.os_environ()
  return setmetatable({}, {
    __index = function(_, key) return cache[key] end,
    __newindex = function(_, key, value)
      if value ~= nil then value = tostring(value) end
      cache[key] = value
      if value == nil then uv.os_unsetenv(key) else uv.os_setenv(key, value) end
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
process.argv = uv.argv
process.env = makeEnv()
process.pid = uv.pid
process.exitCode = 0
process.version = "v" .. uv.versions.stardust
process.versions = { stardust = uv.versions.stardust, luajit = (jit.version:gsub("^LuaJIT ", "")), mio = uv.versions.mio }
process.platform = jit.os:lower()
process.arch = jit.arch
process.title = "stardust"
process.stdout = stdout
process.stderr = stderr

function process.cwd()
  return uv.cwd()
end

-- Emits 'exit' and exits now, with `code` (default process.exitCode).
function process.exit(code)
  if code == nil then code = process.exitCode end
  if type(code) ~= "number" then
    error("process.exit: argument #1 (code) must be a number, got " .. type(code), 2)
  end
  uv.process_exit(code)
end

-- Nanoseconds from an arbitrary start, as a number (luvit's process.hrtime).
function process.hrtime()
  return uv.hrtime()
end

-- rss (resident set), peakRss (high-water mark) and heapUsed (Lua heap), in bytes.
function process.memoryUsage()
  local heap = collectgarbage("count") * 1024
  return { rss = uv.resident_set_memory(), peakRss = uv.peak_rss(), heapUsed = heap, heapTotal = heap }
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
  if select("#", ...) == 0 then
    uv.next_tick(fn)
  else
    uv.next_tick(runPacked, { n = select("#", ...) + 1, fn, ... })
  end
end

return process

--[[
timer: setTimeout and friends, luvit-style: the delay comes first.

  local timer = require('timer')
  local t = timer.setTimeout(100, function(msg) print(msg) end, "later")
  timer.setInterval(1000, function() print("tick") end):unref()
  timer.setImmediate(function() print("after this round of I/O") end)
  timer.clearTimeout(t)
  timer.sleep(50)   -- inside a coroutine: suspends it for 50 ms

The returned timers are uv timer handles (t:unref(), t:is_active() ...).
setTimeout, setInterval, clearTimeout, clearInterval and setImmediate are also
globals, loaded on first use.
]]

local uv = require('uv')
local native = require('_native')

local unpack = unpack or table.unpack

local function check(name, delay, callback)
  if type(delay) ~= "number" then
    error("timer." .. name .. ": argument #1 (delay) must be a number of milliseconds, got " .. type(delay), 3)
  end
  if type(callback) ~= "function" then
    error("timer." .. name .. ": argument #2 (callback) must be a function, got " .. type(callback), 3)
  end
end

local function setTimeout(delay, callback, ...)
  check("setTimeout", delay, callback)
  local timer = uv.new_timer()
  local n = select("#", ...)
  if n == 0 then
    timer:start(delay, 0, function()
      timer:close()
      return callback()
    end)
  else
    local args = { ... }
    timer:start(delay, 0, function()
      timer:close()
      return callback(unpack(args, 1, n))
    end)
  end
  return timer
end

local function setInterval(interval, callback, ...)
  check("setInterval", interval, callback)
  local timer = uv.new_timer()
  local n = select("#", ...)
  local args = { ... }
  timer:start(interval, interval, function()
    return callback(unpack(args, 1, n))
  end)
  return timer
end

-- Stops and closes a timer from setTimeout or setInterval (twice is harmless).
local function clearTimer(timer)
  if timer == nil then return end
  if type(timer) ~= "userdata" then
    error("timer.clearTimer: argument #1 must be a timer, got " .. type(timer), 2)
  end
  if timer:is_closing() then return end
  timer:stop()
  timer:close()
end

-- An Immediate is a plain table; clearImmediate marks it cancelled.
local function runImmediate(immediate)
  if not immediate.cancelled then
    return immediate.callback(unpack(immediate.args, 1, immediate.n))
  end
end

local function setImmediate(callback, ...)
  if type(callback) ~= "function" then
    error("timer.setImmediate: argument #1 (callback) must be a function, got " .. type(callback), 2)
  end
  local immediate = { callback = callback, args = { ... }, n = select("#", ...) }
  native.set_immediate(runImmediate, immediate)
  return immediate
end

local function clearImmediate(immediate)
  if immediate then immediate.cancelled = true end
end

local function sleep(delay)
  if type(delay) ~= "number" then
    error("timer.sleep: argument #1 (delay) must be a number of milliseconds, got " .. type(delay), 2)
  end
  return uv.sleep(delay)
end

return {
  setTimeout = setTimeout,
  setInterval = setInterval,
  clearTimeout = clearTimer,
  clearInterval = clearTimer,
  clearTimer = clearTimer,
  setImmediate = setImmediate,
  clearImmediate = clearImmediate,
  sleep = sleep,
}

--[[
timer: setTimeout and friends, luvit-style: the delay comes first.

  local timer = require('timer')
  local t = timer.setTimeout(100, function(msg) print(msg) end, "later")
  timer.setInterval(1000, function() print("tick") end):unref()
  timer.setImmediate(function() print("after this round of I/O") end)
  timer.clearTimeout(t)
  timer.sleep(50)   -- inside a coroutine: suspends it for 50 ms

setTimeout returns a Timeout (t:unref(), t:ref(), t:has_ref(), t:is_active(),
t:close()); setInterval returns a uv timer handle. enroll/active/unenroll are
luvit's idle timeouts for emitters (below).
setTimeout, setInterval, clearTimeout, clearInterval and setImmediate are also
globals, loaded on first use.
]]

local uv = require('uv')

local unpack = unpack or table.unpack

local function check(name, delay, callback)
  if type(delay) ~= "number" then
    error("timer." .. name .. ": argument #1 (delay) must be a number of milliseconds, got " .. type(delay), 3)
  end
  if type(callback) ~= "function" then
    error("timer." .. name .. ": argument #2 (callback) must be a function, got " .. type(callback), 3)
  end
end

-- setTimeout keeps node's timer lists: one list per distinct delay, and one uv timer
-- per list, armed for the list's first deadline. Timeouts in a list are set in
-- deadline order, so a list is a queue: two arrays (callbacks and start times) indexed
-- by a sequence number. Setting a timeout appends to them; clearing one blanks its
-- callback; when the list's timer fires, `runList` walks the arrays from the front and
-- calls every callback that is due, in the one coroutine the loop gave it. A million
-- timeouts with a thousand distinct delays use a thousand uv timers, and firing them
-- reads memory in order.

local trampoline = uv.trampoline
local running = coroutine.running
local ticksQueued, runTicks, queueImmediate = uv.ticks_queued, uv.run_ticks, uv.set_immediate
local floor, now = math.floor, uv.now

-- delay in ms -> the list. A list's slot i holds sequence number i + base; `first` and
-- `last` are the slots in use; `live` counts callbacks not yet fired or cleared.
local lists = {}

local function newList(ms)
  return {
    ms = ms, timer = uv.new_timer(), fire = false,
    callbacks = {}, starts = {}, args = {}, base = 0, first = 1, last = 0, live = 0,
  }
end

-- A list that has emptied is retired (a new one takes its delay), so sequence numbers
-- held by old Timeouts can never name a later timeout.
local function retire(list)
  if lists[list.ms] == list then lists[list.ms] = nil end
  if not list.timer:is_closing() then list.timer:close() end
end

-- Once the fired front of the arrays is longer than what is left, move what is left
-- down to slot 1, so the arrays stay arrays (Lua tables whose keys start near 1).
local function compact(list)
  local first, last = list.first, list.last
  local callbacks, starts, args = list.callbacks, list.starts, list.args
  local shift = first - 1
  for i = first, last do
    callbacks[i - shift], starts[i - shift], args[i - shift] = callbacks[i], starts[i], args[i]
    callbacks[i], starts[i], args[i] = nil, nil, nil
  end
  list.first, list.last, list.base = 1, last - shift, list.base + shift
end

local function call(callback, packed)
  if packed then
    trampoline(callback, unpack(packed, 1, packed.n))
  else
    trampoline(callback)
  end
end

-- Arms the list's timer for its first live timeout, or retires the list if none is left.
local function arm(list, clock)
  local callbacks, starts, args = list.callbacks, list.starts, list.args
  local i = list.first
  while i <= list.last and not callbacks[i] do -- skip cleared slots
    callbacks[i], starts[i], args[i] = nil, nil, nil
    i = i + 1
  end
  list.first = i
  if i > list.last then return retire(list) end
  local wait = math.max(starts[i] + list.ms - clock, 0)
  if i > 64 and i > list.last - i then compact(list) end
  list.timer:start(wait, 0, list.fire)
end

local function runList(list)
  local co = running()
  local detached = false
  -- If a callback suspends (timer.sleep, a blocking-style read), the callbacks after
  -- it run from a fresh coroutine, at the end of this loop turn.
  uv.on_suspend(co, function()
    detached = true
    queueImmediate(runList, list)
  end)
  local clock, ms = now(), list.ms
  local callbacks, starts, args = list.callbacks, list.starts, list.args
  -- Timeouts set while this runs wait for the list's next firing, even at 0 ms, so a
  -- callback that sets itself again cannot starve I/O.
  local i, last = list.first, list.last
  while i <= last do
    local callback = callbacks[i]
    if callback and starts[i] + ms > clock then break end -- the rest is not due yet
    local packed = args[i]
    callbacks[i], starts[i], args[i] = nil, nil, nil
    i = i + 1
    list.first = i
    if callback then
      list.live = list.live - 1
      call(callback, packed)
      if detached then return end
      -- process.nextTick work queued by that callback runs before the next one, as
      -- in node.
      if ticksQueued() then runTicks() end
    end
  end
  uv.on_suspend(co, nil)
  -- (A callback may have retired the list by clearing its last timeout.)
  if lists[ms] == list then arm(list, clock) end
end

local Timeout = {}
Timeout.__index = Timeout
function Timeout:__tostring() return "Timeout (" .. self[1].ms .. " ms)" end

local function setTimeout(delay, callback, ...)
  check("setTimeout", delay, callback)
  -- Whole milliseconds; negative (or NaN) is 0.
  local ms = delay > 0 and floor(delay) or 0
  local list = lists[ms]
  if not list then
    list = newList(ms)
    list.fire = function() return runList(list) end
    list.timer:start(ms, 0, list.fire)
    lists[ms] = list
  end
  local i = list.last + 1
  list.last, list.live = i, list.live + 1
  list.callbacks[i], list.starts[i] = callback, now()
  if select("#", ...) > 0 then list.args[i] = { n = select("#", ...), ... } end
  -- A Timeout names its slot by list and sequence number; a third slot holds the uv
  -- timer of an unref'd timeout.
  return setmetatable({ list, i + list.base, false }, Timeout)
end

-- The slot of a timeout still waiting in its list, or nil.
local function slot(t)
  local list = t[1]
  local i = t[2] - list.base
  if i >= list.first and list.callbacks[i] then return list, i end
end

-- Timeout methods: the handle methods that make sense for a timeout (so uv.has_ref(t),
-- t:unref() and t:close() work as on luvit's timer handles).

-- Stops the timeout; harmless once it has fired or been cleared.
function Timeout:close()
  local list, i = slot(self)
  if list then
    list.callbacks[i], list.args[i] = false, nil
    list.live = list.live - 1
    if list.live == 0 then retire(list) end
  elseif self[3] and not self[3]:is_closing() then
    self[3]:close()
  end
end
Timeout.stop = Timeout.close

function Timeout:is_active()
  if self[3] then return self[3]:is_active() end
  return slot(self) ~= nil
end
function Timeout:is_closing() return not self:is_active() end
function Timeout:has_ref() return not self[3] or self[3]:has_ref() end

-- An unref'd timeout must not keep the loop alive, but its list's timer does: it moves
-- to a uv timer of its own.
function Timeout:unref()
  local list, i = slot(self)
  if list then
    local callback, packed = list.callbacks[i], list.args[i]
    local remaining = math.max(list.starts[i] + list.ms - now(), 0)
    self:close()
    local handle = uv.new_timer()
    handle:start(remaining, 0, function()
      handle:close()
      call(callback, packed)
    end)
    self[3] = handle
  end
  if self[3] then self[3]:unref() end
end

function Timeout:ref()
  if self[3] then self[3]:ref() end
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

-- Stops a timer from setTimeout or setInterval (twice is harmless).
local function clearTimer(timer)
  if timer == nil then return end
  if getmetatable(timer) == Timeout then return timer:close() end
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
  queueImmediate(runImmediate, immediate)
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

-- luvit's idle timeouts for objects (what net.Socket's setTimeout stands on there):
-- enroll(item, ms) sets the timeout, active(item) (re)starts it at each activity, and
-- after ms with no activity the item emits 'timeout' (if it is an emitter);
-- unenroll(item) takes it off. One uv timer per enrolled item, restarted in place.
local function unenroll(item)
  local t = rawget(item, "_idleTimer")
  if t then
    t:close()
    item._idleTimer = nil
  end
  item._idleTimeout = -1
end

local function enroll(item, ms)
  if type(ms) ~= "number" then
    error("timer.enroll: argument #2 must be a number of milliseconds, got " .. type(ms), 2)
  end
  unenroll(item)
  item._idleTimeout = ms
end

local function active(item)
  local ms = item._idleTimeout
  if not ms or ms < 0 then return end
  local t = rawget(item, "_idleTimer")
  if not t then
    t = uv.new_timer()
    item._idleTimer = t
  end
  item._idleStart = uv.now()
  t:start(ms, 0, function()
    if item.emit then item:emit('timeout') end
  end)
end

return {
  enroll = enroll,
  unenroll = unenroll,
  active = active,
  setTimeout = setTimeout,
  setInterval = setInterval,
  clearTimeout = clearTimer,
  clearInterval = clearTimer,
  clearTimer = clearTimer,
  setImmediate = setImmediate,
  clearImmediate = clearImmediate,
  sleep = sleep,
}

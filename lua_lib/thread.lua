--[[
thread: luvit's threads and thread pool, over uv's new_thread and new_work.

  local thread = require('thread')
  local t = thread.start(function(a, b) print("on a thread", a + b) end, 1, 2)
  thread.join(t)

  local worker = thread.work(function(n)    -- runs on the pool (4 threads)
    local sum = 0 for i = 1, n do sum = sum + i end
    return sum
  end, function(sum) print("sum", sum) end)  -- runs on the loop thread
  thread.queue(worker, 1000000)              -- or worker:queue(1000000)

Each function runs in a Lua state of its own (LuaJIT's standard libraries, no
Stardust modules, no event loop), so it travels without upvalues (string.dump),
and its arguments and results are strings, numbers, booleans and nil. A source
string works in its place.
]]

local uv = require('uv')
local Object = require('core').Object

local function start(fn, ...)
  return uv.new_thread(fn, ...)
end

local function join(t)
  return uv.thread_join(t)
end

-- The same thread? (Threads are handles here: the same handle.)
local function equals(a, b)
  return rawequal(a, b)
end

local Worker = Object:extend()

function Worker:initialize(fn, notify)
  self.handler = uv.new_work(fn, notify)
end

-- Runs the work function on the pool with these arguments; the notify function gets
-- its results on the loop thread.
function Worker:queue(...)
  return uv.queue_work(self.handler, ...)
end

local function work(fn, notify)
  return Worker:new(fn, notify)
end

local function queue(worker, ...)
  return worker:queue(...)
end

return {
  start = start,
  join = join,
  equals = equals,
  work = work,
  queue = queue,
  Worker = Worker,
}

-- Timers: luvit's argument order (delay first), intervals, immediates, and sleep.
local timer = require('timer')

local start = process.hrtime()
local function ms() return math.floor((process.hrtime() - start) / 1e6) end

timer.setTimeout(50, function(name)
  print(("%3d ms  timeout says hello to %s"):format(ms(), name))
end, "Ziggy")

local ticks = 0
local interval
interval = timer.setInterval(20, function()
  ticks = ticks + 1
  print(("%3d ms  interval tick %d"):format(ms(), ticks))
  if ticks == 3 then timer.clearInterval(interval) end
end)

timer.setImmediate(function()
  print(("%3d ms  immediate: after this round of I/O"):format(ms()))
end)

-- The main script runs in a coroutine, so it may sleep without blocking the loop.
timer.sleep(100)
print(("%3d ms  slept 100 ms while the others ran"):format(ms()))

-- Schedules 1,000,000 timers with random delays up to 1 s and reports how long the
-- scheduling and the firing took (the bench's `timers` case).
local uv = require('uv')
local timer = require('timer')
local N = tonumber(process.argv[2]) or 1000000
local fired = 0
local t0 = uv.hrtime()
local function onTimeout() fired = fired + 1 end
for _ = 1, N do
  timer.setTimeout(math.random(0, 1000), onTimeout)
end
local t1 = uv.hrtime()
process:on('exit', function()
  local t2 = uv.hrtime()
  assert(fired == N, "fired " .. fired)
  print(string.format("timers=%d schedule_ms=%.1f total_ms=%.1f", N, (t1 - t0) / 1e6, (t2 - t0) / 1e6))
end)

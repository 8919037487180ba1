-- Cost of one coroutine yield/resume round trip through the loop: a coroutine waits on
-- setImmediate N times (each wait is one yield, one loop turn, one resume).
local native = require('_native')
local uv = require('uv')
local N = tonumber(process.argv[2]) or 1000000
local co = coroutine.running()
local function wake() coroutine.resume(co) end
-- Through the loop: the loop resumes us via a thread waker on an immediate timer.
local t = uv.new_timer()
local t0 = uv.hrtime()
for _ = 1, N do
  t:start(0, 0, co)
  coroutine.yield()
end
local t1 = uv.hrtime()
t:close()
print(string.format("yield_resume_rounds=%d ns_per_round=%.0f", N, (t1 - t0) / N))

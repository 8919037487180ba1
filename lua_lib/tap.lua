--[[
tap: the test harness, with luvit's interface and TAP output.

  require('tap')(function (test)
    test("timers fire", function (expect)
      timer.setTimeout(10, expect(function () end))
    end)
    test("sums", function ()
      assert(1 + 1 == 2)
    end)
  end)

Each test function runs in a coroutine, then the loop runs until that test's work is
done. A test fails when it raises (directly or in any callback it started), when a
callback from `expect(fn, n)` did not run exactly n times (default 1), or when it
leaves a handle open. Output: `1..N`, `ok`/`not ok` per test, and a last line
`N passed, N failed`. Any failure makes the process exit code 1.
]]

local uv = require('uv')

-- How long one test may keep the loop busy.
local TIMEOUT_MS = tonumber(os.getenv("TAP_TIMEOUT_MS")) or 10000

-- Suspends until the loop has nothing left to do but us, or the timeout passes.
-- Returns false on timeout.
local function wait_idle()
  return uv.wait_idle(TIMEOUT_MS)
end

local function runTest(number, t)
  local errors = {}
  local expectations = {}

  local function expect(fn, count)
    count = count or 1
    local info = debug.getinfo(2, "Sl")
    local e = { count = count, calls = 0, where = info and (info.short_src .. ":" .. info.currentline) or "?" }
    expectations[#expectations + 1] = e
    return function(...)
      e.calls = e.calls + 1
      if fn then return fn(...) end
    end
  end

  -- Errors in the test's callbacks reach us as uncaught exceptions.
  local function onUncaught(err)
    errors[#errors + 1] = tostring(err)
  end
  process:on('uncaughtException', onUncaught)
  local ok, err = xpcall(t.fn, debug.traceback, expect, uv)
  if not ok then errors[#errors + 1] = tostring(err) end
  if not wait_idle() then
    errors[#errors + 1] = "timed out after " .. TIMEOUT_MS .. " ms with work still pending"
  end
  process:removeListener('uncaughtException', onUncaught)

  for _, e in ipairs(expectations) do
    if e.calls ~= e.count then
      errors[#errors + 1] = string.format("callback from expect() at %s ran %d times, expected %d",
        e.where, e.calls, e.count)
    end
  end
  local open = {}
  uv.walk(function(h)
    if not h:is_closing() then
      open[#open + 1] = tostring(h)
      h:close()
    end
  end)
  if #open > 0 then
    local shown = table.concat(open, ", ", 1, math.min(#open, 5))
    errors[#errors + 1] = "left " .. #open .. " handle(s) open: " .. shown .. (#open > 5 and ", ..." or "")
    wait_idle()
  end

  if #errors == 0 then
    print("ok " .. number .. " - " .. t.name)
    return true
  end
  print("not ok " .. number .. " - " .. t.name)
  for _, e in ipairs(errors) do
    print("  # " .. e:gsub("\n", "\n  # "))
  end
  return false
end

local function tap(suite)
  if type(suite) ~= "function" then
    error("tap: argument #1 must be a function that declares tests, got " .. type(suite), 2)
  end
  local tests = {}
  suite(function(name, fn)
    if type(name) ~= "string" or type(fn) ~= "function" then
      error("test(name, fn): expected a string and a function", 2)
    end
    tests[#tests + 1] = { name = name, fn = fn }
  end)
  print("1.." .. #tests)
  local passed, failed = 0, 0
  for i, t in ipairs(tests) do
    if runTest(i, t) then
      passed = passed + 1
    else
      failed = failed + 1
    end
  end
  print(passed .. " passed, " .. failed .. " failed")
  if failed > 0 then process.exitCode = 1 end
  return failed == 0
end

return tap

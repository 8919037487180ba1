local timer = require('timer')
local uv = require('uv')

require('tap')(function(test)
  test("setTimeout fires once with its arguments", function(expect)
    timer.setTimeout(10, expect(function(a, b)
      assert(a == "x" and b == 2, "arguments are passed through")
    end), "x", 2)
  end)

  test("equal deadlines fire in the order they were set", function(expect)
    local order = {}
    for i = 1, 20 do
      timer.setTimeout(15, function() order[#order + 1] = i end)
    end
    timer.setTimeout(30, expect(function()
      assert(#order == 20, "all fired")
      for i = 1, 20 do assert(order[i] == i, "fifo at " .. i .. ": " .. tostring(order[i])) end
    end))
  end)

  test("shorter delays fire first", function(expect)
    local order = {}
    timer.setTimeout(30, function() order[#order + 1] = 30 end)
    timer.setTimeout(0, function() order[#order + 1] = 0 end)
    timer.setTimeout(10, function() order[#order + 1] = 10 end)
    timer.setTimeout(50, expect(function()
      assert(table.concat(order, ",") == "0,10,30", table.concat(order, ","))
    end))
  end)

  test("a timer fires no earlier than its delay", function(expect)
    local start = uv.hrtime()
    timer.setTimeout(25, expect(function()
      local elapsed = (uv.hrtime() - start) / 1e6
      assert(elapsed >= 24, "fired after " .. elapsed .. " ms")
    end))
  end)

  test("clearTimeout cancels, even from an earlier callback in the same batch", function(expect)
    local later
    timer.setTimeout(5, expect(function() timer.clearTimeout(later) end))
    later = timer.setTimeout(5, expect(function() end, 0))
    -- clearing twice is harmless
    timer.setTimeout(20, expect(function() timer.clearTimeout(later) end))
  end)

  test("setInterval repeats until cleared", function(expect)
    local count = 0
    local interval
    interval = timer.setInterval(5, expect(function()
      count = count + 1
      if count == 4 then timer.clearInterval(interval) end
    end, 4))
  end)

  test("a restarted timer fires once, at its new time", function(expect)
    local t = uv.new_timer()
    local fired = 0
    t:start(5, 0, function() fired = fired + 1 end)
    t:stop()
    t:start(15, 0, expect(function()
      fired = fired + 1
      t:close()
    end))
    timer.setTimeout(40, expect(function() assert(fired == 1, "fired " .. fired) end))
  end)

  test("timer_again re-arms with the repeat value", function(expect)
    local t = uv.new_timer()
    local n = 0
    uv.timer_start(t, 5, 10, expect(function()
      n = n + 1
      if n == 2 then uv.timer_stop(t) uv.close(t) end
    end, 2))
    assert(uv.timer_get_repeat(t) == 10)
    uv.timer_again(t)
    assert(uv.is_active(t))
  end)

  test("sleep suspends the coroutine, including inside a setTimeout callback", function(expect)
    timer.setTimeout(1, expect(function()
      local start = uv.hrtime()
      timer.sleep(20)
      local elapsed = (uv.hrtime() - start) / 1e6
      assert(elapsed >= 19, "slept " .. elapsed .. " ms")
    end))
  end)

  test("setImmediate runs after the current callback, with arguments", function(expect)
    local order = {}
    timer.setImmediate(expect(function(v) order[#order + 1] = v end), "immediate")
    order[#order + 1] = "sync"
    timer.setTimeout(10, expect(function()
      assert(order[1] == "sync" and order[2] == "immediate", table.concat(order, ","))
    end))
  end)

  test("process.nextTick runs before immediates and timers", function(expect)
    local order = {}
    timer.setTimeout(0, function() order[#order + 1] = "timeout" end)
    timer.setImmediate(function() order[#order + 1] = "immediate" end)
    process.nextTick(function() order[#order + 1] = "tick" end)
    timer.setTimeout(20, expect(function()
      assert(order[1] == "tick", table.concat(order, ","))
      assert(#order == 3)
    end))
  end)

  test("unref'd timers report has_ref false", function()
    local t = timer.setTimeout(100000, function() error("must not fire") end)
    t:unref()
    assert(uv.has_ref(t) == false)
    t:ref()
    assert(uv.has_ref(t) == true)
    timer.clearTimeout(t)
    assert(t:is_closing())
  end)

  test("a callback that sleeps does not hold back the rest of its list", function(expect)
    local start = uv.hrtime()
    local second
    timer.setTimeout(5, expect(function()
      timer.sleep(60)
      assert(second, "the second timeout fired while the first slept")
    end))
    timer.setTimeout(5, expect(function()
      second = (uv.hrtime() - start) / 1e6
      assert(second < 50, "second fired after " .. second .. " ms")
    end))
  end)

  test("process.nextTick work runs between two timeouts of one list", function(expect)
    local order = {}
    timer.setTimeout(5, function()
      order[#order + 1] = "a"
      process.nextTick(function() order[#order + 1] = "tick" end)
    end)
    timer.setTimeout(5, function() order[#order + 1] = "b" end)
    timer.setTimeout(20, expect(function()
      assert(table.concat(order, ",") == "a,tick,b", table.concat(order, ","))
    end))
  end)

  test("a 0 ms timeout set from a 0 ms timeout waits for the next loop turn", function(expect)
    local n = 0
    local function again()
      n = n + 1
      if n < 1000 then timer.setTimeout(0, again) end
    end
    timer.setTimeout(0, again)
    -- The check phase of the first turn comes after its timers: one run of `again`
    -- at most, not a thousand.
    timer.setImmediate(expect(function() assert(n <= 1, "ran " .. n .. " times in one turn") end))
    timer.setTimeout(500, expect(function() assert(n == 1000, "ran " .. n .. " times") end))
  end)

  test("a cleared timeout is inactive and does not keep the loop alive", function()
    local t = timer.setTimeout(100000, function() error("must not fire") end)
    assert(t:is_active() and uv.is_active(t))
    timer.clearTimeout(t)
    assert(not t:is_active() and t:is_closing())
    timer.clearTimeout(t)
    -- (if its list's timer were still armed, this suite would wait 100 s to end)
  end)

  test("a busy list keeps order and clearTimeout keeps working as it compacts", function(expect)
    local fired, handles, n = {}, {}, 0
    local interval
    interval = timer.setInterval(1, function()
      n = n + 1
      local id = n
      handles[id] = timer.setTimeout(15, function() fired[#fired + 1] = id end)
      if id % 3 == 0 then timer.clearTimeout(handles[id - 1]) end
      if id == 300 then
        timer.clearInterval(interval)
        timer.setTimeout(60, expect(function()
          local last = 0
          for _, v in ipairs(fired) do
            assert(v > last, "in order")
            assert(v % 3 ~= 2, "cleared timeout " .. v .. " fired")
            last = v
          end
          assert(#fired == 200, "fired " .. #fired)
        end))
      end
    end)
  end)

  test("a closed handle raises a clear error", function()
    local t = uv.new_timer()
    t:close()
    local ok, err = pcall(t.start, t, 10, 0, function() end)
    assert(not ok and tostring(err):find("handle is closed"), tostring(err))
  end)

  test("bad arguments raise and name the function", function()
    local ok, err = pcall(timer.setTimeout, "10", function() end)
    assert(not ok and err:find("setTimeout") and err:find("delay"), err)
    ok, err = pcall(timer.setTimeout, 10, nil)
    assert(not ok and err:find("callback"), err)
    local t = uv.new_timer()
    ok, err = pcall(t.start, t, "soon", 0, function() end)
    assert(not ok and tostring(err):find("start"), tostring(err))
    t:close()
  end)

  test("many timers with random delays all fire in deadline order", function(expect)
    local last, fired, n = -1, 0, 2000
    local start = uv.now()
    for _ = 1, n do
      local d = math.random(0, 60)
      timer.setTimeout(d, function()
        local now = uv.now()
        assert(now - start >= d, "early timer")
        assert(now >= last, "time went backwards")
        last = now
        fired = fired + 1
      end)
    end
    timer.setTimeout(100, expect(function() assert(fired == n, "fired " .. fired) end))
  end)
  test("a callback's coroutine resumed after the callback ended runs nothing", function(expect)
    -- A sleeps while B runs and ends, so two coroutines are back in the loop's pool
    -- when C runs; C then resumes B's, which is idle there.
    local coB
    timer.setTimeout(1, function() timer.sleep(15) end)
    timer.setTimeout(5, function() coB = coroutine.running() end)
    timer.setTimeout(40, expect(function()
      assert(coB ~= coroutine.running(), "B's coroutine is idle in the pool")
      local ran = false
      local ok, result = coroutine.resume(coB, "junk", function() ran = true end)
      assert(ok and result == nil, tostring(result))
      assert(not ran, "a stale resume runs nothing")
      assert(coroutine.status(coB) == "suspended", coroutine.status(coB))
    end))
    -- The pool still works afterwards: callbacks keep running, in order.
    local after = {}
    for i = 1, 5 do timer.setTimeout(50, function() after[#after + 1] = i end) end
    timer.setTimeout(60, expect(function()
      assert(#after == 5 and after[5] == 5, #after)
    end))
  end)

  test("enroll, active and unenroll: an idle timeout that activity pushes back (luvit)", function(expect)
    local uv = require('uv')
    local Emitter = require('core').Emitter
    local item = Emitter:new()
    local started = uv.now()
    timer.enroll(item, 60)
    timer.active(item)
    timer.setTimeout(40, function() timer.active(item) end) -- activity: 60 ms more from here
    item:on('timeout', expect(function()
      local elapsed = uv.now() - started
      assert(elapsed >= 95, "fired after " .. elapsed .. " ms: the activity did not push it back")
      timer.unenroll(item)
    end))
    -- Unenrolled before it is due: it never fires.
    local quiet = Emitter:new()
    quiet:on('timeout', function() error("an unenrolled item timed out") end)
    timer.enroll(quiet, 20)
    timer.active(quiet)
    timer.unenroll(quiet)
    assert(quiet._idleTimeout == -1)
  end)
end)

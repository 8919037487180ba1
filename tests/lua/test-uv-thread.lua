-- Lua on other threads (bindings/thread.rs): async handles, the work queue and
-- threads, with callbacks and in coroutines. Only plain values cross.
local uv = require('uv')

require('tap')(function(test)
  test("async: send from the loop thread and from another thread", function(expect)
    local got = {}
    local async
    async = uv.new_async(expect(function(a, b, c)
      got[#got + 1] = { a, b, c }
      if #got == 2 then
        assert(got[1][1] == "local" and got[1][2] == 1 and got[1][3] == true)
        assert(got[2][1] == "from thread" and got[2][2] == 42.5 and got[2][3] == nil)
        async:close()
      end
    end, 2))
    assert(uv.handle_get_type(async) == "async")
    assert(uv.async_send(async, "local", 1, true) == 0)
    local t = uv.new_thread(function(a, n)
      a:send("from thread", n)
    end, async, 42.5)
    assert(uv.thread_join(t) == true)
  end)

  test("a thread gets plain arguments and returns plain results to join", function()
    local t = uv.new_thread(function(s, n, b, x)
      return s:upper(), n * 2, not b, x == nil
    end, "abc", 21, false, nil)
    local ok, s, n, b, isnil = uv.thread_join(t)
    assert(ok == true and s == "ABC" and n == 42 and b == true and isnil == true)
    -- An error in the thread's function: false and its text.
    local bad = uv.new_thread(function() error("boom") end)
    local okb, err = uv.thread_join(bad)
    assert(okb == false and err:find("boom"), tostring(err))
    -- Source text works as the function, as in luv.
    local src = uv.new_thread("local a = ... return a + 1", 1)
    local oks, v = uv.thread_join(src)
    assert(oks and v == 2)
    local ok2, err2 = pcall(uv.new_thread, function() end, {})
    assert(not ok2 and tostring(err2):find("cross threads"), tostring(err2))
  end)

  test("co_thread_join waits without blocking the loop", function()
    local ticks = 0
    local timer = uv.new_timer()
    timer:start(1, 1, function() ticks = ticks + 1 end)
    local t = uv.new_thread(function()
      local deadline = os.clock() + 0.05
      while os.clock() < deadline do end
      return "done"
    end)
    local ok, v = uv.co_thread_join(t)
    assert(ok and v == "done")
    assert(ticks > 3, "the loop ran while the thread worked: " .. ticks)
    timer:close()
  end)

  test("queue_work: work on the pool, after_work on the loop", function(expect)
    local work = uv.new_work(function(n, s)
      local sum = 0
      for i = 1, n do sum = sum + i end
      return sum, s .. "!"
    end, expect(function(sum, s)
      assert(sum == 5050 and s == "hi!", tostring(sum) .. " " .. tostring(s))
    end, 2))
    assert(uv.queue_work(work, 100, "hi"))
    assert(uv.queue_work(work, 100, "hi"))
  end)

  test("co_queue_work returns the work's results", function()
    local work = uv.new_work(function(a, b) return a * b end)
    assert(uv.co_queue_work(work, 6, 7) == 42)
  end)
end)

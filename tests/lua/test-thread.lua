-- luvit's thread module: start/join a thread, and work queued on the pool.
local thread = require('thread')

require('tap')(function(test)
  test("start runs a function on a thread with its arguments; join waits for it", function()
    local t = thread.start(function(a, b, s)
      assert(a + b == 5 and s == "x", "arguments arrive")
      return "unused"
    end, 2, 3, "x")
    assert(t, "a thread")
    assert(thread.join(t))
    assert(thread.equals(t, t))
  end)

  test("work and queue: the result comes back to the loop thread", function(expect)
    local done = 0
    local worker = thread.work(function(n, tag)
      local sum = 0
      for i = 1, n do sum = sum + i end
      return sum, tag, nil, true
    end, expect(function(sum, tag, none, flag)
      assert(sum == 500500 and tag == "t" and none == nil and flag == true, tostring(sum))
      done = done + 1
    end, 2))
    thread.queue(worker, 1000, "t")
    worker:queue(1000, "t")
  end)
end)

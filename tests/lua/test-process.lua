local timer = require('timer')

require('tap')(function(test)
  test("argv has luvit's shape", function()
    assert(process.argv[0]:find("stardust"), process.argv[0])
    assert(process.argv[1]:find("test%-process%.lua$"), process.argv[1])
  end)

  test("env reads, writes and iterates", function()
    assert(type(process.env.PATH) == "string")
    process.env.STARDUST_TEST_VAR = "hello"
    assert(process.env.STARDUST_TEST_VAR == "hello")
    assert(os.getenv("STARDUST_TEST_VAR") == "hello", "written through to the real environment")
    local seen = false
    for k, v in pairs(process.env) do
      if k == "STARDUST_TEST_VAR" and v == "hello" then seen = true end
    end
    assert(seen, "pairs sees the new variable")
    process.env.STARDUST_TEST_VAR = nil
    assert(os.getenv("STARDUST_TEST_VAR") == nil)
  end)

  test("pid, cwd, hrtime, memoryUsage", function()
    assert(type(process.pid) == "number" and process.pid > 0)
    assert(process.cwd():sub(1, 1) == "/")
    local a = process.hrtime()
    local b = process.hrtime()
    assert(b >= a)
    local m = process.memoryUsage()
    assert(m.rss > 0 and m.heapUsed > 0 and m.peakRss >= m.rss, "rss " .. m.rss .. " peak " .. m.peakRss)
  end)

  test("nextTick runs after the current callback, in order, with arguments", function(expect)
    local order = {}
    process.nextTick(expect(function(x) order[#order + 1] = x end), "a")
    process.nextTick(expect(function(x) order[#order + 1] = x end), "b")
    order[#order + 1] = "sync"
    timer.setTimeout(5, expect(function()
      assert(table.concat(order, ",") == "sync,a,b", table.concat(order, ","))
    end))
  end)

  test("uncaughtException receives errors from callbacks", function(expect)
    -- tap listens too (to fail the test); set its listener aside for this one error.
    local saved = process:listeners('uncaughtException')
    process:removeAllListeners('uncaughtException')
    local seen
    local function listener(err) seen = err end
    process:on('uncaughtException', listener)
    timer.setTimeout(1, function() error({ code = "MY_ERROR" }) end)
    timer.setTimeout(10, expect(function()
      process:removeListener('uncaughtException', listener)
      for _, l in ipairs(saved) do process:on('uncaughtException', l) end
      assert(type(seen) == "table" and seen.code == "MY_ERROR", "the original error value is passed")
    end))
  end)

  test("versions", function()
    assert(process.versions.luajit:find("^2%.1"), process.versions.luajit)
    assert(process.versions.stardust and process.versions.mio)
  end)

  test("the collector starts a cycle at 1.5x the heap, and runs at 4x allocation", function()
    -- Each setter returns the value it replaces (src/runtime.rs sets them).
    local pause = collectgarbage("setpause", 150)
    local stepmul = collectgarbage("setstepmul", 400)
    assert(pause == 150, "pause " .. pause)
    assert(stepmul == 400, "stepmul " .. stepmul)
  end)
end)

-- Idle, prepare and check handles (event_loop/phases.rs): where in a turn each runs,
-- stop, close, and a coroutine in the callback's place.
local uv = require('uv')

require('tap')(function(test)
  test("each turn runs idle, then prepare, then (after poll) check", function(expect)
    local seen = {}
    local idle, prepare, check = uv.new_idle(), uv.new_prepare(), uv.new_check()
    assert(uv.handle_get_type(idle) == "idle" and uv.handle_get_type(check) == "check")
    local function stopAll()
      uv.idle_stop(idle); uv.prepare_stop(prepare); uv.check_stop(check)
      idle:close(); prepare:close(); check:close()
    end
    assert(uv.idle_start(idle, function() seen[#seen + 1] = "i" end) == 0)
    assert(uv.prepare_start(prepare, function() seen[#seen + 1] = "p" end) == 0)
    assert(uv.check_start(check, expect(function()
      seen[#seen + 1] = "c"
      if #seen >= 9 then
        -- (The first turn may begin after the prepare phase: look from the first i.)
        local s = table.concat(seen):match("ipc.*")
        assert(s and s:sub(1, 9) == "ipcipcipc", table.concat(seen))
        stopAll()
      end
    end, 3)))
    assert(idle:is_active() and check:is_active())
  end)

  test("an active idle handle keeps poll from waiting; stopped, it runs no more", function(expect)
    local idle = uv.new_idle()
    local runs = 0
    local started = uv.hrtime()
    idle:start(function()
      runs = runs + 1
      if runs == 100 then
        idle:stop()
        assert(not idle:is_active())
        -- 100 turns with nothing else to do take far less than a timer's 50 ms.
        assert(uv.hrtime() - started < 50e6, (uv.hrtime() - started) / 1e6 .. " ms")
        local t = uv.new_timer()
        t:start(20, 0, expect(function()
          assert(runs == 100, "ran after stop: " .. runs)
          t:close()
          idle:close()
        end))
      end
    end)
  end)

  test("a check handle stopped by another check callback does not run that turn", function(expect)
    local a, b = uv.new_check(), uv.new_check()
    local bRuns = 0
    a:start(expect(function()
      b:stop()
      a:stop()
      local t = uv.new_timer()
      t:start(10, 0, function()
        assert(bRuns == 0, "b ran after being stopped")
        a:close(); b:close(); t:close()
      end)
    end))
    b:start(function() bRuns = bRuns + 1 end)
    -- (Something to poll for, so the loop turns.)
    local t = uv.new_timer()
    t:start(1, 0, function() t:close() end)
  end)

  test("a coroutine in the callback's place is resumed each turn", function()
    local check = uv.new_check()
    local co = coroutine.running()
    check:start(co)
    local turns = 0
    local t = uv.new_timer()
    t:start(1, 1, function() end) -- keeps the loop turning
    for _ = 1, 3 do
      coroutine.yield()
      turns = turns + 1
    end
    assert(turns == 3)
    check:close()
    t:close()
  end)

  test("closing a started handle stops it", function(expect)
    local p = uv.new_prepare()
    p:start(function() error("closed prepare ran") end)
    p:close(expect(function() end))
    assert(p:is_closing())
  end)
end)

-- Child processes (uv.spawn, exit through a pidfd) and signal handles (a self-pipe).
local uv = require('uv')
local timer = require('timer')

-- Reads everything a pipe gives until EOF, then done(text).
local function collect(pipe, done)
  local parts = {}
  pipe:read_start(function(err, data)
    assert(not err, err)
    if data then parts[#parts + 1] = data else pipe:close() done(table.concat(parts)) end
  end)
end

require('tap')(function(test)
  test("spawn with stdio pipes: write stdin, read stdout, exit code", function(expect)
    local stdin, stdout = uv.new_pipe(), uv.new_pipe()
    local handle, pid
    handle, pid = uv.spawn("/bin/sh", {
      args = { "-c", "tr a-z A-Z; exit 3" },
      stdio = { stdin, stdout, 2 },
    }, expect(function(code, signal)
      assert(code == 3 and signal == 0, code .. " " .. signal)
      handle:close()
    end))
    assert(handle, pid)
    assert(type(pid) == "number" and pid > 0 and handle:get_pid() == pid)
    assert(uv.handle_get_type(handle) == "process")
    collect(stdout, expect(function(text) assert(text == "SHOUTED\n", text) end))
    stdin:write("shouted\n")
    stdin:shutdown(function() stdin:close() end)
  end)

  test("cwd, env, args; a missing program is ENOENT", function(expect)
    local out = uv.new_pipe()
    local h
    h = uv.spawn("/bin/sh", {
      args = { "-c", 'echo "$PWD $GREETING $0"', "arg0" },
      cwd = "/tmp",
      env = { "GREETING=hi", "PATH=/usr/bin:/bin" },
      stdio = { nil, out, nil },
    }, expect(function(code, sig)
      assert(code == 0, "exit " .. tostring(code) .. " " .. tostring(sig))
      h:close()
    end))
    collect(out, expect(function(text) assert(text == "/tmp hi arg0\n", text) end))
    local none, err, code = uv.spawn("/no/such/program", {}, function() end)
    assert(none == nil and code == "ENOENT", tostring(err))
  end)

  test("process_kill ends a child with a signal", function(expect)
    local h
    h = uv.spawn("/bin/sleep", { args = { "10" } }, expect(function(code, signal)
      assert(signal == 15, "signal " .. signal)
      h:close()
    end))
    timer.setTimeout(20, function() assert(uv.process_kill(h, "sigterm") == 0) end)
  end)

  test("in a coroutine: co_spawn returns the exit code", function()
    local out = uv.new_pipe()
    local text = {}
    -- (Reads once the child has started: co_spawn returns only at its exit.)
    timer.setImmediate(function()
      out:read_start(function(err, data)
        if data then text[#text + 1] = data else out:close() end
      end)
    end)
    local code, signal, pid = uv.co_spawn("/bin/sh", { args = { "-c", "echo hi; exit 7" }, stdio = { nil, out } })
    assert(code == 7 and signal == 0 and pid > 0, tostring(code))
    timer.sleep(10)
    assert(table.concat(text) == "hi\n", table.concat(text))
  end)

  test("a signal handle catches a signal instead of its default action", function(expect)
    local sig = uv.new_signal()
    assert(uv.handle_get_type(sig) == "signal")
    sig:start("sigusr1", expect(function(name)
      assert(name == "sigusr1", tostring(name))
      sig:stop()
      sig:close()
    end))
    assert(uv.kill(uv.os_getpid(), "SIGUSR1") == 0)
  end)

  test("start_oneshot fires once; a coroutine waits with co_signal", function(expect)
    local sig = uv.new_signal()
    local count = 0
    sig:start_oneshot("sigusr2", function() count = count + 1 end)
    -- A second watcher keeps SIGUSR2 caught after the oneshot is spent.
    local keeper = uv.new_signal()
    keeper:start("sigusr2", function() end)
    coroutine.wrap(expect(function()
      assert(uv.co_signal("SIGUSR2") == "sigusr2")
    end))()
    uv.kill(uv.os_getpid(), "sigusr2")
    timer.setTimeout(20, function()
      assert(count == 1)
      assert(not sig:is_active(), "a spent oneshot is stopped")
      uv.kill(uv.os_getpid(), "sigusr2")
      timer.setTimeout(20, expect(function()
        assert(count == 1, "the oneshot fired again")
        sig:close()
        keeper:close()
      end))
    end)
    local ok, err = pcall(sig.start, sig, "sigkill", function() end)
    assert(not ok and tostring(err):find("cannot be caught"), tostring(err))
  end)
end)

local Emitter = require('core').Emitter

require('tap')(function(test)
  test("on and emit pass arguments, in registration order", function()
    local e = Emitter:new()
    local got = {}
    e:on('x', function(a, b) got[#got + 1] = "1:" .. a .. b end)
    e:on('x', function(a, b) got[#got + 1] = "2:" .. a .. b end)
    e:emit('x', "a", "b")
    assert(table.concat(got, ",") == "1:ab,2:ab", table.concat(got, ","))
  end)

  test("once fires once", function()
    local e = Emitter:new()
    local n = 0
    e:once('x', function() n = n + 1 end)
    e:emit('x')
    e:emit('x')
    assert(n == 1)
    assert(e:listenerCount('x') == 0)
  end)

  test("removeListener removes one registration", function()
    local e = Emitter:new()
    local n = 0
    local function f() n = n + 1 end
    e:on('x', f)
    e:on('x', f)
    e:removeListener('x', f)
    e:emit('x')
    assert(n == 1, n)
    assert(e:listenerCount('x') == 1)
  end)

  test("removal during emit is safe", function()
    local e = Emitter:new()
    local calls = {}
    local second
    local function first()
      calls[#calls + 1] = "first"
      e:removeListener('x', first)
      e:removeListener('x', second)
    end
    second = function() calls[#calls + 1] = "second" end
    local function third() calls[#calls + 1] = "third" end
    e:on('x', first)
    e:on('x', second)
    e:on('x', third)
    e:emit('x')
    assert(table.concat(calls, ",") == "first,third", table.concat(calls, ","))
    calls = {}
    e:emit('x')
    assert(table.concat(calls, ",") == "third", table.concat(calls, ","))
    assert(e:listenerCount('x') == 1)
  end)

  test("listeners added during emit wait for the next emit", function()
    local e = Emitter:new()
    local n = 0
    e:on('x', function()
      e:on('x', function() n = n + 1 end)
    end)
    e:emit('x')
    assert(n == 0)
    e:emit('x')
    assert(n == 1)
  end)

  test("removeAllListeners, with and without a name", function()
    local e = Emitter:new()
    e:on('a', print)
    e:on('a', print)
    e:on('b', print)
    e:removeAllListeners('a')
    assert(e:listenerCount('a') == 0 and e:listenerCount('b') == 1)
    e:removeAllListeners()
    assert(e:listenerCount('b') == 0)
  end)

  test("an 'error' with no listener is not raised (luvit); a listener gets it", function()
    local e = Emitter:new()
    local ok, err = pcall(e.emit, e, 'error', "bad thing")
    assert(ok, tostring(err))
    local seen
    e:on('error', function(x) seen = x end)
    e:emit('error', "handled")
    assert(seen == "handled")
  end)

  test("a once listener is removed by the function given to once", function()
    local e = Emitter:new()
    local calls = 0
    local function fn() calls = calls + 1 end
    e:once('x', fn)
    assert(e:listenerCount('x') == 1)
    e:removeListener('x', fn)
    assert(e:listenerCount('x') == 0)
    e:emit('x')
    assert(calls == 0, calls)
  end)

  test("propagate forwards an event to another emitter", function()
    local a, b = Emitter:new(), Emitter:new()
    local got
    b:on('data', function(x, y) got = x .. y end)
    assert(a:propagate('data', b) == b)
    a:emit('data', "p", "q")
    assert(got == "pq", got)
  end)

  test("wrap routes err to 'error' and the rest to the method", function()
    local Thing = Emitter:extend()
    local got
    function Thing:onData(a, b) got = a .. b end
    local t = Thing:new()
    local errs = {}
    t:on('error', function(err) errs[#errs + 1] = err end)
    local cb = t:wrap('onData')
    cb(nil, "x", "y")
    assert(got == "xy")
    cb("EFAIL")
    assert(errs[1] == "EFAIL")
  end)

  test("on rejects a non-function listener", function()
    local e = Emitter:new()
    local ok, err = pcall(e.on, e, 'x', 42)
    assert(not ok and err:find("must be a function"), err)
  end)

  test("listeners of emitted events can yield", function(expect)
    local timer = require('timer')
    local e = Emitter:new()
    e:on('go', expect(function()
      timer.sleep(5)
    end))
    timer.setTimeout(1, function() e:emit('go') end)
  end)
end)

local utils = require('utils')
local pp = require('pretty-print')
local timer = require('timer')

-- A callback-style function: calls back with (err, value) after a tick.
local function double(x, callback)
  timer.setTimeout(1, function()
    if type(x) ~= "number" then return callback("EINVAL: not a number") end
    callback(nil, x * 2)
  end)
end

require('tap')(function(test)
  test("bind binds self and leading arguments", function()
    local obj = { n = 10 }
    function obj.add(self, a, b) return self.n + a + (b or 0) end
    assert(utils.bind(obj.add, obj)(1) == 11)
    assert(utils.bind(obj.add, obj, 5)(2) == 17)
  end)

  test("adapt with a callback passes it through", function(expect)
    utils.adapt(expect(function(err, v)
      assert(err == nil and v == 8)
    end), double, 4)
  end)

  test("adapt with a coroutine waits and returns the result", function()
    local v = utils.adapt(coroutine.running(), double, 21)
    assert(v == 42, tostring(v))
    -- luvit's form: the error comes back as nil, err (it is not raised).
    local none, err = utils.adapt(coroutine.running(), double, "x")
    assert(none == nil and tostring(err):find("EINVAL"), tostring(err))
  end)

  test("assertResume raises a coroutine's error with its traceback", function()
    local co = coroutine.create(function() error("inside") end)
    local ok, err = pcall(utils.assertResume, co)
    assert(not ok and err:find("inside") and err:find("stack traceback"), err)
    local ran = false
    utils.assertResume(coroutine.create(function(x) ran = x end), true)
    assert(ran == true)
    assert(utils.print == print and utils.prettyPrint)
  end)

  test("stdout and stderr are stream handles made on first use", function(expect)
    local uv = require('uv')
    assert(rawget(utils, "stdout") == nil, "not made at load")
    local out = utils.stdout
    local kind = uv.guess_handle(1)
    assert(out and (kind == "tty" and out:get_type() == "tty" or out:get_type() == "pipe"), out:get_type())
    assert(utils.stdout == out, "made once")
    assert(utils.stderr ~= out and utils.stdin ~= nil)
    -- (A comment line, harmless in TAP output.)
    out:write("# written through utils.stdout\n", expect(function(err)
      assert(not err, err)
      -- (Closed, and forgotten, so that this test leaves no handle open.)
      for _, name in ipairs({ "stdin", "stdout", "stderr" }) do
        utils[name]:close()
        rawset(utils, name, nil)
      end
    end))
  end)

  test("strip is luvit's name for stripping colors", function()
    assert(utils.strip("\27[31mred\27[0m") == "red")
    assert(utils.strip == utils.stripColors)
  end)

  test("dump matches luvit's format", function()
    assert(pp.dump("hi") == "'hi'")
    assert(pp.dump("it's") == '"it\'s"')
    assert(pp.dump("a\nb\0") == "'a\\nb\\000'", pp.dump("a\nb\0"))
    assert(pp.dump(42) == "42")
    assert(pp.dump(nil) == "nil")
    assert(pp.dump({ 1, 2, 3 }) == "{ 1, 2, 3 }", pp.dump({ 1, 2, 3 }))
    assert(pp.dump({ a = 1 }) == "{ a = 1 }")
    assert(pp.dump({}) == "{}")
    assert(pp.dump({ ["x y"] = true }) == "{ ['x y'] = true }", pp.dump({ ["x y"] = true }))
    assert(pp.dump({ chunk = "Hello world\n" }) == "{ chunk = 'Hello world\\n' }")
    local t = {}
    t.self = t
    assert(pp.dump(t):find("self = table: "), pp.dump(t))
  end)

  test("long tables break over lines", function()
    local long = {}
    for i = 1, 40 do long[i] = i * 1000 end
    local s = pp.dump(long)
    assert(s:find("\n  1000,\n"), s)
  end)

  test("no colors when stdout is not a terminal", function()
    assert(not pp.dump({ 1 }):find("\27"))
    assert(pp.colorize("err", "x") == "x")
  end)
end)

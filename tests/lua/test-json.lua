local JSON = require('json')
local deepEqual = require('deep-equal')

require('tap')(function(test)
  test("parse objects, arrays, scalars", function()
    local v = JSON.parse('{"a": [1, 2.5, -3e2, true, false, null], "b": {"c": "d"}}')
    assert(v.a[1] == 1 and v.a[2] == 2.5 and v.a[3] == -300)
    assert(v.a[4] == true and v.a[5] == false and v.a[6] == JSON.null)
    assert(v.b.c == "d")
  end)

  test("comments are accepted", function()
    local v = JSON.parse([[
      // a line comment
      { "a": 1, /* a block
      comment */ "b": "not // a comment" }
    ]])
    assert(v.a == 1 and v.b == "not // a comment")
  end)

  test("errors come back as nil, message with position", function()
    local v, err = JSON.parse('{"a": 1,\n "b": }')
    assert(v == nil)
    assert(type(err) == "string" and err:find("line 2"), tostring(err))
    v, err = JSON.parse('[1, 2] trailing')
    assert(v == nil and err:find("trailing"), tostring(err))
    v, err = JSON.parse('')
    assert(v == nil and err)
    -- Invalid UTF-8 too (it used to raise).
    v, err = JSON.parse('{"a":\n "\255"}')
    assert(v == nil and err == "invalid UTF-8 at line 2 column 3", tostring(err))
  end)

  test("stringify compact", function()
    assert(JSON.stringify({ 1, 2, 3 }) == "[1,2,3]")
    assert(JSON.stringify({ a = "x" }) == '{"a":"x"}')
    assert(JSON.stringify("q\"\\\n\t\1") == '"q\\"\\\\\\n\\t\\u0001"', JSON.stringify("q\"\\\n\t\1"))
    assert(JSON.stringify(JSON.null) == "null")
    assert(JSON.stringify(1.5) == "1.5")
    assert(JSON.stringify(1e20) == "100000000000000000000" or JSON.stringify(1e20) == "1e20")
    assert(JSON.stringify(0 / 0) == "null")
  end)

  test("empty tables: [] by default, {} for decoded empty objects", function()
    assert(JSON.stringify({}) == "[]")
    assert(JSON.stringify(JSON.parse("{}")) == "{}")
    assert(JSON.stringify(JSON.as_object({})) == "{}")
    assert(JSON.stringify(JSON.parse("[]")) == "[]")
  end)

  test("beautify sorts keys and indents", function()
    local s = JSON.stringify({ b = 1, a = { 1, 2 }, c = {} }, { beautify = true, indent_string = "  " })
    assert(s == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1,\n  "c": []\n}', s)
    local s4 = JSON.stringify({ x = 1 }, { indent = 4 })
    assert(s4 == '{\n    "x": 1\n}', s4)
  end)

  test("round trip", function()
    local v = { name = "stardust", list = { 1, 2, { deep = true } }, unicode = "héllo ✨" }
    local back = JSON.parse(JSON.stringify(v))
    assert(deepEqual(v, back))
  end)

  test("unencodable values raise with a clear message", function()
    local ok, err = pcall(JSON.stringify, { f = print })
    assert(not ok and tostring(err):find("cannot encode a function"), tostring(err))
    local t = {}
    t.self = t
    ok, err = pcall(JSON.stringify, t)
    assert(not ok and tostring(err):find("too deep"), tostring(err))
    ok, err = pcall(JSON.parse, 42)
    assert(not ok and err:find("json.parse"), err)
  end)

  test("big tables encode (more elements than mlua can hold references to)", function()
    local list, map = {}, {}
    for i = 1, 100000 do
      list[i] = { id = i }
      map["k" .. i] = i
    end
    local s = JSON.stringify({ list = list, map = map })
    local back = JSON.parse(s)
    assert(#back.list == 100000 and back.list[100000].id == 100000)
    assert(back.map.k77777 == 77777)
    local pretty = JSON.stringify({ map = map }, { beautify = true })
    assert(pretty:find('"k1": 1,'), "sorted and indented")
  end)

  test("tables with both kinds of keys, and their keys' order", function()
    local mixed = { "x", "y", k = "v" }
    local back = JSON.parse(JSON.stringify(mixed))
    assert(back["1"] == "x" and back["2"] == "y" and back.k == "v", JSON.stringify(mixed))
    local s = JSON.stringify({ [10] = "a", [2] = "b", z = 1 }, { beautify = true })
    assert(s == '{\n  "10": "a",\n  "2": "b",\n  "z": 1\n}', s)
    assert(JSON.stringify(setmetatable({}, {})) == "{}", "an empty table with another metatable")
    assert(JSON.stringify(setmetatable({}, JSON.array)) == "[]")
    for _, opts in ipairs({ {}, { beautify = true } }) do
      local ok, err = pcall(JSON.stringify, { [true] = 1 }, opts)
      assert(not ok and tostring(err):find("keys must be strings or numbers, got a boolean"), tostring(err))
    end
    local ok, err = pcall(JSON.stringify, { u = newproxy and newproxy() or io.stdout })
    assert(not ok and tostring(err):find("cannot encode a userdata"), tostring(err))
  end)

  test("arrays and objects of every size decode whole, the last of equal keys wins", function()
    for _, n in ipairs({ 0, 1, 31, 32, 33, 64, 65, 1000 }) do
      local list, obj = {}, {}
      for i = 1, n do
        list[i] = i * 2
        obj["k" .. i] = i
      end
      local l = JSON.parse(JSON.stringify(list))
      assert(#l == n and (n == 0 or l[n] == n * 2), "array of " .. n)
      local o = JSON.parse(n == 0 and "{}" or JSON.stringify(obj))
      local count = 0
      for k, v in pairs(o) do
        count = count + 1
        assert(obj[k] == v, k)
      end
      assert(count == n, "object of " .. n)
    end
    local dup = JSON.parse('{"a": 1, "b": 2, "a": 3}')
    assert(dup.a == 3 and dup.b == 2)
  end)

  test("deeply nested input does not crash the parser", function()
    local v, err = JSON.parse(string.rep("[", 100000))
    assert(v == nil and err)
  end)
end)

-- luvit's helpful: string.levenshtein and the "did you mean" hint.
local helpful = require('helpful')

require('tap')(function(test)
  test("levenshtein distances", function()
    assert(string.levenshtein("kitten", "sitting") == 3)
    assert(string.levenshtein("", "abc") == 3 and string.levenshtein("abc", "") == 3)
    assert(string.levenshtein("same", "same") == 0)
    assert(string.levenshtein("flaw", "lawn") == 2)
  end)

  test("a missing field prints a hint naming the closest one", function()
    local printed
    local savedPrint = print
    print = function(s) printed = s end
    local mod = helpful("mymod", { readFile = 1, writeFile = 2 })
    local v = mod.redFile
    print = savedPrint
    assert(v == nil)
    assert(printed and printed:find("mymod.redFile") and printed:find("did you mean") and printed:find("mymod.readFile"),
      tostring(printed))
    assert(mod.readFile == 1)
  end)

  test("luvitGlobalExtend makes % format a string", function()
    string.luvitGlobalExtend()
    assert(("%s-%d" % { "a", 1 }) == "a-1")
    getmetatable("").__mod = nil
  end)
end)

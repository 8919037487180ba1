require('tap')(function(test)
  test("./ paths resolve from the requiring file, with module and exports", function()
    local rel = require('./fixtures/require/rel')
    assert(rel.name == "rel")
    assert(rel.path:find("/fixtures/require/rel%.lua$"), rel.path)
    assert(rel.dir:find("/fixtures/require$"), rel.dir)
  end)

  test("the cache is keyed by resolved path", function()
    local a = require('./fixtures/require/rel')
    local b = require('./fixtures/require/rel.lua')
    local c = require('./fixtures/../fixtures/require/rel')
    assert(a == b and b == c)
  end)

  test("returning a value or setting module.exports replaces exports", function()
    assert(require('./fixtures/require/returns').kind == "returned")
    assert(require('./fixtures/require/replaces')() == "replaced")
  end)

  test("a directory loads its init.lua", function()
    assert(require('./fixtures/require/dir').found == "dir/init.lua")
  end)

  test("bare names walk up through libs/ and deps/, then the module's directory", function()
    local deep = require('./fixtures/require/app/sub/deep')
    assert(deep.walked.found == "libs")
    assert(deep.dep.found == "deps/init.lua")
    assert(deep.sibling.found == "same directory")
  end)

  test("embedded lua_lib modules and LuaJIT built-ins", function()
    assert(type(require('json').parse) == "function")
    assert(require('ffi') and require('bit') and require('jit'))
    assert(require('core') == require('core'), "embedded modules are cached")
  end)

  test("embedded modules are compiled straight from the binary, lines as in the file", function()
    local native = require('_native')
    assert(native.lua_lib("no/such/module") == nil)
    assert(type(native.lua_lib("json", "")) == "function", "a compiled chunk, not source text")
    -- json.parse is defined on the line of lua_lib/json.lua that says so, the
    -- prefix require adds notwithstanding.
    local want
    local n = 0
    for line in io.lines(module.dir .. "/../../lua_lib/json.lua") do
      n = n + 1
      if line:find("^function json%.parse") then want = n break end
    end
    local info = debug.getinfo(require('json').parse, "S")
    assert(want and info.linedefined == want, tostring(info.linedefined) .. " vs " .. tostring(want))
    assert(info.source == "@lua_lib/json.lua", info.source)
  end)

  test("package.path is the last resort (LuaRocks modules)", function()
    local saved = package.path
    package.path = module.dir .. "/fixtures/require/rocks/?.lua;" .. saved
    local rock = require('rockmod')
    package.path = saved
    assert(rock.name == "rockmod", tostring(rock.name))
  end)

  test("cycles see the partial exports", function()
    local a = require('./fixtures/require/cycle-a')
    assert(a.a == true and a.b_saw_a == true)
  end)

  test("not found lists the paths tried", function()
    local ok, err = pcall(require, 'no-such-module-anywhere')
    assert(not ok)
    assert(err:find("module 'no%-such%-module%-anywhere' not found"), err)
    assert(err:find("libs/no%-such%-module%-anywhere%.lua"), err)
    assert(err:find("deps/no%-such%-module%-anywhere/init%.lua"), err)
    assert(err:find("lua_lib/no%-such%-module%-anywhere%.lua %(embedded%)"), err)
    assert(err:find("package.path"), err)
  end)

  test("a syntax error names file and line", function()
    local ok, err = pcall(require, './fixtures/require/syntax-error')
    assert(not ok and err:find("syntax%-error%.lua:1:"), err)
  end)

  test("bad argument", function()
    local ok, err = pcall(require, 42)
    assert(not ok and err:find("module name must be a string"), err)
  end)
end)

local core = require('core')
local Object, Error = core.Object, core.Error

require('tap')(function(test)
  test("extend, new and initialize", function()
    local Rectangle = Object:extend()
    function Rectangle:initialize(w, h) self.w, self.h = w, h end
    function Rectangle:getArea() return self.w * self.h end
    local r = Rectangle:new(3, 4)
    assert(r:getArea() == 12)
    assert(r.w == 3 and r.h == 4)
  end)

  test("subclasses inherit methods and metamethods", function()
    local Animal = Object:extend()
    function Animal:initialize(name) self.name = name end
    function Animal:speak() return self.name .. " makes a sound" end
    Animal.meta.__tostring = function(self) return "Animal(" .. self.name .. ")" end
    local Dog = Animal:extend()
    function Dog:speak() return self.name .. " barks" end
    local d = Dog:new("Rex")
    assert(d:speak() == "Rex barks")
    assert(Animal.speak(d) == "Rex makes a sound")
    assert(tostring(d) == "Animal(Rex)", tostring(d))
    assert(Dog.meta.super == Animal)
  end)

  test("instanceof follows the class chain", function()
    local A = Object:extend()
    local B = A:extend()
    local C = Object:extend()
    local b = B:new()
    assert(b:instanceof(B) and b:instanceof(A) and b:instanceof(Object))
    assert(not b:instanceof(C))
    assert(core.instanceof(b, A))
    assert(not core.instanceof({}, A))
    assert(not core.instanceof(nil, A))
  end)

  test("defineLazy: a field made on first read, once, kept by subclasses and instanceof", function()
    local A = Object:extend()
    function A:greet() return "hi" end
    local made = 0
    A:defineLazy({ state = function(self) made = made + 1 return { owner = self } end })
    local B = A:extend()
    local b = B:new()
    assert(made == 0, "nothing is made before it is read")
    assert(b.state.owner == b and b.state == b.state, "the value is kept")
    assert(made == 1, "made once, not " .. made)
    assert(rawget(b, "state") ~= nil)
    assert(b:greet() == "hi" and b.missing == nil, "other lookups go to the class")
    assert(b:instanceof(B) and b:instanceof(A) and b:instanceof(Object))
    assert(A:new():instanceof(A) and not A:new():instanceof(B))
    -- the library's lazy classes stay instances of their classes
    local net, http = require('net'), require('http')
    assert(net.Socket:new({}):instanceof(net.Socket))
    assert(http.IncomingMessage:new({ url = "/" }):instanceof(http.IncomingMessage))
  end)

  test("create skips initialize", function()
    local K = Object:extend()
    local called = false
    function K:initialize() called = true end
    local k = K:create()
    assert(not called)
    assert(getmetatable(k) == K.meta)
  end)

  test("an instance cannot be extended", function()
    local inst = Object:new()
    local ok, err = pcall(inst.extend, inst)
    assert(not ok and err:find("Cannot inherit from instance object"), err)
  end)

  test("Error carries message and code", function()
    local e = Error:new("ECONNREFUSED: connection refused")
    assert(e.message == "ECONNREFUSED: connection refused")
    assert(e.code == "ECONNREFUSED")
    assert(tostring(e) == e.message)
    local MyError = Error:extend()
    local m = MyError:new("boom")
    assert(m:instanceof(Error))
    assert(tostring(m) == "boom")
  end)

  test("a class is an instance of itself and its ancestors, as in luvit", function()
    local core = require('core')
    assert(core.instanceof(core.Object, core.Object))
    assert(core.instanceof(core.Emitter, core.Object))
    assert(core.instanceof(core.Emitter, core.Emitter))
    assert(not core.instanceof(core.Object, core.Emitter))
    assert(core.instanceof(core.Emitter:new(), core.Object))
    assert(not core.instanceof({}, core.Object))
  end)
end)

local stream = require('stream')

local function collect(readable, done)
  local parts = {}
  readable:on('data', function(c) parts[#parts + 1] = c end)
  readable:on('end', function() done(table.concat(parts)) end)
end

require('tap')(function(test)
  test("Readable: push then data and end", function(expect)
    local r = stream.Readable:new()
    function r:_read() end
    r:push("a")
    r:push("b")
    r:push(nil)
    collect(r, expect(function(all) assert(all == "ab", all) end))
  end)

  test("Readable: _read is called for more", function(expect)
    local n = 0
    local r = stream.Readable:new({ read = function(self)
      n = n + 1
      if n <= 3 then self:push(tostring(n)) else self:push(nil) end
    end })
    collect(r, expect(function(all) assert(all == "123", all) end))
  end)

  test("Readable: pause stops data, resume continues", function(expect)
    local r = stream.Readable:new()
    function r:_read() end
    local got = {}
    r:on('data', function(c) got[#got + 1] = c end)
    r:pause()
    r:push("x")
    assert(#got == 0, "paused: no data")
    assert(r:isPaused())
    r:resume()
    assert(got[1] == "x")
    r:push(nil)
    r:on('end', expect(function() end))
  end)

  test("Readable: read() pulls what is buffered", function()
    local r = stream.Readable:new()
    function r:_read() end
    r:push("hello ")
    r:push("world")
    assert(r:read(5) == "hello")
    assert(r:read() == " world")
    assert(r:read() == nil)
  end)

  test("Writable: write returns false past highWaterMark, then drain", function(expect)
    local pending = {}
    local w = stream.Writable:new({ highWaterMark = 10, write = function(_, chunk, cb)
      pending[#pending + 1] = cb
    end })
    assert(w:write("12345") == true)
    assert(w:write("678901") == false, "over the mark")
    w:on('drain', expect(function() end))
    -- Complete the writes asynchronously.
    require('timer').setTimeout(1, function()
      pending[1]()
      require('timer').setTimeout(1, function() pending[2]() end)
    end)
  end)

  test("Writable: write callbacks and finish in order", function(expect)
    local order = {}
    local w = stream.Writable:new({ write = function(_, chunk, cb)
      order[#order + 1] = chunk
      process.nextTick(cb)
    end })
    w:write("a", expect(function() order[#order + 1] = "cb-a" end))
    w:write("b")
    w:finish("c", expect(function()
      assert(table.concat(order, ",") == "a,cb-a,b,c", table.concat(order, ","))
    end))
  end)

  test("Writable: write after end is an error", function(expect)
    local w = stream.Writable:new({ write = function(_, _, cb) cb() end })
    w:on('error', expect(function(err) assert(err == "write after end") end))
    w:finish()
    assert(w:write("x") == false)
  end)

  test("Transform and PassThrough with pipe", function(expect)
    local Upper = stream.Transform:extend()
    function Upper:_transform(chunk, cb) cb(nil, chunk:upper()) end
    local src = stream.Readable:new()
    function src:_read() end
    local up = Upper:new()
    local pass = stream.PassThrough:new()
    src:pipe(up):pipe(pass)
    collect(pass, expect(function(all) assert(all == "HELLO WORLD", all) end))
    src:push("hello ")
    src:push("world")
    src:push(nil)
  end)

  test("pipe respects backpressure", function(expect)
    local written, maxBuffered = {}, 0
    local slow = stream.Writable:new({ highWaterMark = 4, write = function(self, chunk, cb)
      written[#written + 1] = chunk
      maxBuffered = math.max(maxBuffered, self._writableState.length)
      require('timer').setTimeout(1, cb)
    end })
    local n = 0
    local src = stream.Readable:new({ read = function(self)
      n = n + 1
      if n <= 20 then self:push("abc") else self:push(nil) end
    end })
    slow:on('finish', expect(function()
      assert(#written == 20, #written)
      assert(maxBuffered <= 9, "buffered " .. maxBuffered)
    end))
    src:pipe(slow)
  end)

  test("objectMode passes values through", function(expect)
    local r = stream.Readable:new({ objectMode = true })
    function r:_read() end
    local got = {}
    r:on('data', function(v) got[#got + 1] = v end)
    r:on('end', expect(function() assert(got[1].a == 1 and got[2] == 42) end))
    r:push({ a = 1 })
    r:push(42)
    r:push(nil)
  end)

  test("destroy emits error and close", function(expect)
    local d = stream.Duplex:new()
    function d:_read() end
    d:on('error', expect(function(e) assert(e == "boom") end))
    d:on('close', expect(function() end))
    d:destroy("boom")
    d:destroy("again") -- only once
  end)
end)

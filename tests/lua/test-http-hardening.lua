-- HTTP under hostile input, in both server APIs (http and http.server) and the client:
-- header injection, two Host headers, control bytes in chunk extensions and trailers.
local http = require('http')
local hserver = require('http.server')
local timer = require('timer')

local raw = require('./helpers').raw

local serve = require('./helpers').serve

-- An http.server on port 0; ready(srv) once it listens.
local function lilush(handle, ready)
  local srv = assert(hserver.new({ port = 0, log_level = "error" }, handle))
  timer.setImmediate(function() srv:serve() end)
  timer.setImmediate(function() ready(srv) end)
  return srv
end

local GET = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
local INJECTED = "a\r\nSet-Cookie: pwned=1"

-- The reply is a 500, and nothing the handler tried to inject reached the wire.
local function refused(reply)
  assert(reply:find("^HTTP/1.1 500 "), reply)
  assert(not reply:find("pwned"), reply)
end

-- Sends `count` GETs one after the other, each reply to `refused`, then done().
local function getEachRefused(port, count, expect, done)
  local function one(n)
    if n > count then return done() end
    raw(port, GET, expect(function(reply)
      refused(reply)
      one(n + 1)
    end))
  end
  one(1)
end

-- A smuggling attempt: the request is answered 400 and the connection closed, and
-- nothing behind it reaches the handler.
local function smuggled(request, port, seen, done)
  raw(port, request, function(reply)
    assert(reply:find("^HTTP/1.1 400 "), reply)
    assert(not reply:find("200 OK"), reply)
    assert(#seen == 0, "the handler saw " .. table.concat(seen, ","))
    done()
  end)
end

local CHUNK_EXT_CR = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
  .. "5;a\rb\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
local TRAILER_CR = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
  .. "0\r\nX-T: a\rb\r\n\r\n"
local TWO_HOSTS = "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"

require('tap')(function(test)
  test("http: setHeader refuses CR/LF in a value and a name that is not a token", function(expect)
    local errs = {}
    serve(function(req, res)
      local ok, err = pcall(res.setHeader, res, "X", INJECTED)
      errs[1] = err
      assert(not ok)
      ok, err = pcall(res.setHeader, res, "X Y", "a")
      errs[2] = err
      assert(not ok)
      res:finish("fine")
    end, function(port, server)
      raw(port, GET, expect(function(reply)
        assert(reply:find("^HTTP/1.1 200 "), reply)
        assert(not reply:find("pwned"), reply)
        assert(tostring(errs[1]):find('ERR_INVALID_CHAR: Invalid character in header content ["X"]', 1, true), errs[1])
        assert(tostring(errs[2]):find("ERR_INVALID_HTTP_TOKEN", 1, true), errs[2])
        server:close()
      end))
    end)
  end)

  test("http: writeHead's headers and status message cannot inject lines; the client gets a 500", function(expect)
    local cases = {
      function(res) res:writeHead(200, { X = INJECTED }) res:finish("x") end,
      function(res) res:writeHead(200, { { "X", INJECTED } }) res:finish() end,
      function(res) res:writeHead(200, { ["X\r\nSet-Cookie"] = "pwned=1" }) res:write("x") res:finish() end,
      function(res) res:writeHead(200, "OK\r\nSet-Cookie: pwned=1", {}) res:finish("x") end,
      function(res) res:writeHead(200, { X = { "ok", INJECTED } }) res:finish("x") end,
      function(res) res:writeHead(200, { X = "a\0b pwned" }) res:finish("x") end,
    }
    local i = 0
    local server
    server = serve(function(req, res)
      i = i + 1
      cases[i](res)
    end, function(port)
      getEachRefused(port, #cases, expect, function() server:close() end)
    end)
  end)

  test("http.server: a handler's header with CR/LF gets a 500, not the injected line", function(expect)
    local handlers = {
      function() return "x", 200, { ["x-a"] = INJECTED } end,
      function() return "x", 200, { ["x a"] = "b pwned" } end,
      function() return function() return nil end, 200, { ["x-a"] = INJECTED } end,
    }
    local i = 0
    lilush(function()
      i = i + 1
      return handlers[i]()
    end, function(srv)
      getEachRefused(srv.port, #handlers, expect, function() srv:stop() end)
    end)
  end)

  test("http: two Host headers, or a control byte in a chunk extension or trailer, get a 400", function(expect)
    -- (The handler answers once the body has ended, so that a bad body can still be
    -- answered 400: a request counts as seen when its body ends.)
    local seen = {}
    serve(function(req, res)
      req:on('data', function() end)
      req:on('end', function()
        seen[#seen + 1] = req.url
        res:finish("ok")
      end)
    end, function(port, server)
      smuggled(TWO_HOSTS, port, seen, expect(function()
        smuggled(CHUNK_EXT_CR, port, seen, expect(function()
          smuggled(TRAILER_CR, port, seen, expect(function() server:close() end))
        end))
      end))
    end)
  end)

  test("http.server: two Host headers, or a bare CR in a chunk extension, get a 400", function(expect)
    local seen = {}
    lilush(function(method, query)
      seen[#seen + 1] = query
      return "ok", 200, {}
    end, function(srv)
      smuggled(TWO_HOSTS, srv.port, seen, expect(function()
        smuggled(CHUNK_EXT_CR, srv.port, seen, expect(function() srv:stop() end))
      end))
    end)
  end)

  test("http: a stalled body gets a 408 after bodyTimeout, a trickled one after requestTimeout", function(expect)
    local net = require('net')
    local uv = require('uv')
    local aborted = 0
    local server = http.createServer(function(req, res)
      req:on('data', function() end)
      req:on('aborted', function() aborted = aborted + 1 end)
      req:on('end', function() res:finish("whole body") end)
    end)
    server.bodyTimeout = 200
    server.requestTimeout = 600
    -- Sends a head that promises 100 bytes, then `step(c)` bytes every 50 ms; done
    -- with the reply and the time it took.
    local function client(port, step, done)
      local started, got, t = uv.now(), {}, nil
      local c
      c = net.connect(port, "127.0.0.1", function()
        c:write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        t = timer.setInterval(50, function() if step > 0 and not c.destroyed then c:write(("x"):rep(step)) end end)
      end)
      c:on('data', function(d)
        got[#got + 1] = d
        timer.clearInterval(t) -- (a byte sent after the server closed would be reset)
      end)
      -- (The server closes with the client still sending, so the client may see a
      -- reset after the reply rather than its end.)
      local finished = false
      local function finish()
        if finished then return end
        finished = true
        timer.clearInterval(t)
        c:destroy()
        done(table.concat(got), uv.now() - started)
      end
      c:on('end', finish)
      c:on('error', finish)
    end
    server:listen(0, "127.0.0.1", function()
      local port = server:address().port
      client(port, 0, expect(function(reply, ms)
        assert(reply:find("^HTTP/1.1 408 "), reply)
        assert(ms >= 200 and ms < 1500, ms)
        -- One byte every 50 ms is never idle for 200 ms, but the request as a whole
        -- runs past 600 ms.
        client(port, 1, expect(function(reply2, ms2)
          assert(reply2:find("^HTTP/1.1 408 "), reply2)
          assert(ms2 >= 600 and ms2 < 2500, ms2)
          assert(aborted == 2, aborted)
          server:close()
        end))
      end))
    end)
  end)

  test("http client: a path, method or header that would change the request is refused", function()
    local ok, err = pcall(http.request, { host = "127.0.0.1", port = 1, path = "/a HTTP/1.1\r\nX: y" })
    assert(not ok and tostring(err):find("ERR_UNESCAPED_CHARACTERS", 1, true), err)
    ok, err = pcall(http.request, { host = "127.0.0.1", port = 1, path = "/a b" })
    assert(not ok and tostring(err):find("ERR_UNESCAPED_CHARACTERS", 1, true), err)
    ok, err = pcall(http.request, { host = "127.0.0.1", port = 1, method = "GET /x" })
    assert(not ok and tostring(err):find("ERR_INVALID_HTTP_TOKEN", 1, true), err)
    ok, err = pcall(http.request, { host = "127.0.0.1", port = 1, headers = { X = INJECTED } })
    assert(not ok and tostring(err):find("ERR_INVALID_CHAR", 1, true), err)
    assert(pcall(http.validateHeaderName, "X-Fine"))
    assert(pcall(http.validateHeaderValue, "X", "a\tb"))
    assert(not pcall(http.validateHeaderValue, "X", nil))
  end)
end)

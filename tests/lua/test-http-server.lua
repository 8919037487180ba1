local hserver = require('http.server')
local net = require('net')
local timer = require('timer')
local zlib = require('zlib')

-- Starts a server (port 0) in its own coroutine; ready(srv) once it listens.
local function start(config, handle, ready)
  config.port = 0
  config.log_level = config.log_level or "error"
  local srv = assert(hserver.new(config, handle))
  timer.setImmediate(function()
    local _, err = srv:serve()
    assert(err == nil, err)
  end)
  timer.setTimeout(5, function() ready(srv) end)
  return srv
end

local raw = require('./helpers').raw

local function echo(method, query, args, headers, body, ctx)
  return method .. " " .. query .. " [" .. args .. "] " .. (body or "<nil>"), 200, { ["Content-Type"] = "text/plain" }
end

require('tap')(function(test)
  test("new, configure defaults and aliases", function()
    local srv = assert(hserver.new({ fork_limit = 3, requests_per_fork = 7, compression = { min_size = 10 } }))
    assert(srv.cfg.connection_limit == 3 and srv.cfg.requests_per_connection == 7)
    assert(srv.cfg.compression.min_size == 10 and srv.cfg.compression.enabled == true, "deep merge keeps siblings")
    assert(#srv.cfg.compression.types == 7)
    assert(srv.cfg.ip == "127.0.0.1" and srv.cfg.port == 8080 and srv.cfg.backlog == 256)
    assert(srv.cfg.max_body_size == 5 * 1024 * 1024 and srv.cfg.request_line_limit == 8192)
    assert(srv.cfg.keepalive_idle_timeout == 15 and srv.cfg.request_header_timeout == 10)
    assert(srv.cfg.request_body_timeout == 30 and srv.cfg.tls_handshake_timeout == 10)
    assert(srv.cfg.log_level == "access" and srv.cfg.log_headers[1] == "referer")
    local ok, err = srv:configure({ port = "eighty" })
    assert(ok == nil and err:find("port"), err)
  end)

  test("bad ssl config names the file", function()
    local srv, err = hserver.new({ ssl = { default = { cert = "/no/such/cert.pem", key = "/no/such/key.pem" } } })
    assert(srv == nil and err:find("/no/such/cert.pem", 1, true), tostring(err))
    local path = os.tmpname()
    local f = io.open(path, "w") f:write("not a certificate") f:close()
    srv, err = hserver.new({ ssl = { default = { cert = path, key = path } } })
    os.remove(path)
    assert(srv == nil and err:find(path, 1, true) and err:find("no PEM certificate"), tostring(err))
  end)

  test("the default handler says Hi there!", function(expect)
    local srv = assert(hserver.new({ port = 0, log_level = "error" }))
    timer.setImmediate(function() srv:serve() end)
    -- serve() is listening once it first yields; the next immediate runs after that.
    -- (A short timeout raced it: on a busy machine the timer could be due first.)
    timer.setImmediate(function()
      raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        assert(reply:find("Hi there!$"), reply)
        srv:stop()
      end))
    end)
  end)

  test("query, args, headers, body; Content-Length and Date", function(expect)
    local seen
    start({}, function(method, query, args, headers, body, ctx)
      seen = { headers = headers, ctx = ctx }
      return echo(method, query, args, headers, body, ctx)
    end, function(srv)
      raw(srv.port, "POST /a/b?x=1&y=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        expect(function(reply)
          assert(reply:find("^HTTP/1.1 200 OK\r\n"), reply)
          assert(reply:find("POST /a/b %[x=1&y=2%] hello$"), reply)
          assert(reply:lower():find("content%-length: 25\r\n"), reply)
          assert(reply:lower():find("date: "), reply)
          assert(seen.headers["x-client-ip"] == "127.0.0.1" and seen.headers["x-real-ip"] == "127.0.0.1")
          assert(seen.ctx.cfg and seen.ctx.client and seen.ctx.logger and seen.ctx.logger.access)
          srv:stop()
        end))
    end)
  end)

  test("chunked upload is decoded", function(expect)
    start({}, echo, function(srv)
      raw(srv.port, "PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        expect(function(reply)
          assert(reply:find("PUT /up %[%] abcde$"), reply)
          srv:stop()
        end))
    end)
  end)

  test("content-type defaults to text/html; set-cookie lists; streamed content is chunked", function(expect)
    start({}, function(method, query)
      if query == "/stream" then
        local i = 0
        return function() i = i + 1 if i <= 2 then return "part" .. i end end, 201, {}
      end
      return "<b>x</b>", nil, { ["Set-Cookie"] = { "a=1", "b=2" } }
    end, function(srv)
      raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        expect(function(reply)
          assert(reply:find("content%-type: text/html\r\n"), reply)
          assert(reply:find("set%-cookie: a=1\r\n") and reply:find("set%-cookie: b=2\r\n"), reply)
          assert(reply:find("HTTP/1.1 201 Created\r\n"), reply)
          assert(reply:find("transfer%-encoding: chunked\r\n"), reply)
          assert(reply:find("5\r\npart1\r\n5\r\npart2\r\n0\r\n\r\n$"), reply)
          srv:stop()
        end))
    end)
  end)

  test("every header the handler gives is written once, by its lower-case name", function(expect)
    -- More than the head's code takes one by one: the rest go through its loops.
    start({}, function()
      return "many", 200, { ["X-One"] = "1", ["x-two"] = "2", ["X-Three"] = "3", ["X-Four"] = "4",
        ["X-Five"] = { "5a", "5b" }, ["Content-Type"] = "text/plain" }
    end, function(srv)
      raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        for _, line in ipairs({ "x-one: 1", "x-two: 2", "x-three: 3", "x-four: 4", "x-five: 5a",
            "x-five: 5b", "content-type: text/plain", "content-length: 4", "connection: close" }) do
          assert(reply:find("\r\n" .. line:gsub("%-", "%%-") .. "\r\n"), line .. " in " .. reply)
        end
        assert(select(2, reply:gsub("content%-type", "")) == 1, reply)
        assert(select(2, reply:gsub("\r\ndate: ", "")) == 1, reply)
        assert(reply:find("\r\n\r\nmany$"), reply)
        srv:stop()
      end))
    end)
  end)

  test("the server's own headers: length, framing and connection its, date and vary the handler's", function(expect)
    local big = string.rep("compress me please ", 500)
    start({}, function(method, query)
      if query == "/304" then
        return nil, 304, { ["Content-Length"] = "42", ETag = '"v1"' }
      end
      return big, 200, { ["Content-Length"] = "3", ["Transfer-Encoding"] = "gzip", Connection = "upgrade",
        Date = "Tue, 01 Jan 2030 00:00:00 GMT", Vary = "Cookie", ["content-type"] = "text/plain" }
    end, function(srv)
      raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        expect(function(reply)
          local head, rest = reply:match("^(.-\r\n\r\n)(.*)$")
          local length = tonumber(head:match("\r\ncontent%-length: (%d+)\r\n"))
          assert(length and zlib.gunzip(rest:sub(1, length)) == big, head)
          for _, line in ipairs({ "content-encoding: gzip", "vary: Cookie, Accept-Encoding",
              "date: Tue, 01 Jan 2030 00:00:00 GMT", "connection: keep-alive", "content-type: text/plain" }) do
            assert(head:find("\r\n" .. line:gsub("%-", "%%-") .. "\r\n", 1), line .. " in " .. head)
          end
          for name, times in pairs({ ["content-length"] = 1, ["transfer-encoding"] = 0, connection = 1, date = 1, vary = 1 }) do
            local found = select(2, head:gsub("\r\n" .. name:gsub("%-", "%%-") .. ":", ""))
            assert(found == times, name .. " " .. times .. " time(s) in " .. head)
          end
          -- A 304 keeps the length the handler says, and has no body.
          local second = rest:sub(length + 1)
          assert(second:find("^HTTP/1.1 304 ") and second:find("\r\ncontent%-length: 42\r\n")
            and second:find('\r\netag: "v1"\r\n') and second:sub(-4) == "\r\n\r\n", second)
          srv:stop()
        end))
    end)
  end)

  test("HEAD sends headers only, with the body's length", function(expect)
    start({}, function() return "twelve bytes" end, function(srv)
      raw(srv.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        assert(reply:find("content%-length: 12\r\n"), reply)
        assert(reply:sub(-4) == "\r\n\r\n", reply)
        srv:stop()
      end))
    end)
  end)

  test("gzip and deflate by Accept-Encoding q-values", function(expect)
    local big = string.rep("compress me please ", 500)
    start({}, function(method, query)
      if query == "/small" then return "tiny", 200, { ["content-type"] = "text/plain" } end
      if query == "/png" then return big, 200, { ["content-type"] = "image/png" } end
      return big, 200, { ["content-type"] = "text/plain; charset=utf-8" }
    end, function(srv)
      local function get(path, accept, check)
        raw(srv.port, "GET " .. path .. " HTTP/1.1\r\nHost: x\r\nAccept-Encoding: " .. accept .. "\r\nConnection: close\r\n\r\n",
          expect(function(reply)
            local head, body = reply:match("^(.-\r\n\r\n)(.*)$")
            check(head, body)
          end))
      end
      get("/", "gzip, deflate", function(head, body)
        assert(head:find("content%-encoding: gzip\r\n") and head:find("vary: Accept%-Encoding\r\n"), head)
        assert(zlib.gunzip(body) == big)
      end)
      get("/", "deflate;q=1, gzip;q=0.5", function(head, body)
        assert(head:find("content%-encoding: deflate\r\n"), head)
        assert(zlib.inflate(body) == big)
      end)
      get("/", "gzip;q=0, deflate;q=0", function(head, body)
        assert(not head:find("content%-encoding"), head)
        assert(body == big)
      end)
      get("/small", "gzip", function(head, body)
        assert(not head:find("content%-encoding") and body == "tiny", head)
      end)
      get("/png", "gzip", function(head)
        assert(not head:find("content%-encoding"), head)
        timer.setTimeout(50, function() srv:stop() end)
      end)
    end)
  end)

  test("handler errors give 500 and the server carries on", function(expect)
    start({ log_level = "error" }, function(method, query)
      if query == "/boom" then error("handler exploded") end
      return "fine"
    end, function(srv)
      raw(srv.port, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        expect(function(reply)
          assert(reply:find("^HTTP/1.1 500 "), reply)
          assert(reply:find("HTTP/1.1 200 OK.-fine$"), reply)
          srv:stop()
        end))
    end)
  end)

  test("an error in the server's part of a request gives 500, and the server carries on", function(expect)
    -- A body whose tostring raises fails in process_request, after the handler.
    local bad = setmetatable({}, { __tostring = function() error("no text for this body") end })
    start({ log_level = "error" }, function(method, query)
      if query == "/bad" then return bad, 200, { ["x-leak"] = "1" } end
      return "fine", 200, { ["content-type"] = "text/plain" }
    end, function(srv)
      raw(srv.port, "GET /bad HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 500 ") and reply:find("Connection: close\r\n"), reply)
        raw(srv.port, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply2)
          assert(reply2:find("^HTTP/1.1 200 OK.-fine$"), reply2)
          assert(not reply2:find("x%-leak"), "the failed response's headers stay behind: " .. reply2)
          srv:stop()
        end))
      end))
    end)
  end)

  test("max_body_size gives 413", function(expect)
    start({ max_body_size = 10 }, echo, function(srv)
      raw(srv.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890", expect(function(reply)
        assert(reply:find("^HTTP/1.1 413 "), reply)
        srv:stop()
      end))
    end)
  end)

  test("requests_per_connection ends with Connection: close", function(expect)
    start({ requests_per_connection = 2 }, echo, function(srv)
      raw(srv.port, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
        expect(function(reply)
          local _, n = reply:gsub("HTTP/1.1 200 OK", "")
          assert(n == 2, reply)
          assert(reply:find("connection: keep%-alive\r\n") and reply:find("connection: close\r\n"), reply)
          srv:stop()
        end))
    end)
  end)

  test("all-nil return means proxied: nothing written, connection kept", function(expect)
    start({}, function(method, query, args, headers, body, ctx)
      if query == "/proxy" then
        ctx.client:write("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")
        return
      end
      return "after"
    end, function(srv)
      raw(srv.port, "GET /proxy HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        expect(function(reply)
          assert(reply:find("^HTTP/1.1 200 OK\r\nContent%-Length: 7\r\n\r\nproxied"), reply)
          assert(reply:find("after$"), reply)
          srv:stop()
        end))
    end)
  end)

  test("slowloris: the head timeout covers the whole head", function(expect)
    start({ request_header_timeout = 0.2, keepalive_idle_timeout = 5 }, echo, function(srv)
      local started = require('uv').now()
      local c
      local t
      c = net.connect(srv.port, "127.0.0.1", function()
        t = timer.setInterval(40, function() c:write("G") end)
      end)
      c:on('data', function() end)
      c:on('error', function() end)
      c:on('close', expect(function()
        timer.clearInterval(t)
        local elapsed = require('uv').now() - started
        assert(elapsed < 1500, "cut after " .. elapsed .. " ms")
        srv:stop()
      end))
      c:on('end', function() c:destroy() end)
    end)
  end)

  test("process_request takes the raw tcp handle of an accepted connection (the seed's API)", function(expect)
    local uv = require('uv')
    local srv = assert(hserver.new({ port = 0, log_level = "error" }, echo))
    local listener = uv.new_tcp()
    assert(listener:bind("127.0.0.1", 0))
    assert(listener:listen(16, function()
      local h = uv.new_tcp()
      assert(listener:accept(h))
      -- Two requests on one keep-alive connection, each through process_request.
      local count = 0
      while true do
        count = count + 1
        local state = srv:process_request(h, "127.0.0.1", count)
        if state ~= "keep-alive" then break end
      end
      -- (A close would cancel the response still queued: end the writing side first.)
      h:shutdown(function() h:close() end)
    end))
    local port = listener:getsockname().port
    raw(port, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      expect(function(reply)
        assert(reply:find("GET /one %[%] <nil>"), reply)
        assert(reply:find("GET /two %[%] <nil>"), reply)
        listener:close()
        srv:stop()
      end))
  end)

  test("connection_limit counts established connections: the one over it gets 503", function(expect)
    start({ connection_limit = 3 }, echo, function(srv)
      -- Three keep-alive connections, each past its first request, fill the limit.
      local held, answered = {}, 0
      for i = 1, 3 do
        local c = net.connect(srv.port, "127.0.0.1")
        held[i] = c
        c:on('error', function() end)
        c:on('data', function()
          answered = answered + 1
        end)
        c:write("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
      end
      timer.setTimeout(100, function()
        assert(answered == 3, answered)
        raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply)
          assert(reply:find("^HTTP/1.1 503 "), reply)
          for _, c in ipairs(held) do c:destroy() end
          -- and once they are gone, a new connection is served
          timer.setTimeout(30, function()
            raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(r2)
              assert(r2:find("^HTTP/1.1 200"), r2)
              srv:stop()
            end))
          end)
        end))
      end)
    end)
  end)

  test("slow or silent connections cannot keep a real client out (pending_limit)", function(expect)
    start({ connection_limit = 4, pending_limit = 8 }, echo, function(srv)
      -- Fifty connections that never send a whole head (slowloris), far over both limits.
      local slow = {}
      for i = 1, 50 do
        slow[i] = net.connect(srv.port, "127.0.0.1", function() end)
        slow[i]:on('error', function() end)
        slow[i]:write("GET / HTTP/1.1\r\nHost: x\r\n")
      end
      timer.setTimeout(100, function()
        -- A real client is served at once, every time.
        local served = 0
        local function one(n)
          if n > 5 then
            for _, c in ipairs(slow) do c:destroy() end
            assert(served == 5)
            return srv:stop()
          end
          raw(srv.port, "GET /real HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
            assert(reply:find("^HTTP/1.1 200") and reply:find("GET /real"), reply)
            served = served + 1
            one(n + 1)
          end))
        end
        one(1)
      end)
    end)
  end)

  test("stop() lets the request in flight finish, then serve returns", function(expect)
    local srv = assert(hserver.new({ port = 0, log_level = "error" }, function()
      timer.sleep(50)
      return "slow but complete"
    end))
    local returned = false
    timer.setImmediate(function()
      srv:serve()
      returned = true
    end)
    timer.setTimeout(5, function()
      raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply)
        assert(reply:find("slow but complete$"), reply)
        assert(reply:find("connection: close\r\n"), reply)
      end), "complete$")
      timer.setTimeout(10, function()
        srv:stop()
        assert(not returned, "serve waits for the request in flight")
      end)
      timer.setTimeout(200, expect(function() assert(returned, "serve returned") end))
    end)
  end)

  test("serve reports a bind failure", function(expect)
    local a = net.createServer()
    a:listen(0, "127.0.0.1", function()
      local srv = assert(hserver.new({ port = a:address().port, log_level = "error" }))
      local r, err = srv:serve()
      assert(r == nil and err and err:find("EADDRINUSE"), tostring(err))
      a:close()
    end)
    timer.setTimeout(20, expect(function() end))
  end)
end)

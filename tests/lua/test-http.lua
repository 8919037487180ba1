local http = require('http')
local net = require('net')
local timer = require('timer')

local helpers = require('./helpers')
local serve, raw = helpers.serve, helpers.raw

local function hello(req, res)
  local body = "Hello world\n"
  res:writeHead(200, { ["Content-Type"] = "text/plain", ["Content-Length"] = #body })
  res:finish(body)
end

require('tap')(function(test)
  test("GET with the node-style client", function(expect)
    serve(hello, function(port, server)
      http.get("http://127.0.0.1:" .. port .. "/path?x=1", expect(function(res)
        assert(res.statusCode == 200, res.statusCode)
        assert(res.headers["content-type"] == "text/plain")
        assert(res.headers["content-length"] == "12")
        assert(res.headers["date"]:find("GMT$"), res.headers["date"])
        local body = {}
        res:on('data', function(c) body[#body + 1] = c end)
        res:on('end', expect(function()
          assert(table.concat(body) == "Hello world\n")
          server:close()
        end))
      end))
    end)
  end)

  test("request fields: method, url, path, headers, httpVersion", function(expect)
    serve(expect(function(req, res)
      -- rawHeaders first: the header tables are made on first use, either one first.
      assert(req.rawHeaders[3] == "X-One" and req.rawHeaders[4] == "1", tostring(req.rawHeaders[3]))
      assert(req.headers["x-pad"] == "v", "values are trimmed: " .. tostring(req.headers["x-pad"]))
      assert(req.method == "POST" and req.url == "/a/b?c=d" and req.path == "/a/b", req.url)
      assert(req.httpVersion == "1.1")
      assert(req.headers["x-one"] == "1, 2", tostring(req.headers["x-one"]))
      assert(type(req.headers["set-cookie"]) == "table" and #req.headers["set-cookie"] == 2)
      assert(req.rawHeaders[1] == "Host")
      -- made on first read: the socket under its other name, on both sides
      assert(req.connection == req.socket and req.socket ~= nil)
      assert(res.connection == res.socket and res.socket == req.socket)
      -- a status message set before writeHead stays when writeHead gives none
      res.statusMessage = "Fine"
      res:writeHead(200)
      res:finish()
    end), function(port, server)
      raw(port, "POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nX-One: 1\r\nx-one: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Pad:  v \r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        expect(function(reply)
          assert(reply:find("^HTTP/1.1 200 Fine\r\n"), reply)
          assert(reply:find("Content%-Length: 0\r\n"), reply)
          server:close()
        end))
    end)
  end)

  test("keep-alive: the agent reuses one connection", function(expect)
    local connections = 0
    local server
    server = serve(hello, function(port)
      local n = 0
      local function one()
        http.get({ host = "127.0.0.1", port = port, path = "/" }, function(res)
          res:on('data', function() end)
          res:on('end', function()
            n = n + 1
            if n < 3 then return one() end
            assert(connections == 1, "connections: " .. connections)
            server:close()
          end)
        end)
      end
      one()
    end)
    server:on('connection', function() connections = connections + 1 end)
    timer.setTimeout(1, expect(function() end))
  end)

  test("chunked response", function(expect)
    serve(function(req, res)
      res:writeHead(200, { ["Content-Type"] = "text/plain" })
      res:write("hello ")
      res:write("chunked ")
      res:finish("world")
    end, function(port, server)
      raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        assert(reply:find("Transfer%-Encoding: chunked\r\n"), reply)
        assert(reply:find("\r\n\r\n6\r\nhello \r\n8\r\nchunked \r\n5\r\nworld\r\n0\r\n\r\n$"), reply)
        server:close()
      end))
    end)
  end)

  test("chunked request from the client, echoed back", function(expect)
    serve(function(req, res)
      local parts = {}
      req:on('data', function(c) parts[#parts + 1] = c end)
      req:on('end', function()
        res:finish(table.concat(parts))
      end)
    end, function(port, server)
      local req = http.request({ host = "127.0.0.1", port = port, method = "POST", path = "/echo" }, expect(function(res)
        local got = {}
        res:on('data', function(c) got[#got + 1] = c end)
        res:on('end', expect(function()
          assert(table.concat(got) == "one two three", table.concat(got))
          server:close()
        end))
      end))
      req:write("one ")
      req:write("two ")
      req:finish("three")
    end)
  end)

  test("a body read late still arrives, and a GET's 'end' still fires", function(expect)
    serve(function(req, res)
      -- Nobody touches the body until well after the request has ended.
      timer.setTimeout(20, function()
        local parts = {}
        req:on('data', function(c) parts[#parts + 1] = c end)
        req:on('end', function() res:finish(req.method .. ":" .. table.concat(parts)) end)
      end)
    end, function(port, server)
      local pending = 2
      local function done() pending = pending - 1 if pending == 0 then server:close() end end
      local post = http.request({ host = "127.0.0.1", port = port, method = "POST", path = "/" }, expect(function(res)
        local got = {}
        res:on('data', function(c) got[#got + 1] = c end)
        res:on('end', expect(function()
          assert(table.concat(got) == "POST:late body", table.concat(got))
          done()
        end))
      end))
      post:finish("late body")
      http.get({ host = "127.0.0.1", port = port, path = "/", agent = false }, expect(function(res)
        local got = {}
        res:on('data', function(c) got[#got + 1] = c end)
        res:on('end', expect(function()
          assert(table.concat(got) == "GET:", table.concat(got))
          done()
        end))
      end))
    end)
  end)

  test("1 MiB POST echo", function(expect)
    local size = 1024 * 1024
    serve(function(req, res)
      local parts = {}
      req:on('data', function(c) parts[#parts + 1] = c end)
      req:on('end', function()
        local body = table.concat(parts)
        res:writeHead(200, { ["Content-Length"] = #body })
        res:finish(body)
      end)
    end, function(port, server)
      local payload = string.rep("0123456789abcdef", size / 16)
      local req = http.request({ host = "127.0.0.1", port = port, method = "POST",
        headers = { { "Content-Length", tostring(size) } } }, expect(function(res)
        local got = {}
        res:on('data', function(c) got[#got + 1] = c end)
        res:on('end', expect(function()
          local body = table.concat(got)
          assert(#body == size, #body)
          assert(body == payload, "body differs")
          server:close()
        end))
      end))
      req:finish(payload)
    end)
  end)

  test("pipelined requests are answered in order", function(expect)
    serve(function(req, res)
      -- The first answer is the slowest: order must still hold.
      local delay = req.url == "/1" and 20 or 0
      timer.setTimeout(delay, function() res:finish(req.url) end)
    end, function(port, server)
      local reqs = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
      raw(port, reqs, expect(function(reply)
        local bodies = {}
        for body in reply:gmatch("\r\n\r\n(/%d)") do bodies[#bodies + 1] = body end
        assert(table.concat(bodies, ",") == "/1,/2,/3", reply)
        server:close()
      end))
    end)
  end)

  test("Date: the current second, renewed when the second ends", function(expect)
    local request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    local function dateOf(reply)
      local date = reply:match("\r\nDate: ([^\r]+)\r\n")
      assert(date, reply)
      return date
    end
    -- The header must be the wall clock's second: this one, or the one before if the
    -- second turned between the response and this check.
    local function current(date)
      local now = os.time()
      for t = now - 1, now do
        if date == os.date("!%a, %d %b %Y %H:%M:%S GMT", t) then return true end
      end
      return false
    end
    serve(hello, function(port, server)
      raw(port, request, expect(function(first)
        local d1 = dateOf(first)
        assert(current(d1), d1)
        require('timer').setTimeout(1100, expect(function()
          raw(port, request, expect(function(second)
            local d2 = dateOf(second)
            assert(d2 ~= d1, "the Date was not renewed: " .. d2)
            assert(current(d2), d2)
            server:close()
          end))
        end))
      end))
    end)
  end)

  test("HEAD sends headers only", function(expect)
    serve(hello, function(port, server)
      raw(port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        assert(reply:find("Content%-Length: 12\r\n"), reply)
        assert(reply:sub(-4) == "\r\n\r\n", "no body: " .. reply)
        server:close()
      end))
    end)
  end)

  test("Expect: 100-continue is answered", function(expect)
    serve(function(req, res)
      local parts = {}
      req:on('data', function(c) parts[#parts + 1] = c end)
      req:on('end', function() res:finish("got " .. table.concat(parts)) end)
    end, function(port, server)
      local c
      local stage = 0
      local got = ""
      c = net.connect(port, "127.0.0.1", function()
        c:write("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
      end)
      c:on('data', function(d)
        got = got .. d
        if stage == 0 and got:find("^HTTP/1.1 100 Continue\r\n\r\n") then
          stage = 1
          c:write("body")
        end
      end)
      c:on('end', expect(function()
        assert(stage == 1, got)
        assert(got:find("got body$"), got)
        c:destroy()
        server:close()
      end))
    end)
  end)

  test("a handler error gives 500, and the next request works", function(expect)
    serve(function(req, res)
      if req.url == "/boom" then error("kaboom") end
      hello(req, res)
    end, function(port, server)
      raw(port, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 500 Internal Server Error\r\n"), reply)
        assert(reply:find("Connection: close\r\n"), reply)
        raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply2)
          assert(reply2:find("^HTTP/1.1 200 OK"), reply2)
          server:close()
        end))
      end))
    end)
  end)

  test("bad requests get 400 and Connection: close", function(expect)
    serve(hello, function(port, server)
      local cases = {
        "GET / HTTP/1.1\nHost: x\n\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
      }
      local left = #cases
      for _, case in ipairs(cases) do
        raw(port, case, expect(function(reply)
          assert(reply:find("^HTTP/1.1 400 Bad Request\r\n"), case .. " -> " .. reply)
          assert(reply:find("Connection: close\r\n"), reply)
          left = left - 1
          if left == 0 then server:close() end
        end))
      end
    end)
  end)

  test("oversized heads: 431 for headers, 414 for the URI", function(expect)
    serve(hello, function(port, server)
      raw(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " .. string.rep("a", 9000) .. "\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 431 "), reply:sub(1, 40))
        raw(port, "GET /" .. string.rep("u", 9000) .. " HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply2)
          assert(reply2:find("^HTTP/1.1 414 "), reply2:sub(1, 40))
          server:close()
        end))
      end))
    end)
  end)

  test("headersTimeout closes a silent or trickling connection", function(expect)
    local server = http.createServer(hello)
    server.headersTimeout = 150
    server:listen(0, "127.0.0.1", function()
      local port = server:address().port
      local start = require('uv').now()
      -- Trickle one byte every 50 ms: each read is quick, the head never completes.
      local c
      local t
      c = net.connect(port, "127.0.0.1", function()
        t = timer.setInterval(50, function() c:write("G") end)
      end)
      c:on('data', function() end)
      c:on('error', function() end)
      c:on('close', expect(function()
        timer.clearInterval(t)
        local elapsed = require('uv').now() - start
        assert(elapsed < 2000, "closed after " .. elapsed .. " ms")
        server:close()
      end))
      c:on('end', function() c:destroy() end)
    end)
  end)

  test("an idle keep-alive connection serves its next request, and close() ends it", function(expect)
    local server = http.createServer(hello)
    local connections = 0
    server:on('connection', function() connections = connections + 1 end)
    server:listen(0, "127.0.0.1", function()
      local port = server:address().port
      local got, responses = "", 0
      local c
      c = net.connect(port, "127.0.0.1", function()
        c:write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
      end)
      c:on('data', function(chunk)
        got = got .. chunk
        local _, n = got:gsub("Hello world\n", "")
        if n > responses then
          responses = n
          if n == 1 then
            -- Idle for a while (the server holds no coroutine meanwhile), then again.
            timer.setTimeout(30, function() c:write("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n") end)
          else
            server:close()
          end
        end
      end)
      c:on('end', function() c:destroy() end)
      c:on('close', expect(function()
        assert(responses == 2, "responses: " .. responses)
        assert(connections == 1, "connections: " .. connections)
      end))
    end)
  end)

  test("HTTP/1.0 closes after the response", function(expect)
    serve(function(req, res)
      res:write("no length on 1.0: ")
      res:finish("close delimits")
    end, function(port, server)
      raw(port, "GET / HTTP/1.0\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 200 OK"), reply)
        assert(not reply:find("chunked"), reply)
        assert(reply:find("Connection: close\r\n"), reply)
        assert(reply:find("no length on 1.0: close delimits$"), reply)
        server:close()
      end))
    end)
  end)

  test("client: ECONNREFUSED is an 'error' event", function(expect)
    local probe = net.createServer()
    probe:listen(0, "127.0.0.1", function()
      local port = probe:address().port
      probe:close(function()
        local req = http.get({ host = "127.0.0.1", port = port }, function() error("no response expected") end)
        req:on('error', expect(function(err)
          assert(err.code == "ECONNREFUSED", tostring(err))
        end))
      end)
    end)
  end)

  test("a client that disconnects mid-request: 'aborted', and the server goes on", function(expect)
    local server
    local aborted = expect(function() end)
    server = serve(function(req, res)
      if req.method == "POST" then
        req:on('aborted', aborted)
        req:on('data', function() end)
      end
    end, function(port)
      local c
      c = net.connect(port, "127.0.0.1", function()
        c:write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
        timer.setTimeout(20, function()
          c:destroy()
          timer.setTimeout(20, function()
            raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
              assert(reply:find("^HTTP/1.1 200"), reply)
              server:close()
            end))
          end)
        end)
      end)
      c:on('error', function() end)
    end)
    server:on('request', function(req, res)
      if req.method == "GET" then hello(req, res) end
    end)
  end)

  test("setHeader, getHeader, removeHeader, statusCode", function(expect)
    serve(function(req, res)
      res.statusCode = 201
      res:setHeader("X-Keep", "yes")
      res:setHeader("X-Drop", "no")
      assert(res:getHeader("x-keep") == "yes")
      res:removeHeader("X-DROP")
      res:setHeader("Set-Cookie", { "a=1", "b=2" })
      res:finish("made")
    end, function(port, server)
      raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 201 Created\r\n"), reply)
        assert(reply:find("X%-Keep: yes\r\n") and not reply:find("X%-Drop"), reply)
        assert(reply:find("Set%-Cookie: a=1\r\nSet%-Cookie: b=2\r\n") or reply:find("Set%-Cookie: a=1\r\n"), reply)
        server:close()
      end))
    end)
  end)

  test("writeHead headers: as given, merged with setHeader, read back, as a list", function(expect)
    local n = 0
    serve(function(req, res)
      n = n + 1
      if req.url == "/given" then
        -- Only writeHead's table: kept as given, still readable with getHeader.
        res:writeHead(200, { ["X-Given"] = "1", ["Content-Length"] = 2, Connection = "close" })
        assert(res:getHeader("x-given") == "1" and res:getHeader("content-length") == 2)
        res:finish("ok")
      elseif req.url == "/merged" then
        res:setHeader("X-Set", "a")
        res:setHeader("X-Both", "from setHeader")
        res:writeHead(202, { ["x-both"] = "from writeHead", ["Connection"] = "close" })
        res:finish("merged")
      elseif req.url == "/many" then
        -- More headers than _head takes one by one: the rest go through its loop, and
        -- the ones it must know about are found wherever they are.
        res:writeHead(200, { ["X-A"] = "a", ["X-B"] = "b", ["X-C"] = "c", ["X-D"] = "d",
          ["X-E"] = "e", ["X-F"] = "f", ["Content-Length"] = 4, Connection = "close" })
        res:finish("many")
      else
        -- luvit's list of { name, value } pairs; a header added after writeHead.
        res:writeHead(200, { { "X-List", "L" }, { "Connection", "close" } })
        res:setHeader("X-Late", "yes")
        res:finish()
      end
    end, function(port, server)
      raw(port, "GET /given HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 200 OK\r\n"), reply)
        assert(reply:find("X%-Given: 1\r\n") and reply:find("Content%-Length: 2\r\n"), reply)
        assert(select(2, reply:gsub("Content%-Length", "")) == 1, "one Content-Length: " .. reply)
        assert(reply:find("Connection: close\r\n") and reply:find("\r\n\r\nok$"), reply)
        raw(port, "GET /merged HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply2)
          assert(reply2:find("^HTTP/1.1 202 Accepted\r\n"), reply2)
          assert(reply2:find("X%-Set: a\r\n"), reply2)
          assert(reply2:find("x%-both: from writeHead\r\n") and not reply2:find("from setHeader"), reply2)
          raw(port, "GET /list HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply3)
            assert(reply3:find("X%-List: L\r\n") and reply3:find("X%-Late: yes\r\n"), reply3)
            assert(reply3:find("Content%-Length: 0\r\n"), reply3)
            raw(port, "GET /many HTTP/1.1\r\nHost: x\r\n\r\n", expect(function(reply4)
              for _, l in ipairs({ "A", "B", "C", "D", "E", "F" }) do
                assert(reply4:find("X%-" .. l .. ": " .. l:lower() .. "\r\n"), reply4)
              end
              assert(select(2, reply4:gsub("Content%-Length", "")) == 1, "one Content-Length: " .. reply4)
              assert(not reply4:find("Transfer%-Encoding") and reply4:find("Connection: close\r\n"), reply4)
              assert(reply4:find("\r\n\r\nmany$"), reply4)
              assert(n == 4)
              server:close()
            end))
          end))
        end))
      end))
    end)
  end)

  test("the decoder binding: events, misuse errors, collection", function()
    local native = require('_native')
    local dec = native.http_decoder("request", 8192)
    dec:feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    local ev, complete, method, url, version, keepAlive, rawHead, flags, length = dec:next()
    assert(ev == 1 and complete == true, tostring(ev))
    assert(method == "GET" and url == "/a" and version == "1.1" and flags == 0 and length == 0)
    assert(keepAlive == true and rawHead == "Host: x\r\n\r\n", rawHead)
    ev, complete, method, url, version, keepAlive, rawHead, flags, length = dec:next()
    assert(ev == 1 and complete == false and method == "POST" and url == "/b")
    assert(version == "1.0" and keepAlive == false and length == 2 and flags == 0)
    local body
    ev, body = dec:next()
    assert(ev == 2 and body == "hi", tostring(body))
    assert(dec:next() == 3)
    -- No event: nil, and whether nothing of the next message has come (idle).
    local none, idle = dec:next()
    assert(none == nil and idle == true and dec:idle() == true and dec:buffered() == 0)
    dec:feed("GE")
    none, idle = dec:next()
    assert(none == nil and idle == false and dec:idle() == false, tostring(idle))
    dec:feed("T / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert(dec:next() == 1 and dec:next() == nil)
    -- Flags: 2 for Expect: 100-continue, 4 for a chunked body; a response's status.
    dec:feed("PUT /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
    ev, complete, method, url, version, keepAlive, rawHead, flags, length = dec:next()
    assert(ev == 1 and not complete and flags == 2 + 4 and length == nil, tostring(flags))
    local rdec = native.http_decoder("response")
    rdec:feed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    local rev, rcomplete, status, reason = rdec:next()
    assert(rev == 1 and rcomplete == true and status == 404 and reason == "Not Found", tostring(reason))
    local ok, err = pcall(dec.next)
    assert(not ok and err:find("stardust.http_decoder expected"), err)
    ok, err = pcall(dec.idle, io.stdout)
    assert(not ok and err:find("stardust.http_decoder expected"), err)
    ok, err = pcall(native.http_decoder, "neither")
    assert(not ok and err:find('mode must be "request" or "response"'), err)
    ok, err = pcall(native.http_decoder, "request", "big")
    assert(not ok and err:find("number expected"), err)
    -- http_headers: lower-case keys (a long name too), repeats joined, set-cookie a
    -- list, and rawHeaders as sent only when asked for.
    local long = "X-" .. ("Long"):rep(20)
    local block = "Host: a\r\n" .. long .. ": v\r\nSet-Cookie: a\r\nset-cookie: b\r\nAccept: x\r\nACCEPT: y\r\n\r\n"
    for _, wantRaw in ipairs({ false, true }) do
      local h, r = native.http_headers(block, wantRaw)
      assert(h.host == "a" and h[long:lower()] == "v" and h.accept == "x, y", tostring(h.accept))
      assert(h["set-cookie"][1] == "a" and h["set-cookie"][2] == "b" and h.Host == nil)
      if wantRaw then
        assert(r[1] == "Host" and r[3] == long and r[11] == "ACCEPT" and r[12] == "y", tostring(r[11]))
      else
        assert(r == nil)
      end
    end
    ok, err = pcall(native.http_headers, "no colon here\r\n\r\n")
    assert(not ok and tostring(err):find("not a header block"), tostring(err))
    local tcp = native.new_tcp()
    ok, err = pcall(tcp.try_read_into, tcp, io.stdout)
    assert(not ok and tostring(err):find("expected an http decoder"), tostring(err))
    tcp:close()
    -- Decoders are freed by the collector (1000 of them, each with a buffer).
    for _ = 1, 1000 do native.http_decoder("response"):feed(("x"):rep(1000)) end
    collectgarbage()
    collectgarbage()
  end)

  test("client setTimeout fires on a silent server", function(expect)
    local held
    serve(function(req, res) held = res end, function(port, server)
      local req = http.request({ host = "127.0.0.1", port = port, path = "/slow" }, function()
        error("no response expected")
      end)
      req:setTimeout(50, expect(function()
        req:abort()
        held:finish()
        server:close()
      end))
      req:on('error', function() end)
      req:finish()
    end)
  end)
end)

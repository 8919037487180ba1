local uv = require('uv')

-- A server on an ephemeral 127.0.0.1 port; returns the handle and the port.
local function listen(onConnection)
  local server = uv.new_tcp()
  assert(server:bind("127.0.0.1", 0))
  assert(server:listen(128, function(err)
    assert(not err, err)
    local client = uv.new_tcp()
    assert(server:accept(client))
    onConnection(client)
  end))
  return server, server:getsockname().port
end

require('tap')(function(test)
  test("echo with luv callbacks", function(expect)
    local server, port
    server, port = listen(function(client)
      client:read_start(function(err, data)
        assert(not err, err)
        if data then
          client:write(data)
        else
          client:close()
        end
      end)
    end)
    local sock = uv.new_tcp()
    sock:connect("127.0.0.1", port, expect(function(err)
      assert(not err, err)
      sock:write("hello", expect(function(werr) assert(not werr, werr) end))
      sock:read_start(expect(function(rerr, data)
        assert(not rerr, rerr)
        assert(data == "hello", tostring(data))
        sock:close()
        server:close()
      end))
    end))
  end)

  test("coroutine style: co_accept, co_read, co_write, co_shutdown", function(expect)
    local server = uv.new_tcp()
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(16))
    local port = server:getsockname().port
    -- The server side, in its own coroutine.
    require('timer').setImmediate(expect(function()
      local conn = assert(uv.co_accept(server))
      local got = {}
      while true do
        local data, err = uv.co_read(conn)
        assert(not err, err)
        if not data then break end
        got[#got + 1] = data
      end
      assert(table.concat(got) == "ping pong", table.concat(got))
      assert(uv.co_write(conn, "bye"))
      conn:close()
      server:close()
    end))
    local sock = uv.new_tcp()
    assert(uv.co_connect(sock, "127.0.0.1", port))
    assert(uv.co_write(sock, "ping "))
    assert(uv.co_write(sock, "pong"))
    assert(uv.co_shutdown(sock))
    local reply = uv.co_read(sock)
    assert(reply == "bye", tostring(reply))
    assert(uv.co_read(sock) == nil, "EOF after bye")
    sock:close()
  end)

  test("a large write is queued and flushed on writable", function(expect)
    local size = 4 * 1024 * 1024
    local received = 0
    local server
    server = listen(function(client)
      client:read_start(function(err, data)
        assert(not err, err)
        if data then
          received = received + #data
          return
        end
        -- EOF: everything the client wrote has arrived.
        client:close()
        server:close()
      end)
    end)
    local sock = uv.new_tcp()
    sock:connect("127.0.0.1", server:getsockname().port, expect(function(err)
      assert(not err, err)
      assert(sock:write(string.rep("x", size), expect(function(werr)
        assert(not werr, werr)
      end)))
      -- More than the socket buffer: some of it waits in the queue.
      assert(sock:write_queue_size() > 0, "expected a partial write")
      sock:shutdown(expect(function()
        sock:close()
      end))
    end))
    -- Runs (and so satisfies expect) only once every byte has arrived; tap's timeout
    -- fails the test otherwise.
    local check = expect(function() end, 1)
    local function poll()
      if received == size then return check() end
      require('timer').setTimeout(5, poll)
    end
    poll()
  end)

  test("close cancels every pending request with ECANCELED", function(expect)
    local server, port
    server, port = listen(function(client)
      -- The server never reads: the client's big write stays queued.
      require('timer').setTimeout(50, function() client:close() end)
    end)
    local sock = uv.new_tcp()
    sock:connect("127.0.0.1", port, expect(function(err)
      assert(not err, err)
      local function canceled(what)
        return expect(function(werr, extra)
          -- (A callback hears luv's error name alone.)
          assert(werr == "ECANCELED" and extra == nil, what .. ": " .. tostring(werr))
        end)
      end
      assert(sock:write(string.rep("x", 32 * 1024 * 1024), canceled("write")))
      assert(sock:write_queue_size() > 0, "expected a queued write")
      assert(sock:write("", canceled("empty write")))
      assert(sock:shutdown(canceled("shutdown")))
      sock:close()
      server:close()
    end))
    -- A connect canceled by close, with a callback and in a coroutine.
    local c1 = uv.new_tcp()
    assert(c1:connect("127.0.0.1", port, expect(function(err)
      assert(err == "ECANCELED", tostring(err))
    end)))
    c1:close()
    local c2 = uv.new_tcp()
    -- (Closed as the coroutine suspends, before the loop can see the connect finish.)
    uv.on_suspend(coroutine.running(), function() c2:close() end)
    local ok, err, code = uv.co_connect(c2, "127.0.0.1", port)
    assert(ok == nil and code == "ECANCELED", tostring(err))
  end)

  test("a coroutine waiting to read or accept hears ECANCELED on close", function(expect)
    local server, port
    local conns = {}
    server, port = listen(function(client) conns[#conns + 1] = client end)
    local timer = require('timer')
    local sock = uv.new_tcp()
    assert(uv.co_connect(sock, "127.0.0.1", port))
    timer.setTimeout(20, function() sock:close() end)
    local data, err, code = uv.co_read(sock)
    assert(data == nil and code == "ECANCELED", tostring(err))
    -- Close during a wait for a connection.
    local lone = uv.new_tcp()
    assert(lone:bind("127.0.0.1", 0))
    assert(lone:listen(4))
    timer.setTimeout(20, function() lone:close() end)
    local c, aerr, acode = uv.co_accept(lone)
    assert(c == nil and acode == "ECANCELED", tostring(aerr))
    for _, h in ipairs(conns) do h:close() end
    server:close()
    expect(function() end)()
  end)

  test("requests on a closed handle return EBADF and double close is quiet", function()
    local s = uv.new_tcp()
    s:close()
    s:close()
    for _, call in ipairs({
      function() return s:write("x") end,
      function() return s:queue_write("x") end,
      function() return s:shutdown() end,
      function() return s:connect("127.0.0.1", 1) end,
      function() return s:nodelay(true) end,
      function() return uv.co_write(s, "x") end,
      function() return uv.co_read(s) end,
    }) do
      local ok, err, code = call()
      assert(ok == nil and code == "EBADF", tostring(err))
    end
  end)

  test("an empty write completes only once the writes queued before it have gone out", function(expect)
    local size = 8 * 1024 * 1024
    local received = 0
    local server, port, peer
    server, port = listen(function(client)
      peer = client
    end)
    local sock = uv.new_tcp()
    sock:connect("127.0.0.1", port, expect(function(err)
      assert(not err, err)
      assert(sock:write(string.rep("x", size)))
      local queued = sock:write_queue_size()
      assert(queued > 0, "expected a queued write")
      -- Nobody reads yet, so the queue cannot drain: the empty write must wait.
      local drained = false
      assert(sock:write("", expect(function(werr)
        assert(not werr, werr)
        drained = true
        assert(sock:write_queue_size() == 0, "queue drained")
        sock:close()
      end)))
      require('timer').setTimeout(50, expect(function()
        assert(not drained, "the empty write completed before the queue drained")
        assert(sock:write_queue_size() == queued, "nothing went out while nobody read")
        peer:read_start(function(rerr, data)
          assert(not rerr, rerr)
          if data then received = received + #data else peer:close() server:close() end
        end)
      end))
    end))
  end)

  test("ECONNREFUSED arrives as luv's error name", function(expect)
    -- Find a free port, then close it so nothing listens there.
    local probe = uv.new_tcp()
    assert(probe:bind("127.0.0.1", 0))
    local port = probe:getsockname().port
    probe:close()
    local sock = uv.new_tcp()
    sock:connect("127.0.0.1", port, expect(function(err)
      assert(err == "ECONNREFUSED", tostring(err))
      sock:close()
    end))
  end)

  test("EADDRINUSE comes back as nil, message, code", function()
    local a = uv.new_tcp()
    assert(a:bind("127.0.0.1", 0))
    assert(a:listen(1))
    local port = a:getsockname().port
    local b = uv.new_tcp()
    local ok, err, code = b:bind("127.0.0.1", port)
    if ok then ok, err, code = b:listen(1) end
    assert(ok == nil and code == "EADDRINUSE", tostring(err))
    assert(err:find("^EADDRINUSE: "), err)
    a:close()
    b:close()
  end)

  test("addresses and misuse", function()
    local s = uv.new_tcp()
    local ok, err = pcall(s.bind, s, "not-an-ip", 80)
    assert(not ok and tostring(err):find("host must be an IP address"), tostring(err))
    ok, err = pcall(s.bind, s, "127.0.0.1", 70000)
    assert(not ok and tostring(err):find("port must be"), tostring(err))
    local r, msg, code = s:write("x")
    assert(r == nil and code == "ENOTCONN", tostring(msg))
    assert(uv.handle_get_type(s) == "tcp")
    ok, err = pcall(uv.close, nil)
    assert(not ok and err:find("uv.close: argument #1 must be a handle"), err)
    s:close()
  end)

  test("IPv6 loopback", function(expect)
    local server = uv.new_tcp()
    local ok = server:bind("::1", 0)
    if not ok then
      server:close()
      print("  # skipped: no IPv6 loopback here")
      return
    end
    assert(server:listen(4, expect(function()
      local c = uv.new_tcp()
      assert(server:accept(c))
      local peer = c:getpeername()
      assert(peer.family == "inet6" and peer.ip == "::1", peer.ip)
      c:close()
      server:close()
    end)))
    local sock = uv.new_tcp()
    sock:connect("::1", server:getsockname().port, expect(function(err)
      assert(not err, err)
      sock:close()
    end))
  end)

  test("walk lists live handles", function()
    local t = uv.new_timer()
    local found = false
    uv.walk(function(h) if h == t then found = true end end)
    assert(found)
    t:close()
  end)
  test("http_next: events as the socket gives them, WAIT only between messages, EOF", function(expect)
    local native = require('_native')
    local timer = require('timer')
    local server, port, sock
    server, port = listen(function(client)
      local key, gen = client:id()
      local dec = native.http_decoder("request", 8192)
      -- Nothing yet and no on_readable callback: false, even when asked to wait.
      assert(native.http_next(key, gen, dec) == false)
      assert(native.http_next(key, gen, dec, true) == false)
      local ok, msg = pcall(native.http_next, key, gen, {})
      assert(not ok and msg:find("http decoder"), msg)
      local step = 0
      client:set_on_readable(function()
        step = step + 1
        assert(step == 1, "called again: " .. step)
        -- One whole request and the start of a second came: the first, in one call.
        local ev, complete, method, url, _, _, rawHead = native.http_next(key, gen, dec, true)
        assert(ev == 1 and complete == true and method == "GET" and url == "/a", tostring(url))
        assert(rawHead == "Host: x\r\n\r\n", tostring(rawHead))
        -- Part of the next head is here, so no WAIT even with wait: false.
        assert(native.http_next(key, gen, dec, true) == false)
        sock:write("TP/1.1\r\nHost: x\r\nX-Two: a\r\nX-Two: b\r\n\r\n")
        timer.setTimeout(50, expect(function()
          -- With `tables`: the headers as native.http_headers makes them.
          local ev2, _, _, url2, _, _, hs = native.http_next(key, gen, dec, true, true)
          assert(ev2 == 1 and url2 == "/b", tostring(url2))
          assert(type(hs) == "table" and hs.host == "x" and hs["x-two"] == "a, b", tostring(hs))
          sock:shutdown()
          timer.setTimeout(50, expect(function()
            -- The peer's end, between messages: nil and no error.
            local none, err = native.http_next(key, gen, dec, true)
            assert(none == nil and err == nil, tostring(err))
            client:set_on_readable(nil)
            client:close()
            timer.setTimeout(20, expect(function()
              local gone, why, code = native.http_next(key, gen, dec)
              assert(gone == nil and code == "EBADF", tostring(why))
              sock:close()
              server:close()
            end))
          end))
        end))
      end)
      -- Between messages, with a callback: registered, WAIT.
      assert(native.http_next(key, gen, dec, true) == native.WAIT)
      sock:write("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HT")
    end)
    sock = uv.new_tcp()
    sock:connect("127.0.0.1", port, expect(function(err) assert(not err, err) end))
  end)

  test("uv.unix_time is os.time", function()
    local before = os.time()
    local t = uv.unix_time()
    assert(type(t) == "number" and t >= before and t <= os.time(), tostring(t))
  end)

  test("uv.now_fast is uv.now; uv.http_buffered_fast is decoder:buffered()", function()
    uv.update_time()
    assert(uv.now_fast() == uv.now(), uv.now_fast() .. " " .. uv.now())
    local dec = require('_native').http_decoder("request", 8192)
    assert(uv.http_buffered_fast(dec) == 0)
    dec:feed("GET / HTTP/1.1\r\n")
    assert(uv.http_buffered_fast(dec) == 16 and dec:buffered() == 16, uv.http_buffered_fast(dec))
    local ok, err = pcall(uv.http_buffered_fast, io.stdout)
    assert(not ok and err:find("must be an http decoder, got userdata"), err)
    ok, err = pcall(uv.http_buffered_fast, 42)
    assert(not ok and err:find("must be an http decoder, got number"), err)
  end)

  test("the raw hot-path functions: write, next event, misuse, stale ids", function(expect)
    local native = require('_native')
    local server, port
    server, port = listen(function(client)
      local key, gen = client:id()
      local dec = native.http_decoder("request", 8192)
      local poll
      -- The callback runs when bytes come; the head may come in pieces (WAIT again).
      client:set_on_readable(function() poll() end)
      assert(native.http_next(key, gen, dec, true) == native.WAIT)
      function poll()
        local ev, _, method, url = native.http_next(key, gen, dec, true)
        if ev == native.WAIT then return end
        if ev == false then -- part of the head: wait for the rest through the method
          assert(uv.co_read_into(client, dec))
          return poll()
        end
        assert(ev == 1 and method == "GET" and url == "/raw", tostring(url))
        -- A string goes through the FFI; both count what is queued.
        local ok1, first = uv.queue_write_fast(key, gen, "HTTP/1.1 200 OK\r\n")
        assert(ok1 == true and first == #"HTTP/1.1 200 OK\r\n", tostring(first))
        local ok2, queued = native.tcp_queue_write(key, gen, { "Content-Length: 2\r\n", "\r\nok" })
        assert(ok2 == true and queued == first + #"Content-Length: 2\r\n\r\nok", tostring(queued))
        -- Not a connected TCP handle's id (a listener's): the general path says why.
        local skey, sgen = server:id()
        local none1, err1, code1 = uv.queue_write_fast(skey, sgen, "x")
        assert(none1 == nil and code1 == "ENOTCONN" and err1 == "ENOTCONN: socket is not connected",
          tostring(err1))
        local bad2, msg2 = pcall(uv.queue_write_fast, key, gen, 42)
        assert(not bad2 and msg2:find("string or list of strings"), msg2)
        local bad, msg = pcall(native.tcp_queue_write, key, gen, 42)
        assert(not bad and msg:find("string or list of strings"), msg)
        client:set_on_readable(nil)
        assert(not pcall(client.set_on_readable, client, 5), "a number is not a callback")
        uv.close_after_flush(client)
        require('timer').setTimeout(50, expect(function()
          -- The id of a closed handle finds nothing.
          local none, err, code = uv.queue_write_fast(key, gen, "late")
          assert(none == nil and code == "EBADF" and err == "EBADF: handle is closed", tostring(err))
          none, err, code = native.tcp_queue_write(key, gen, "late")
          assert(none == nil and code == "EBADF" and err == "EBADF: handle is closed", tostring(err))
          none, err, code = native.http_next(key, gen, dec)
          assert(none == nil and code == "EBADF", tostring(err))
        end))
      end
    end)
    local sock = uv.new_tcp()
    sock:connect("127.0.0.1", port, expect(function(err)
      assert(not err, err)
      sock:write("GET /raw HTTP/1.1\r\nHost: x\r\n\r\n")
      local got = {}
      local done = expect(function()
        assert(table.concat(got) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", table.concat(got))
        sock:close()
        server:close()
      end)
      sock:read_start(function(rerr, data)
        assert(not rerr, rerr)
        if data then got[#got + 1] = data else done() end
      end)
    end))
  end)
end)

-- luvit's HTTP pieces: http-codec, http-header, and http's handleConnection,
-- parseUrl, headerMeta, flushHeaders and ServerResponse:new(socket); and the client's
-- framing and errors.
local codec = require('http-codec')
local httpHeader = require('http-header')
local http = require('http')
local net = require('net')

local raw = require('./helpers').raw

-- Runs the decoder over `input` the way luvit's http does (buffer .. chunk, loop
-- while it returns a rest), `step` bytes at a time; the events, in order.
local function decodeAll(input, step)
  local decode, buffer, events = codec.decoder(), "", {}
  for i = 1, #input, step do
    buffer = buffer .. input:sub(i, i + step - 1)
    while true do
      local event, extra = decode(buffer)
      if not extra then break end
      buffer = extra
      events[#events + 1] = event
    end
  end
  return events
end

require('tap')(function(test)
  test("http-codec encoder: heads, raw and chunked bodies, and nothing injected", function()
    local encode = codec.encoder()
    local head = encode({ code = 200, { "Content-Type", "text/plain" }, { "Transfer-Encoding", "chunked" } })
    assert(head == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", head)
    assert(encode("hello") == "5\r\nhello\r\n")
    assert(encode("") == "0\r\n\r\n")
    -- The next message: a length-framed body goes as it is.
    assert(encode({ code = 404, reason = "Gone Fishing", version = 1.0, { "Content-Length", 2 } })
      == "HTTP/1.0 404 Gone Fishing\r\nContent-Length: 2\r\n\r\n")
    assert(encode("ok") == "ok")
    local req = codec.encoder()({ method = "GET", path = "/a?b", { "Host", "x" } })
    assert(req == "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n", req)
    -- CR and LF become spaces, in values (as luvit) and everywhere else.
    local evil = codec.encoder()({ code = 200, reason = "OK\r\nX: 1", { "X-A", "a\r\nSet-Cookie: pwned=1" },
      { "B\r\nC", "d" } })
    local lines = 0
    for _ in evil:gmatch("\r\n") do lines = lines + 1 end
    assert(lines == 4, evil) -- status, two headers, blank line
    assert(not evil:find("\r\nSet%-Cookie"), evil)
    local ok, err = pcall(codec.encoder(), 42)
    assert(not ok and tostring(err):find("expected a head table"), err)
  end)

  test("http-codec decoder: luvit's events, whole or a byte at a time", function()
    local input = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      .. "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
      .. "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    for _, step in ipairs({ #input, 7, 1 }) do
      local ev = decodeAll(input, step)
      local head = ev[1]
      assert(head.method == "POST" and head.path == "/up" and head.version == 1.1 and head.keepAlive == true)
      assert(head[1][1] == "Host" and head[1][2] == "x" and head[2][1] == "Content-Length", step)
      local body, i = {}, 2
      while ev[i] ~= "" do body[#body + 1] = ev[i]; i = i + 1 end
      assert(table.concat(body) == "hello", step)
      assert(ev[i + 1].method == "GET" and ev[i + 2] == "", "a bodiless request ends with its head")
      local put = ev[i + 3]
      assert(put.method == "PUT", step)
      body, i = {}, i + 4
      while ev[i] ~= "" do body[#body + 1] = ev[i]; i = i + 1 end
      assert(table.concat(body) == "abc" and ev[i + 1] == nil, step)
    end
    -- A response whose body runs to the end of the connection.
    local decode = codec.decoder()
    local head = decode("HTTP/1.0 200 OK\r\nServer: y\r\n\r\n")
    assert(head.code == 200 and head.reason == "OK" and head.version == 1.0 and head[1][2] == "y")
    local chunk, rest = decode("")
    assert(chunk == nil and rest == nil, "needs more")
    chunk = decode("all of it")
    assert(chunk == "all of it", chunk)
    assert(decode(nil) == "", "the end of the input ends the body")
  end)

  test("http-codec decoder: bad input raises (two Host headers, smuggling)", function()
    for _, bad in ipairs({
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
    }) do
      local ok, err = pcall(codec.decoder(), bad)
      assert(not ok and tostring(err):find("^http%-codec: "), tostring(err))
    end
  end)

  test("http-header: names in any case, lists, and the table forms", function()
    local h = httpHeader.toHeaders({ ["Content-Type"] = "text/plain", { "X-A", "1" }, ["Set-Cookie"] = { "a", "b" } })
    assert(h["content-type"] == "text/plain" and h["x-a"] == "1" and h["SET-COOKIE"] == "a")
    h["x-a"] = { "2", "3" }
    local xs = {}
    for i = 1, #h do if h[i][1] == "x-a" then xs[#xs + 1] = h[i][2] end end
    assert(#xs == 2 and xs[1] == "2" and xs[2] == "3")
    h["content-type"] = nil
    assert(h["Content-Type"] == nil)
    local c = httpHeader.combineHeaders({ A = "1" }, { a = "2" }, { { "B", 3 } })
    assert(c.a == "2" and c.b == 3 and #c == 2) -- (a pair is kept as given, as luvit keeps it)
    local g = httpHeader.getHeaders({ method = "GET", { "Host", "x" } })
    assert(#g == 1 and g.host == "x" and g.method == nil)
    assert(http.headerMeta == httpHeader.headerMeta)
  end)

  test("http.handleConnection serves a socket from a net server; ServerResponse:new(socket) and flushHeaders", function(expect)
    local server = net.createServer(function(socket)
      http.handleConnection(socket, function(req, res)
        res:setHeader("X-Via", "handleConnection")
        res:flushHeaders()
        res:write("flushed ")
        res:finish("then done")
      end)
    end)
    server:listen(0, "127.0.0.1", function()
      local port = server:address().port
      raw(port, "GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect(function(reply)
        assert(reply:find("^HTTP/1.1 200 OK\r\n"), reply)
        assert(reply:find("X%-Via: handleConnection\r\n"), reply)
        assert(reply:find("Transfer%-Encoding: chunked\r\n"), reply)
        assert(reply:find("\r\n\r\n8\r\nflushed \r\n9\r\nthen done\r\n0\r\n\r\n$"), reply)
        server:close()
      end))
    end)
    -- luvit makes a response from its socket alone; it no longer raises.
    local res = http.ServerResponse:new(nil)
    assert(res.statusCode == 200 and res.headersSent == false)
  end)

  test("http.parseUrl: a URL string as request options", function()
    local o = http.parseUrl("http://127.0.0.1:8123/a/b?c=1")
    assert(o.hostname == "127.0.0.1" and o.host == "127.0.0.1" and tonumber(o.port) == 8123 and o.path == "/a/b?c=1", o.path)
    local t = { host = "x" }
    assert(http.parseUrl(t) == t)
  end)

  test("http client: a caller's Content-Length is sent alone, never with chunked", function(expect)
    local got = {}
    local server = net.createServer(function(sock)
      sock:on('data', function(d)
        got[#got + 1] = d
        if table.concat(got):find("hello$") then
          sock:finish("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        end
      end)
    end)
    server:listen(0, "127.0.0.1", function()
      local req = http.request({ host = "127.0.0.1", port = server:address().port, method = "POST", path = "/",
        headers = { { "Content-Length", "5" } } }, expect(function(res)
        res:on('data', function() end)
        res:on('end', expect(function()
          local sent = table.concat(got)
          assert(sent:find("Content%-Length: 5\r\n"), sent)
          assert(not sent:lower():find("transfer%-encoding"), sent)
          server:close()
        end))
      end))
      req:write("hel")
      req:finish("lo")
    end)
  end)

  test("http client: a malformed response emits 'error' on the request", function(expect)
    local server = net.createServer(function(sock)
      sock:on('data', function() sock:write("HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok") end)
    end)
    server:listen(0, "127.0.0.1", function()
      local req = http.request({ host = "127.0.0.1", port = server:address().port, path = "/" }, function()
        error("no response should be seen")
      end)
      req:on('error', expect(function(err)
        assert(tostring(err.code or err):find("HPE"), tostring(err))
        server:close()
      end))
      req:finish()
    end)
  end)

  test("http client: a response cut short emits 'aborted', then an error coded ECONNRESET", function(expect)
    local server = net.createServer(function(sock)
      sock:on('data', function()
        sock:write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        require('timer').setTimeout(20, function() sock:destroy() end)
      end)
    end)
    server:listen(0, "127.0.0.1", function()
      local req = http.request({ host = "127.0.0.1", port = server:address().port, path = "/" }, expect(function(res)
        local aborted = false
        res:on('data', function() end)
        res:on('aborted', function() aborted = true end)
        res:on('error', expect(function(err)
          assert(aborted, "'aborted' first")
          assert(err.code == "ECONNRESET", tostring(err.code))
          server:close()
        end))
      end))
      req:finish()
    end)
  end)

  test("http client: abort() mid-response emits 'abort' on the request and 'aborted' on the response", function(expect)
    local server = net.createServer(function(sock)
      sock:on('data', function() sock:write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial") end)
      sock:on('error', function() end)
    end)
    server:listen(0, "127.0.0.1", function()
      local req
      req = http.request({ host = "127.0.0.1", port = server:address().port, path = "/" }, expect(function(res)
        res:on('data', function() req:abort() end)
        res:on('aborted', expect(function()
          assert(req.aborted and res.aborted)
          server:close()
        end))
      end))
      req:on('abort', expect(function() end))
      req:on('error', function(err) error("an abort the script asked for is no error: " .. tostring(err)) end)
      req:finish()
    end)
  end)
end)

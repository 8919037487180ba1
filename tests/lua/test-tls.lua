local tls = require('tls')
local https = require('https')
local hserver = require('http.server')
local timer = require('timer')

local F = module.dir .. "/../fixtures/tls/"
local CA = io.open(F .. "ca.pem"):read("*a")

require('tap')(function(test)
  test("tls server and client: echo, SNI default, peer certificate", function(expect)
    local server
    server = tls.createServer({ cert = F .. "localhost.pem", key = F .. "localhost.key" }, expect(function(socket)
      assert(socket.encrypted)
      socket:on('data', function(d) socket:write("echo:" .. d) end)
      socket:on('end', function() socket:finish() end)
    end))
    server:listen(0, "127.0.0.1", function()
      local c
      c = tls.connect({ host = "127.0.0.1", port = server:address().port, servername = "localhost", ca = CA },
        expect(function()
          assert(c.authorized and c:getPeerCertificate().raw)
          assert(c:getTlsInfo().alpn == nil or c:getTlsInfo().alpn == "http/1.1")
          c:write("ping")
        end))
      c:on('data', expect(function(d)
        assert(d == "echo:ping", d)
        c:finish()
      end))
      c:on('close', expect(function() server:close() end))
    end)
  end)

  test("a client that does not trust the server fails, and the server goes on", function(expect)
    local server = tls.createServer({ cert = F .. "localhost.pem", key = F .. "localhost.key" }, function(socket)
      socket:finish("ok")
    end)
    server:listen(0, "127.0.0.1", function()
      local port = server:address().port
      -- example.com's certificate as the only CA: the chain does not verify.
      local bad = tls.connect({ host = "127.0.0.1", port = port, servername = "localhost",
        ca = io.open(F .. "example.com.pem"):read("*a") })
      bad:on('error', expect(function(err)
        assert(tostring(err):find("TLS") or err.code, tostring(err))
        local good = tls.connect({ host = "127.0.0.1", port = port, servername = "localhost", ca = CA })
        good:on('data', expect(function(d)
          assert(d == "ok")
          good:destroy()
          server:close()
        end))
      end))
    end)
  end)

  test("rejectUnauthorized = false skips verification", function(expect)
    local server = tls.createServer({ cert = F .. "localhost.pem", key = F .. "localhost.key" }, function(socket)
      socket:finish("unverified but encrypted")
    end)
    server:listen(0, "127.0.0.1", function()
      local c = tls.connect({ host = "127.0.0.1", port = server:address().port, rejectUnauthorized = false })
      c:on('data', expect(function(d)
        assert(d == "unverified but encrypted" and c.authorized == false)
        c:destroy()
        server:close()
      end))
    end)
  end)

  test("https server and client", function(expect)
    local server = https.createServer({ cert = F .. "localhost.pem", key = F .. "localhost.key" }, function(req, res)
      res:finish("secure " .. req.url)
    end)
    server:listen(0, "127.0.0.1", function()
      https.get({ host = "127.0.0.1", port = server:address().port, path = "/x", servername = "localhost", ca = CA },
        expect(function(res)
          assert(res.statusCode == 200)
          local body = {}
          res:on('data', function(c) body[#body + 1] = c end)
          res:on('end', expect(function()
            assert(table.concat(body) == "secure /x", table.concat(body))
            server:close()
          end))
        end))
    end)
  end)

  test("https: a 1 MiB POST echoed back, and keep-alive requests after it", function(expect)
    -- Many TLS records each way: no plaintext may be left behind in TLS or the socket.
    local server = https.createServer({ cert = F .. "localhost.pem", key = F .. "localhost.key" }, function(req, res)
      local parts = {}
      req:on('data', function(c) parts[#parts + 1] = c end)
      req:on('end', function() res:finish(table.concat(parts)) end)
    end)
    local agent = require("http").Agent:new({ keepAlive = true })
    local piece = ("0123456789abcdef"):rep(4096) -- 64 KiB
    local function post(port, pieces, done)
      local req = https.request({ host = "127.0.0.1", port = port, method = "POST", path = "/",
        servername = "localhost", ca = CA, agent = agent }, function(res)
        local got = {}
        res:on('data', function(c) got[#got + 1] = c end)
        res:on('end', function() done(table.concat(got)) end)
      end)
      for _ = 1, pieces do req:write(piece) end
      req:finish()
    end
    server:listen(0, "127.0.0.1", function()
      local port = server:address().port
      post(port, 16, expect(function(body)
        assert(#body == 16 * #piece and body == piece:rep(16), "1 MiB echoed, got " .. #body)
        post(port, 1, expect(function(body2)
          assert(body2 == piece, #body2)
          post(port, 0, expect(function(body3)
            assert(body3 == "", #body3)
            server:close()
          end))
        end))
      end))
    end)
  end)

  test("1 MiB written before the handshake ends arrives whole", function(expect)
    -- rustls holds plaintext written during the handshake, up to its buffer: the rest
    -- stays queued, and goes once the handshake is done.
    local uv = require('uv')
    local big = ("abcdefghijklmnop"):rep(65536)
    local server = uv.new_tcp()
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(16, function()
      local h = uv.new_tcp()
      assert(server:accept(h))
      h:tls_server(tls.serverConfig({ cert = F .. "localhost.pem", key = F .. "localhost.key" }))
      assert(h:write(big))
      -- Reading drives the handshake; the client sends nothing else.
      h:read_start(function(err, data)
        if err or not data then uv.close_after_flush(h) end
      end)
    end))
    local got, c = {}, nil
    c = tls.connect({ host = "127.0.0.1", port = server:getsockname().port, servername = "localhost", ca = CA })
    c:on('data', function(d)
      got[#got + 1] = d
      if #table.concat(got) >= #big then c:finish() end
    end)
    c:on('close', expect(function()
      local all = table.concat(got)
      assert(#all == #big and all == big, "got " .. #all .. " of " .. #big)
      server:close()
    end))
  end)

  test("http.server with ssl and SNI", function(expect)
    local srv = assert(hserver.new({ port = 0, log_level = "error", ssl = {
      default = { cert = F .. "localhost.pem", key = F .. "localhost.key" },
      hosts = { ["example.com"] = { cert = F .. "example.com.pem", key = F .. "example.com.key" } },
    } }, function(method, query) return "tls " .. query end))
    timer.setImmediate(function() srv:serve() end)
    -- serve() is listening once it first yields; the next immediate runs after that.
    -- (A short timeout raced it: on a busy machine the timer could be due first.)
    timer.setImmediate(function()
      local left = 2
      for _, name in ipairs({ "localhost", "example.com" }) do
        https.get({ host = "127.0.0.1", port = srv.port, path = "/" .. name, servername = name, ca = CA,
          agent = false }, expect(function(res)
          local info = res.socket._handle:tls_info()
          local body = {}
          res:on('data', function(c) body[#body + 1] = c end)
          res:on('end', expect(function()
            assert(table.concat(body) == "tls /" .. name)
            left = left - 1
            if left == 0 then srv:stop() end
          end))
          assert(info and info.protocol and info.peerCertificate, "a TLS session with a peer certificate")
        end))
      end
    end)
  end)

  test("http.server over TLS: the 503 past connection_limit goes out encrypted, after the handshake", function(expect)
    local srv = assert(hserver.new({ port = 0, log_level = "error", connection_limit = 1, ssl = {
      default = { cert = F .. "localhost.pem", key = F .. "localhost.key" },
    } }, function() return "ok" end))
    timer.setImmediate(function() srv:serve() end)
    timer.setImmediate(function()
      -- A connection that never handshakes does not count against the limit.
      local net = require('net')
      local stalled = net.connect(srv.port, "127.0.0.1")
      stalled:on('error', function() end)
      -- One established connection (kept alive in the agent's pool) fills the limit.
      local agent = require('http').Agent:new({ keepAlive = true })
      https.get({ host = "127.0.0.1", port = srv.port, path = "/a", servername = "localhost", ca = CA,
        agent = agent }, expect(function(res)
        assert(res.statusCode == 200, res.statusCode)
        res:on('data', function() end)
        res:on('end', expect(function()
          -- The next one is answered 503, over TLS.
          https.get({ host = "127.0.0.1", port = srv.port, path = "/b", servername = "localhost", ca = CA,
            agent = false }, expect(function(res2)
            assert(res2.statusCode == 503, res2.statusCode)
            res2:on('data', function() end)
            res2:on('end', expect(function()
              stalled:destroy()
              for _, sockets in pairs(agent.freeSockets) do
                for _, s in ipairs(sockets) do s:destroy() end
              end
              srv:stop()
            end))
          end))
        end))
      end))
    end)
  end)

  test("bad TLS configs name the file", function()
    local srv, err = hserver.new({ ssl = { default = { cert = F .. "localhost.pem", key = F .. "example.com.key" } } })
    assert(srv == nil and err:find("example.com.key", 1, true) and err:find("does not go with"), tostring(err))
    local ok, e = pcall(tls.createServer, { cert = F .. "missing.pem", key = F .. "localhost.key" })
    assert(not ok and e:find("missing.pem", 1, true), e)
  end)
end)

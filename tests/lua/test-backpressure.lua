-- Backpressure: a client that never reads must not make a server queue a whole
-- response. Both servers stream a 200 MB body in 64 KiB pieces to a client that sends
-- its request and then reads nothing; after a second the server has produced only
-- what the sockets hold plus its high-water mark, and its memory has not grown by
-- the body.
local http = require('http')
local hserver = require('http.server')
local uv = require('uv')
local timer = require('timer')
local native = require('_native')

local MB = 1024 * 1024
local TOTAL = 200 * MB
local PIECE = string.rep("x", 64 * 1024)

-- A client that sends one GET and never reads; returns its handle.
local function stalledClient(port)
  local c = uv.new_tcp()
  assert(uv.co_connect(c, "127.0.0.1", port))
  assert(uv.co_write(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
  return c
end

-- After a second of the stall: what the server produced (bytes), and its RSS growth.
local function measure(produced, rssBefore, done)
  timer.setTimeout(1000, function()
    done(produced(), native.rss() - rssBefore)
  end)
end

require('tap')(function(test)
  test("http: res:write returns false past the high-water mark and waits for 'drain'", function(expect)
    local produced, falses = 0, 0
    local server
    server = http.createServer(function(req, res)
      res:writeHead(200, { ["Content-Length"] = tostring(TOTAL) })
      local function pump()
        while produced < TOTAL do
          produced = produced + #PIECE
          if not res:write(PIECE) then
            falses = falses + 1
            return res:once('drain', pump)
          end
        end
        res:finish()
      end
      pump()
    end)
    server:listen(0, "127.0.0.1", expect(function()
      timer.setImmediate(function()
        collectgarbage()
        local before = native.rss()
        local c = stalledClient(server:address().port)
        measure(function() return produced end, before, expect(function(bytes, growth)
          assert(falses > 0, "res:write never returned false")
          -- The sockets hold a few MB (both ends' buffers); the rest must wait.
          assert(bytes < 24 * MB, ("produced %.1f MB for a client that reads nothing"):format(bytes / MB))
          assert(growth < 8 * MB, ("RSS grew by %.1f MB"):format(growth / MB))
          c:close()
          server:close()
        end))
      end)
    end))
  end)

  test("http.server: a streamed body waits for the socket", function(expect)
    local produced = 0
    local srv = assert(hserver.new({ port = 0, log_level = "error" }, function()
      local function content()
        if produced >= TOTAL then return nil end
        produced = produced + #PIECE
        return PIECE
      end
      return content, 200, { ["Content-Type"] = "application/octet-stream" }
    end))
    timer.setImmediate(function() srv:serve() end)
    timer.setImmediate(expect(function()
      collectgarbage()
      local before = native.rss()
      local c = stalledClient(srv.port)
      measure(function() return produced end, before, expect(function(bytes, growth)
        assert(bytes < 24 * MB, ("produced %.1f MB for a client that reads nothing"):format(bytes / MB))
        assert(growth < 8 * MB, ("RSS grew by %.1f MB"):format(growth / MB))
        c:close()
        srv:stop()
      end))
    end))
  end)
end)

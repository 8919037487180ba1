-- uv.getaddrinfo and uv.getnameinfo (bindings/dns.rs): at once without a callback,
-- on the thread pool with one, and in a coroutine. Only local names are looked up.
local uv = require('uv')

local function hasAddr(list, ip)
  for _, a in ipairs(list) do
    if a.addr == ip then return a end
  end
end

require('tap')(function(test)
  test("synchronous: localhost, with hints", function()
    local res = assert(uv.getaddrinfo("localhost", "80", { family = "inet", socktype = "stream" }))
    local a = assert(hasAddr(res, "127.0.0.1"), "127.0.0.1 for localhost")
    assert(a.port == 80 and a.family == "inet" and a.socktype == "stream" and a.protocol == "tcp")
    -- A numeric host never queries a name server.
    res = assert(uv.getaddrinfo("::1", nil, { numerichost = true }))
    assert(hasAddr(res, "::1") and res[1].family == "inet6")
  end)

  test("a failure is nil, message, EAI code", function()
    local res, err, code = uv.getaddrinfo("not-an-address", nil, { numerichost = true })
    assert(res == nil and code == "EAI_NONAME", tostring(err))
    assert(err:find("^EAI_NONAME: "), err)
    local ok, merr = pcall(uv.getaddrinfo, nil, nil)
    assert(not ok and tostring(merr):find("host or a service"), tostring(merr))
  end)

  test("with a callback, on the pool", function(expect)
    assert(uv.getaddrinfo("127.0.0.1", "8080", { socktype = "stream" }, expect(function(err, res)
      assert(not err, err)
      assert(res[1].addr == "127.0.0.1" and res[1].port == 8080)
    end)))
    uv.getaddrinfo("nope", nil, { numerichost = true }, expect(function(err, res)
      assert(err and err:find("^EAI_NONAME"), tostring(err))
      assert(res == nil)
    end))
  end)

  test("in a coroutine: co_getaddrinfo and co_getnameinfo", function()
    local res = assert(uv.co_getaddrinfo("localhost", nil, { family = "inet" }))
    assert(hasAddr(res, "127.0.0.1"))
    local none, err, code = uv.co_getaddrinfo("x", nil, { numerichost = true })
    assert(none == nil and code == "EAI_NONAME", tostring(err))
    local host, service = assert(uv.co_getnameinfo({ ip = "127.0.0.1", port = 80 }))
    assert(type(host) == "string" and #host > 0, tostring(host))
    assert(service == "http" or service == "80", tostring(service))
    host, service = uv.getnameinfo({ ip = "127.0.0.1", port = 22 })
    assert(service == "ssh" or service == "22", tostring(service))
  end)
end)

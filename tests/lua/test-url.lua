-- url and querystring, as luvit has them.
local url = require('url')
local qs = require('querystring')

require('tap')(function(test)
  test("url.parse gives the protocol without its colon (luvit)", function()
    local u = url.parse("https://user@Example.com:8443/a/b?x=1#top")
    assert(u.protocol == "https", u.protocol)
    assert(u.hostname == "example.com" and u.port == "8443" and u.pathname == "/a/b", u.pathname)
    assert(u.search == "?x=1" and u.query == "x=1" and u.hash == "#top" and u.auth == "user")
    assert(url.format(u) == "https://user@example.com:8443/a/b?x=1#top", url.format(u))
    -- format takes a protocol with its colon too (node's form).
    assert(url.format({ protocol = "http:", host = "h", pathname = "/p" }) == "http://h/p")
    assert(url.format({ protocol = "mailto", pathname = "x@y" }) == "mailto:x@y")
  end)

  test("url.resolve and resolveObject: RFC 3986's examples", function()
    local base = "http://a/b/c/d;p?q"
    local cases = {
      { "g:h", "g:h" }, { "g", "http://a/b/c/g" }, { "./g", "http://a/b/c/g" }, { "g/", "http://a/b/c/g/" },
      { "/g", "http://a/g" }, { "//g", "http://g/" }, { "?y", "http://a/b/c/d;p?y" },
      { "g?y", "http://a/b/c/g?y" }, { "#s", "http://a/b/c/d;p?q#s" }, { "g#s", "http://a/b/c/g#s" },
      { "", "http://a/b/c/d;p?q" }, { ".", "http://a/b/c/" }, { "./", "http://a/b/c/" },
      { "..", "http://a/b/" }, { "../", "http://a/b/" }, { "../g", "http://a/b/g" }, { "../..", "http://a/" },
      { "../../g", "http://a/g" }, { "../../../g", "http://a/g" }, { "/./g", "http://a/g" },
      { "/../g", "http://a/g" }, { "g.", "http://a/b/c/g." }, { "g/../h", "http://a/b/c/h" },
    }
    for _, c in ipairs(cases) do
      local got = url.resolve(base, c[1])
      assert(got == c[2], c[1] .. " -> " .. got .. ", expected " .. c[2])
    end
    local o = url.resolveObject("http://a/b/c", "../d?e=1")
    assert(o.protocol == "http" and o.hostname == "a" and o.pathname == "/d" and o.query == "e=1", o.pathname)
  end)

  test("querystring escapes as luvit does, and has urlencode and urldecode", function()
    assert(qs.stringify({ a = "x~y", b = "p*q", c = "s t" }) == "a=x%7Ey&b=p*q&c=s%20t",
      qs.stringify({ a = "x~y", b = "p*q", c = "s t" }))
    assert(qs.urlencode("a-b_c.d*e~f!g") == "a-b_c.d*e%7Ef%21g", qs.urlencode("a-b_c.d*e~f!g"))
    assert(qs.urldecode("a+b%7Ec") == "a b~c")
    local t = qs.parse("a=1&b=x%20y&a=2")
    assert(t.a[1] == "1" and t.a[2] == "2" and t.b == "x y")
  end)
end)

local zlib = require('zlib')

local text = string.rep("Stardust compresses the same words again and again. ", 200)

require('tap')(function(test)
  test("one-shot round trips in every format", function()
    for _, pair in ipairs({ { "deflate", "inflate" }, { "gzip", "gunzip" }, { "deflateRaw", "inflateRaw" } }) do
      local packed = zlib[pair[1]](text)
      assert(#packed < #text / 5, pair[1] .. " did not compress: " .. #packed)
      assert(zlib[pair[2]](packed) == text, pair[2] .. " round trip")
    end
    assert(zlib.gunzip(zlib.gzip("")) == "")
  end)

  test("formats have their headers", function()
    assert(zlib.gzip("x"):sub(1, 2) == "\31\139", "gzip magic")
    assert(zlib.deflate("x"):byte(1) == 0x78, "zlib header")
  end)

  test("levels trade size", function()
    assert(#zlib.deflate(text, 9) <= #zlib.deflate(text, 1))
    assert(#zlib.deflate(text, 0) > #text, "level 0 stores")
  end)

  test("corrupt input gives nil, err", function()
    local v, err = zlib.gunzip("definitely not gzip")
    assert(v == nil and err:find("^zlib: "), tostring(err))
    v, err = zlib.inflate(zlib.deflate(text):sub(1, 20))
    assert(v == nil or v ~= text, "truncated input must not decode whole")
    local ok, e = pcall(zlib.gzip, 42)
    assert(not ok and e:find("zlib.gzip"), e)
  end)

  test("maxOutputLength bounds what a decompression may make (node's option)", function()
    -- 1 MiB of zeros packs into about a kilobyte: a small bomb.
    local bomb = zlib.gzip(string.rep("\0", 1024 * 1024), { level = 9 })
    assert(#bomb < 4096, #bomb)
    local out, err, code = zlib.gunzip(bomb, { maxOutputLength = 65536 })
    assert(out == nil and code == "ERR_BUFFER_TOO_LARGE", tostring(err))
    assert(err == "ERR_BUFFER_TOO_LARGE: Cannot create a Buffer larger than 65536 bytes", err)
    -- Exactly at the bound is fine; a level still works as the second argument.
    assert(#zlib.gunzip(bomb, { maxOutputLength = 1024 * 1024 }) == 1024 * 1024)
    assert(zlib.inflate(zlib.deflate(text, 1), { maxOutputLength = #text }) == text)
    out, err, code = zlib.inflateRaw(zlib.deflateRaw(text), { maxOutputLength = #text - 1 })
    assert(out == nil and code == "ERR_BUFFER_TOO_LARGE", tostring(err))
    local ok, e = pcall(zlib.gunzip, bomb, { maxOutputLength = -1 })
    assert(not ok and tostring(e):find("maxOutputLength"), tostring(e))
    ok, e = pcall(zlib.gunzip, bomb, "fast")
    assert(not ok and tostring(e):find("options must be"), tostring(e))
  end)

  test("a decompressing stream stops at maxOutputLength with an 'error'", function(expect)
    local gunz = zlib.createGunzip({ maxOutputLength = 100000 })
    local got = 0
    gunz:on('data', function(c) got = got + #c end)
    gunz:on('error', expect(function(err)
      assert(tostring(err):find("ERR_BUFFER_TOO_LARGE", 1, true), tostring(err))
      assert(got <= 100000, got)
    end))
    gunz:finish(zlib.gzip(string.rep("\0", 1024 * 1024)))
  end)

  test("streaming Transform", function(expect)
    local gz = zlib.createGzip()
    local parts = {}
    gz:on('data', function(c) parts[#parts + 1] = c end)
    gz:on('end', expect(function()
      assert(zlib.gunzip(table.concat(parts)) == text .. text)
    end))
    gz:write(text)
    gz:finish(text)
  end)

  test("pipe through gzip and gunzip", function(expect)
    local gz, gunz = zlib.createGzip(), zlib.createGunzip()
    local out = {}
    gz:pipe(gunz)
    gunz:on('data', function(c) out[#out + 1] = c end)
    gunz:on('end', expect(function() assert(table.concat(out) == text) end))
    for i = 1, #text, 1000 do gz:write(text:sub(i, i + 999)) end
    gz:finish()
  end)
end)

-- The C math functions LuaJIT calls come from the binary itself (src/math.rs), not
-- from glibc's libm: they must give the right values, interpreted and compiled, and
-- stay reachable through the FFI.
local ffi = require('ffi')
ffi.cdef [[
  double sin(double x);
  double pow(double x, double y);
]]

local function close(a, b)
  return math.abs(a - b) <= 4e-16 * math.max(math.abs(b), 1)
end

require('tap')(function(test)
  test("math functions give the known values", function()
    local pi = math.pi
    assert(close(math.sin(pi / 6), 0.5) and close(math.cos(pi / 3), 0.5))
    assert(close(math.tan(pi / 4), 1) and close(math.atan(1), pi / 4))
    assert(close(math.asin(1), pi / 2) and close(math.acos(-1), pi))
    assert(close(math.atan2(1, 1), pi / 4) and close(math.atan2(-1, -1), -3 * pi / 4))
    assert(close(math.exp(1), 2.718281828459045) and close(math.log(math.exp(2)), 2))
    assert(math.log10(1000) == 3 and math.log(8, 2) == 3 and math.log(100, 10) == 2)
    assert(close(math.sinh(1), 1.1752011936438014) and close(math.cosh(1), 1.5430806348152437))
    assert(close(math.tanh(0.5), 0.46211715726000974))
    assert(2 ^ 10 == 1024 and 9 ^ 0.5 == 3 and close(2 ^ 0.5, math.sqrt(2)))
    assert(math.pow(0, -1) == math.huge and math.log(-1) ~= math.log(-1)) -- inf, NaN
    local m, e = math.frexp(12)
    assert(m == 0.75 and e == 4 and math.ldexp(0.75, 4) == 12)
    local int, frac = math.modf(-3.25)
    assert(int == -3 and frac == -0.25)
  end)

  test("compiled code calls the same functions", function()
    -- Enough iterations for the JIT to compile the loop (and call sin, pow as C).
    local s, p = 0, 0
    for i = 1, 1000 do
      s = s + math.sin(i)
      p = p + (i / 1000) ^ 1.5
    end
    local s2, p2 = 0, 0
    for i = 1, 1000 do
      s2 = s2 + ffi.C.sin(i)
      p2 = p2 + ffi.C.pow(i / 1000, 1.5)
    end
    assert(s == s2 and p == p2, s .. " " .. s2 .. " " .. p .. " " .. p2)
    -- (Sums of a thousand terms: a last-bit difference in a term may show.)
    assert(math.abs(s - 0.813969634073164) < 1e-12 and math.abs(p - 400.50012419408716) < 1e-9, s .. " " .. p)
  end)

  test("glibc's libm is not loaded", function()
    local f = assert(io.open("/proc/self/maps"))
    local maps = f:read("*a")
    f:close()
    assert(maps:find("[stack]", 1, true), "maps should list the stack")
    -- A new math function imported from libm brings it back: define it in src/math.rs.
    assert(not maps:find("/libm%.so") and not maps:find("/libm%-"), maps)
  end)
end)

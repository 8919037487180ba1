-- ffi.C finds glibc's functions and variables, as in any LuaJIT. In the static build
-- (.cargo/config.toml) they come from the table build.rs links in (static_link), not
-- from a dynamic symbol table; ffi.load still opens shared libraries.
local ffi = require('ffi')
ffi.cdef [[
  int getpid(void);
  size_t strlen(const char *s);
  int snprintf(char *buf, size_t size, const char *fmt, ...);
  char *getenv(const char *name);
  void *malloc(size_t size);
  void *memset(void *s, int c, size_t n);
  void free(void *p);
  extern char **environ;
  int gettimeofday(void *tv, void *tz);
  double sin(double x);
  int stardust_no_such_function(void);
  const char *zlibVersion(void);
]]

require('tap')(function(test)
  test("glibc's functions are found and called", function()
    assert(ffi.C.getpid() == process.pid, "getpid " .. ffi.C.getpid() .. " pid " .. process.pid)
    assert(ffi.C.strlen("stardust") == 8)
    local buf = ffi.new("char[32]")
    assert(ffi.C.snprintf(buf, 32, "%d-%s", ffi.new("int", 42), "x") == 4)
    assert(ffi.string(buf) == "42-x", ffi.string(buf))
    local p = ffi.C.malloc(64)
    assert(p ~= nil)
    ffi.C.memset(p, 65, 64)
    assert(ffi.string(p, 3) == "AAA")
    ffi.C.free(p)
    local tv = ffi.new("long[2]")
    assert(ffi.C.gettimeofday(tv, nil) == 0 and tonumber(tv[0]) > 1.6e9)
  end)

  test("glibc's variables and the binary's own functions are found", function()
    assert(ffi.string(ffi.C.getenv("HOME")) == os.getenv("HOME"))
    local found = false
    local i = 0
    while ffi.C.environ[i] ~= nil do
      if ffi.string(ffi.C.environ[i]):match("^HOME=") then found = true end
      i = i + 1
    end
    assert(found and i > 0, "HOME not in environ")
    assert(ffi.C.sin(0) == 0) -- src/math.rs
  end)

  test("a missing symbol is an error, not a crash", function()
    local ok, err = pcall(function() return ffi.C.stardust_no_such_function end)
    assert(not ok and tostring(err):find("undefined symbol", 1, true), tostring(err))
  end)

  test("ffi.load opens a shared library", function()
    -- zlib is part of every Debian system (zlib1g is a required package).
    local z = ffi.load("z")
    assert(ffi.string(z.zlibVersion()):match("^%d+%.%d+"))
  end)
end)

-- luv's fs functions (bindings/fs.rs) in their three forms: synchronous (no
-- callback), on the thread pool with a callback, and in a coroutine (uv.co_fs_*).
local uv = require('uv')
local timer = require('timer')

local function tmpdir()
  return assert(uv.fs_mkdtemp(uv.os_tmpdir() .. "/stardust-fs-XXXXXX"))
end

-- Removes a directory tree made by a test.
local function rmtree(path)
  local req = uv.fs_scandir(path)
  if req then
    while true do
      local name, kind = uv.fs_scandir_next(req)
      if not name then break end
      local full = path .. "/" .. name
      if kind == "directory" then rmtree(full) else assert(uv.fs_unlink(full)) end
    end
  end
  assert(uv.fs_rmdir(path))
end

require('tap')(function(test)
  test("synchronous: open, write, read, stat, rename, unlink", function()
    local dir = tmpdir()
    local path = dir .. "/a.txt"
    local fd = assert(uv.fs_open(path, "w", 420))
    assert(uv.fs_write(fd, "hello ") == 6)
    assert(uv.fs_write(fd, { "wor", "ld" }) == 5)
    assert(uv.fs_close(fd))
    local st = assert(uv.fs_stat(path))
    assert(st.size == 11 and st.type == "file", st.size)
    assert(bit.band(st.mode, 511) == 420, ("%o"):format(st.mode))
    assert(type(st.mtime.sec) == "number" and st.mtime.sec > 0)
    fd = assert(uv.fs_open(path, "r", 0))
    assert(uv.fs_read(fd, 5, 0) == "hello")
    assert(uv.fs_read(fd, 100, 6) == "world")
    assert(uv.fs_read(fd, 100, 11) == "", "EOF reads empty")
    assert(uv.fs_fstat(fd).size == 11)
    assert(uv.fs_close(fd))
    assert(uv.fs_rename(path, dir .. "/b.txt"))
    local missing, err, code = uv.fs_stat(path)
    assert(missing == nil and code == "ENOENT", tostring(err))
    assert(err == "ENOENT: no such file or directory: " .. path, err)
    assert(uv.fs_access(dir .. "/b.txt", "rw") == true)
    assert(uv.fs_access(path, "r") == false)
    assert(uv.fs_unlink(dir .. "/b.txt"))
    rmtree(dir)
  end)

  test("directories, links, scandir, realpath, chmod, utime, truncate, copyfile", function()
    local dir = tmpdir()
    assert(uv.fs_mkdir(dir .. "/sub", 493))
    local ok, err, code = uv.fs_mkdir(dir .. "/sub", 493)
    assert(ok == nil and code == "EEXIST", tostring(err))
    local fd = assert(uv.fs_open(dir .. "/f", "w", 384))
    assert(uv.fs_write(fd, "0123456789"))
    assert(uv.fs_ftruncate(fd, 4))
    assert(uv.fs_fsync(fd) and uv.fs_fdatasync(fd))
    assert(uv.fs_close(fd))
    assert(uv.fs_stat(dir .. "/f").size == 4)
    assert(uv.fs_symlink(dir .. "/f", dir .. "/link"))
    assert(uv.fs_readlink(dir .. "/link") == dir .. "/f")
    assert(uv.fs_lstat(dir .. "/link").type == "link")
    assert(uv.fs_stat(dir .. "/link").type == "file")
    assert(uv.fs_link(dir .. "/f", dir .. "/hard"))
    assert(uv.fs_stat(dir .. "/f").nlink == 2)
    assert(uv.fs_realpath(dir .. "/sub/../f") == uv.fs_realpath(dir) .. "/f")
    assert(uv.fs_chmod(dir .. "/f", 256))
    assert(bit.band(uv.fs_stat(dir .. "/f").mode, 511) == 256)
    assert(uv.fs_utime(dir .. "/f", 1000, 2000.5))
    local st = uv.fs_stat(dir .. "/f")
    assert(st.atime.sec == 1000 and st.mtime.sec == 2000 and st.mtime.nsec == 500000000)
    assert(uv.fs_copyfile(dir .. "/f", dir .. "/copy"))
    local excl, eerr, ecode = uv.fs_copyfile(dir .. "/f", dir .. "/copy", { excl = true })
    assert(excl == nil and ecode == "EEXIST", tostring(eerr))
    local names = {}
    local req = assert(uv.fs_scandir(dir))
    while true do
      local name, kind = uv.fs_scandir_next(req)
      if not name then break end
      names[#names + 1] = name .. ":" .. kind
    end
    assert(table.concat(names, " ") == "copy:file f:file hard:file link:link sub:directory", table.concat(names, " "))
    local sfs = assert(uv.fs_statfs(dir))
    assert(sfs.bsize > 0 and sfs.blocks > 0)
    local tfd, tpath = assert(uv.fs_mkstemp(dir .. "/tmpXXXXXX"))
    assert(type(tfd) == "number" and tpath:find("/tmp%w%w%w%w%w%w$"), tpath)
    assert(uv.fs_close(tfd))
    rmtree(dir)
  end)

  test("with callbacks: the work runs on the pool and the loop keeps running", function(expect)
    local dir = tmpdir()
    local path = dir .. "/cb.txt"
    local ticks = 0
    local t = uv.new_timer()
    t:start(1, 1, function() ticks = ticks + 1 end)
    assert(uv.fs_open(path, "w", 420, expect(function(err, fd)
      assert(not err, err)
      assert(uv.fs_write(fd, "pooled", -1, expect(function(werr, n)
        assert(not werr, werr)
        assert(n == 6)
        assert(uv.fs_close(fd, expect(function(cerr, ok)
          assert(not cerr and ok == true, cerr)
          uv.fs_stat(path, expect(function(serr, st)
            assert(not serr and st.size == 6, serr)
            uv.fs_stat(dir .. "/missing", expect(function(merr, none)
              assert(merr:find("^ENOENT: no such file or directory: "), merr)
              assert(none == nil)
              t:close()
              rmtree(dir)
            end))
          end))
        end)))
      end)))
    end)))
  end)

  test("in a coroutine: uv.co_fs_*", function()
    local dir = tmpdir()
    local path = dir .. "/co.txt"
    local fd = assert(uv.co_fs_open(path, "w+", 420))
    assert(uv.co_fs_write(fd, "coroutine") == 9)
    assert(uv.co_fs_read(fd, 4, 0) == "coro")
    assert(uv.co_fs_close(fd))
    local st = assert(uv.co_fs_stat(path))
    assert(st.size == 9)
    local none, err, code = uv.co_fs_stat(dir .. "/nope")
    assert(none == nil and code == "ENOENT", tostring(err))
    assert(uv.co_fs_unlink(path))
    rmtree(dir)
  end)

  test("many requests at once all complete, in any order", function(expect)
    local dir = tmpdir()
    local left = 50
    local done = expect(function() rmtree(dir) end)
    for i = 1, 50 do
      uv.fs_mkdir(dir .. "/d" .. i, 493, function(err)
        assert(not err, err)
        left = left - 1
        if left == 0 then done() end
      end)
    end
  end)

  test("misuse raises: bad argument types and flags", function()
    local ok, err = pcall(uv.fs_stat, 42)
    assert(not ok and tostring(err):find("argument #1 must be a path"), tostring(err))
    ok, err = pcall(uv.fs_open, "/tmp/x", "bogus", 420)
    assert(not ok and tostring(err):find("unknown open flags"), tostring(err))
    ok, err = pcall(uv.fs_close, "nope")
    assert(not ok and tostring(err):find("must be an integer"), tostring(err))
  end)
  test("opendir, readdir, closedir: synchronous, with callbacks, in a coroutine", function(expect)
    local dir = tmpdir()
    for _, name in ipairs({ "a", "b", "c" }) do
      assert(uv.fs_close(assert(uv.fs_open(dir .. "/" .. name, "w", 420))))
    end
    local d = assert(uv.fs_opendir(dir, nil, 2))
    local first = assert(uv.fs_readdir(d))
    assert(#first == 2 and first[1].name == "a" and first[1].type == "file", #first)
    local second = assert(uv.fs_readdir(d))
    assert(#second == 1 and second[1].name == "c")
    assert(uv.fs_readdir(d) == nil, "the end")
    assert(uv.fs_closedir(d))
    local ok = pcall(uv.fs_readdir, d)
    assert(not ok, "reading a closed directory raises")
    local cd = assert(uv.co_fs_opendir(dir, 10))
    assert(#uv.co_fs_readdir(cd) == 3)
    uv.fs_closedir(cd)
    local none, err, code = uv.co_fs_opendir(dir .. "/missing")
    assert(none == nil and code == "ENOENT", tostring(err))
    uv.fs_opendir(dir, expect(function(oerr, od)
      assert(not oerr, oerr)
      uv.fs_readdir(od, expect(function(rerr, list)
        assert(not rerr and #list == 1 and list[1].name == "a")
        uv.fs_closedir(od, expect(function() rmtree(dir) end))
      end))
    end), 1)
  end)
end)

--[[
uv: the event loop as luv shows it: handles are userdata with methods, and the
functions have luv's names (uv.timer_start(t, ...) is t:start(...)).

  local uv = require('uv')
  local t = uv.new_timer()
  uv.timer_start(t, 100, 0, function()
    print("fired after 100 ms")
    uv.close(t)
  end)

  -- Coroutine style (inside any callback or the main script):
  local data = uv.co_read(sock)   -- suspends until data, nil at EOF

I/O failures return nil, "ECODE: message", "ECODE"; misuse raises.

The loop runs by itself after the main script, so uv.run() has nothing to do and
returns at once; uv.stop() ends the loop after the current phase.
]]

local native = require('_native')

local WAIT = native.WAIT
local yield = coroutine.yield

-- Most of luv's functions come in groups that are made on first use (bindings/
-- mod.rs, install_group): a process pays only for the functions it calls. Reading
-- native.<name> of a group (here, or uv.<name>) loads the whole group.
local GROUPS = {
  pipe = { "new_pipe", "pipe" },
  watch = { "new_poll", "new_fs_event" },
  thread = { "new_async", "new_work", "queue_work", "new_thread", "thread_join", "thread_join_async" },
  udp = { "new_udp" },
  signal = { "new_signal" },
  process = { "spawn", "process_kill" },
  phase = { "new_idle", "new_prepare", "new_check" },
  dns = { "getaddrinfo", "getnameinfo" },
  os = { "chdir", "os_homedir", "os_tmpdir", "os_gethostname", "os_uname", "os_getpid",
    "os_getppid", "os_getenv", "resident_set_memory", "uptime", "loadavg", "cpu_info",
    "interface_addresses", "get_total_memory", "get_free_memory", "getrusage", "kill" },
}
local groupOf = {}
for group, names in pairs(GROUPS) do
  for _, name in ipairs(names) do groupOf[name] = group end
end
local function groupOfName(name)
  if type(name) ~= "string" then return nil end
  local g = groupOf[name]
  if g then return g end
  if name:find("^fs_") and not name:find("^fs_event") and not name:find("^fs_poll") then
    return "fs"
  end
end
local loaded = {}
setmetatable(native, {
  __index = function(t, name)
    local group = groupOfName(name)
    if group and not loaded[group] then
      loaded[group] = true
      native.load(t, group)
      return rawget(t, name)
    end
  end,
})

local uv = {
  WAIT = WAIT,
  new_timer = native.new_timer,
  new_tcp = native.new_tcp,
  new_tty = native.new_tty,
  tty_reset_mode = native.tty_reset_mode,
  guess_handle = native.guess_handle,
  now = native.now,
  update_time = native.update_time,
  hrtime = native.hrtime,
  http_next = native.http_next,
  stop = native.stop,
  cwd = native.cwd,
  os_environ = native.os_environ,
  os_setenv = native.os_setenv,
  os_unsetenv = native.os_unsetenv,
}

-- Hot-path functions through LuaJIT's FFI (C functions in src/bindings/fast.rs,
-- which a trace calls directly, where calling a Lua C function would end it):
--   uv.queue_write_fast(key, gen, data): native.tcp_queue_write, a string or a list
--     of strings queued on the TCP handle with that id (handle:id()): true and the
--     bytes now queued, or nil, err, code. A string goes through the FFI.
--   uv.unix_time(): seconds since 1970, as os.time()
--   uv.now_fast(): uv.now()
--   uv.http_buffered_fast(decoder): decoder:buffered()
local ffi = require('ffi')
local ffiQueueWrite = ffi.cast("double (*)(uint32_t, uint32_t, const char *, size_t)",
  native.ffi.tcp_queue_write)
local ffiUnixTime = ffi.cast("double (*)(void)", native.ffi.unix_time)
local ffiNow = ffi.cast("double (*)(void)", native.ffi.now)
local ffiHttpBuffered = ffi.cast("double (*)(const void *)", native.ffi.http_buffered)
local tcpQueueWrite = native.tcp_queue_write

function uv.queue_write_fast(key, gen, data)
  if type(data) == "string" then
    local queued = ffiQueueWrite(key, gen, data, #data)
    if queued >= 0 then return true, queued end
  end
  -- A list, or an id that is not a connected socket's (this says why).
  return tcpQueueWrite(key, gen, data)
end

function uv.unix_time()
  return ffiUnixTime()
end

-- uv.now() through the FFI, for compiled code (see above): a plain C call from a trace
-- ends it. From interpreted code, uv.now() is the cheaper.
function uv.now_fast()
  local now = ffiNow()
  if now >= 0 then return now end
  return uv.now() -- (says what is wrong)
end

-- decoder:buffered() through the FFI, likewise.
function uv.http_buffered_fast(decoder)
  local n = type(decoder) == "userdata" and ffiHttpBuffered(decoder) or -1
  if n < 0 then
    error("uv.http_buffered_fast: argument #1 must be an http decoder, got " .. type(decoder), 2)
  end
  return n
end

function uv.run()
  return false
end

-- Stardust's own (not luv's) --------------------------------------------------------
-- What the rest of lua_lib needs of the loop, so that this is the only module that
-- reaches its natives.

uv.argv = native.argv
uv.pid = native.pid
uv.versions = { stardust = native.version, mio = native.mio_version }
-- The peak resident set size (VmHWM), in bytes.
uv.peak_rss = native.peak_rss
-- Exits now, emitting process 'exit' once (init.lua's exit).
uv.process_exit = function(code) return native.process_exit(code) end
-- Name resolution for net (blocking getaddrinfo; the common cases answer at once).
uv.resolve = native.resolve
-- Logging through the `log` crate with RUST_LOG, else to stderr.
uv.log = native.log
-- TLS configurations for tls_server / tls_client (rustls).
uv.tls_server_config = native.tls_server_config
uv.tls_client_config = native.tls_client_config
-- setImmediate's queue, and the trampoline batch runners call callbacks through.
uv.set_immediate = native.set_immediate
uv.trampoline = native.trampoline

-- process.nextTick's queue. A batch runner (the timer lists) asks ticks_queued()
-- between two callbacks and lets the loop run them with run_ticks().
local ticksQueued = false
local nextTick = native.next_tick
function uv.next_tick(fn, arg)
  ticksQueued = true
  return nextTick(fn, arg)
end
function uv.ticks_queued()
  local q = ticksQueued
  ticksQueued = false
  return q
end
local TICK = native.TICK
function uv.run_ticks() return yield(TICK) end

function uv.walk(callback)
  for _, handle in ipairs(native.handles()) do
    callback(handle)
  end
end

-- luv function name -> handle method name
local methods = {
  close = "close",
  is_active = "is_active",
  is_closing = "is_closing",
  ref = "ref",
  unref = "unref",
  has_ref = "has_ref",
  handle_get_type = "get_type",
  timer_start = "start",
  timer_stop = "stop",
  timer_again = "again",
  timer_get_repeat = "get_repeat",
  timer_set_repeat = "set_repeat",
  timer_get_due_in = "get_due_in",
  tcp_bind = "bind",
  listen = "listen",
  accept = "accept",
  tcp_connect = "connect",
  read_start = "read_start",
  read_stop = "read_stop",
  write = "write",
  shutdown = "shutdown",
  stream_get_write_queue_size = "write_queue_size",
  send_buffer_size = "send_buffer_size",
  recv_buffer_size = "recv_buffer_size",
  tcp_nodelay = "nodelay",
  tcp_keepalive = "keepalive",
  tcp_getsockname = "getsockname",
  tcp_getpeername = "getpeername",
  async_send = "send",
  poll_start = "start",
  poll_stop = "stop",
  fs_event_start = "start",
  fs_event_stop = "stop",
  fs_event_getpath = "getpath",
  fs_poll_start = "start",
  fs_poll_stop = "stop",
  fs_poll_getpath = "getpath",
  udp_bind = "bind",
  udp_connect = "connect",
  udp_send = "send",
  udp_try_send = "try_send",
  udp_recv_start = "recv_start",
  udp_recv_stop = "recv_stop",
  udp_set_broadcast = "set_broadcast",
  udp_set_ttl = "set_ttl",
  udp_set_multicast_ttl = "set_multicast_ttl",
  udp_set_multicast_loop = "set_multicast_loop",
  udp_set_multicast_interface = "set_multicast_interface",
  udp_set_membership = "set_membership",
  udp_getsockname = "getsockname",
  udp_getpeername = "getpeername",
  udp_get_send_queue_size = "get_send_queue_size",
  udp_get_send_queue_count = "get_send_queue_count",
  signal_start = "start",
  signal_start_oneshot = "start_oneshot",
  signal_stop = "stop",
  process_get_pid = "get_pid",
  idle_start = "start",
  idle_stop = "stop",
  prepare_start = "start",
  prepare_stop = "stop",
  check_start = "start",
  check_stop = "stop",
  pipe_bind = "bind",
  pipe_connect = "connect",
  pipe_open = "open",
  pipe_getsockname = "getsockname",
  pipe_getpeername = "getpeername",
  tty_set_mode = "set_mode",
  tty_get_winsize = "get_winsize",
}

for name, method in pairs(methods) do
  uv[name] = function(handle, ...)
    -- Handles are userdata; timer.setTimeout's Timeout objects (tables) answer the
    -- handle methods that make sense for them.
    local kind = type(handle)
    local fn = (kind == "userdata" or kind == "table") and handle[method]
    if not fn then
      error("uv." .. name .. ": argument #1 must be a handle, got " .. kind, 2)
    end
    return fn(handle, ...)
  end
end

-- Coroutine style ---------------------------------------------------------------
-- This is the one place where Lua yields for I/O. A binding either answers now or
-- registers the running coroutine and returns WAIT; then we yield until the loop
-- resumes us.

local function running()
  local co, main = coroutine.running()
  if co == nil or main then
    error("this call suspends the caller and must run inside a coroutine", 3)
  end
  return co
end

-- A batch runner (the timer lists) calls many callbacks inline in one coroutine. If one
-- of them suspends here, the rest of the batch must not wait for it: the runner
-- registers a hand-off with uv.on_suspend(co, fn), and the first suspension of co calls
-- fn (which queues the rest of the batch elsewhere) before yielding.
local handoffs = setmetatable({}, { __mode = "k" })

function uv.on_suspend(co, fn)
  handoffs[co] = fn
end

local function suspend(co)
  local handoff = handoffs[co]
  if handoff then
    handoffs[co] = nil
    handoff()
  end
  return yield()
end

-- For calls that can simply be retried (read, accept): a stray wake-up just retries.
-- A wake-up with an error (ECANCELED: the handle was closed) ends the wait.
local function retry(handle, method, arg)
  local co = running()
  while true do
    local a, b, c = handle[method](handle, arg)
    if a ~= WAIT then return a, b, c end
    local err, code = suspend(co)
    if err then return nil, err, code end
  end
end

-- For calls that complete once (connect, write, shutdown): the loop resumes us with
-- the outcome, (err, code) on failure.
local function complete(handle, method, ...)
  local co = running()
  local n = select("#", ...)
  local args = { ... }
  args[n + 1] = co
  local ok, err, code = handle[method](handle, unpack(args, 1, n + 1))
  if ok == WAIT then
    err, code = suspend(co)
    if err then return nil, err, code end
    return true
  end
  return ok, err, code
end

-- For requests that run on the thread pool (fs, getaddrinfo, work): `fn` takes the
-- running coroutine in its callback's place and returns WAIT; the loop resumes us
-- with the callback's values, (nil, results...) or (err).
local function pooled(fn, ...)
  local co = running()
  local n = select("#", ...)
  local args = { ... }
  args[n + 1] = co
  local r, err, code = fn(unpack(args, 1, n + 1))
  if r ~= WAIT then return r, err, code end
  local e, a, b, c, d = suspend(co)
  if e then return nil, e, e:match("^([%w_]+):") end
  return a, b, c, d
end

-- uv.co_getaddrinfo(host, service, hints) and uv.co_getnameinfo(address): the
-- results, or nil, err, code.
function uv.co_getaddrinfo(host, service, hints)
  return pooled(native.getaddrinfo, host, service, hints or {})
end
function uv.co_getnameinfo(address) return pooled(native.getnameinfo, address) end

-- The groups' functions (uv.fs_stat(path, [callback]), uv.spawn, ...) are taken from
-- native on first use, and so are the coroutine forms of the fs functions
-- (uv.co_fs_stat(path) & co., which wait in the coroutine).
setmetatable(uv, {
  __index = function(t, name)
    if type(name) ~= "string" then return nil end
    local fsName = name:match("^co_(fs_.*)$")
    local value
    if fsName and groupOfName(fsName) == "fs" then
      local fn = native[fsName]
      if fn then value = function(...) return pooled(fn, ...) end end
    elseif groupOfName(name) then
      value = native[name]
    end
    if value ~= nil then rawset(t, name, value) end
    return value
  end,
})

-- Runs a child process to its end: code, signal, pid (or nil, err, code if it could
-- not start). options as uv.spawn's; its stdio pipes may be read meanwhile by other
-- coroutines or callbacks.
function uv.co_spawn(path, options)
  local co = running()
  local handle, pid, code = native.spawn(path, options, co)
  if not handle then return nil, pid, code end
  local exit, signal = suspend(co)
  handle:close()
  if type(exit) == "string" then return nil, exit, "ECANCELED" end
  return exit, signal, pid
end

-- Directory streams, luv's fs_opendir / fs_readdir / fs_closedir, over fs_scandir
-- (which reads the whole directory on the thread pool): readdir hands out `entries`
-- entries at a time ({ name, type } tables), then nil.
local Dir = {}
Dir.__index = Dir

local function makeDir(req, entries)
  return setmetatable({ _req = req, _entries = entries or 1 }, Dir)
end

local function readdir(dir)
  if dir._closed then error("uv.fs_readdir: the directory is closed", 3) end
  local out = {}
  for i = 1, dir._entries do
    local name, kind = native.fs_scandir_next(dir._req)
    if not name then break end
    out[i] = { name = name, type = kind }
  end
  if #out == 0 then return nil end
  return out
end

function uv.fs_opendir(path, cb, entries)
  if type(cb) == "number" then cb, entries = nil, cb end
  if cb == nil then
    local req, err, code = native.fs_scandir(path)
    if not req then return nil, err, code end
    return makeDir(req, entries)
  end
  return native.fs_scandir(path, function(err, req)
    if err then return cb(err) end
    cb(nil, makeDir(req, entries))
  end)
end

function uv.fs_readdir(dir, cb)
  if cb == nil then return readdir(dir) end
  local ok, list = pcall(readdir, dir)
  native.set_immediate(function()
    if ok then cb(nil, list) else cb(tostring(list)) end
  end)
  return true
end

function uv.fs_closedir(dir, cb)
  dir._closed = true
  dir._req = nil
  if cb then native.set_immediate(function() cb(nil, true) end) end
  return true
end

Dir.readdir = uv.fs_readdir
Dir.closedir = uv.fs_closedir

function uv.co_fs_opendir(path, entries)
  local req, err, code = pooled(native.fs_scandir, path)
  if not req then return nil, err, code end
  return makeDir(req, entries)
end
function uv.co_fs_readdir(dir) return readdir(dir) end
function uv.co_fs_closedir(dir) return uv.fs_closedir(dir) end

-- fs_poll handles: a path's stat, compared every `interval` ms (a timer and
-- fs_stat on the thread pool); cb(err, prev, curr) when it changed.
local FsPoll = {}
FsPoll.__index = FsPoll

function uv.new_fs_poll()
  return setmetatable({ _timer = native.new_timer() }, FsPoll)
end

local function statKey(st)
  if not st then return "missing" end
  return table.concat({ st.size, st.mtime.sec, st.mtime.nsec, st.ctime.sec, st.ctime.nsec,
    st.ino, st.mode, st.uid, st.gid }, ":")
end

function FsPoll:start(path, interval, cb)
  self:stop()
  self._path = path
  local prev, prevKey, busy = nil, nil, false
  native.fs_stat(path, function(_, st)
    prev, prevKey = st, statKey(st)
    self._timer:start(interval, interval, function()
      if busy then return end
      busy = true
      native.fs_stat(path, function(err, curr)
        busy = false
        if self._path ~= path then return end
        local key = statKey(curr)
        if key ~= prevKey then
          local before = prev
          prev, prevKey = curr, key
          cb(curr == nil and err or nil, before, curr)
        end
      end)
    end)
  end)
  return 0
end

function FsPoll:stop()
  self._path = nil
  self._timer:stop()
  return 0
end

function FsPoll:getpath() return self._path end
function FsPoll:close(cb) self._path = nil self._timer:close(cb) end
function FsPoll:is_active() return self._timer:is_active() end
function FsPoll:is_closing() return self._timer:is_closing() end
function FsPoll:ref() return self._timer:ref() end
function FsPoll:unref() return self._timer:unref() end
function FsPoll:has_ref() return self._timer:has_ref() end
function FsPoll:get_type() return "fs_poll" end

-- Runs work(...) (uv.new_work's) on the thread pool and returns its results, while
-- the loop runs on.
function uv.co_queue_work(work, ...)
  local co = running()
  local n = select("#", ...)
  local args = { ... }
  args[n + 1] = co
  local r, err, code = native.queue_work(work, unpack(args, 1, n + 1))
  if r ~= WAIT then return r, err, code end
  return suspend(co)
end

-- Waits for a thread (uv.new_thread's) without blocking the loop: what
-- uv.thread_join returns (true and the thread function's results).
function uv.co_thread_join(thread)
  local co = running()
  local r, err, code = native.thread_join_async(thread, co)
  if r ~= WAIT then return r, err, code end
  return suspend(co)
end

-- Waits for one delivery of a signal ("sigint", "SIGHUP", 15): its name.
function uv.co_signal(signum)
  local co = running()
  local h = native.new_signal()
  h:start_oneshot(signum, co)
  local name = suspend(co)
  h:close()
  return name
end

-- Next chunk of data, nil at EOF, or nil, err, code.
function uv.co_read(handle) return retry(handle, "try_read") end
-- Reads into an HTTP decoder (native.http_decoder): true, nil at EOF, or nil, err, code.
function uv.co_read_into(handle, decoder)
  return retry(handle, "try_read_into", decoder)
end
-- The decoder's next event, reading the socket as needed (native.http_next, which
-- takes the handle's id); between messages a coroutine that is its handle's
-- on_readable waits here. Returns the event's values (see src/bindings/http.rs),
-- false when part of a message has come and more is needed (wait with
-- co_read_into), nil at EOF, or nil, err, code. `co`, optional, is the running
-- coroutine, from a caller that keeps it (coroutine.running is a C call for the JIT).
-- With `tables`, a head's header lines come as their headers table (as
-- native.http_headers makes it).
function uv.co_http_next(decoder, key, gen, co, tables)
  co = co or running()
  while true do
    local ev, a, b, c, d, e, f, g = native.http_next(key, gen, decoder, true, tables)
    if ev ~= WAIT then return ev, a, b, c, d, e, f, g end
    local err, code = suspend(co)
    if err then return nil, err, code end
  end
end
-- The next datagram on a UDP handle: data, { ip, port, family }.
function uv.co_udp_recv(handle) return retry(handle, "try_recv") end
-- Returns once the datagram is handed to the kernel.
function uv.co_udp_send(handle, data, host, port) return complete(handle, "send", data, host, port) end
-- Next accepted connection (a new tcp handle).
function uv.co_accept(server) return retry(server, "try_accept") end
-- (A pipe connects to a path: uv.co_connect(pipe, path).)
function uv.co_connect(handle, host, port)
  if port == nil then return complete(handle, "connect", host) end
  return complete(handle, "connect", host, port)
end
-- Returns once the data is handed to the kernel.
function uv.co_write(handle, data) return complete(handle, "write", data) end
function uv.co_shutdown(handle) return complete(handle, "shutdown") end

-- Completes a TLS handshake on a handle switched to TLS (tls_server / tls_client).
function uv.co_tls_handshake(handle) return retry(handle, "tls_handshake") end

-- Closes a stream once its queued writes are out (at once if none are), in the loop
-- with no callback in between. Harmless on a handle that is closing.
function uv.close_after_flush(handle) return handle:close_after_flush() end

-- Suspends the running coroutine until uv.wake(co, value) (a waiter of lua_lib's
-- own: a response to finish, a server to stop). Returns the value.
function uv.wait() return suspend(running()) end
-- Resumes a coroutine waiting in uv.wait, once the running callback is done.
uv.wake = native.wake

-- Waits until the loop has nothing to do but this coroutine (tap, between tests), at
-- most `ms` milliseconds: true if it went idle, false on timeout.
function uv.wait_idle(ms)
  local co = running()
  local timeout = native.new_timer()
  timeout:unref() -- it must not keep the loop busy itself
  timeout:start(ms, 0, co)
  native.wait_idle()
  suspend(co)
  local finished = timeout:is_active()
  native.cancel_idle()
  timeout:stop()
  timeout:close()
  return finished
end

-- Suspends the running coroutine for `ms` milliseconds.
function uv.sleep(ms)
  local co = running()
  local t = native.new_timer()
  t:start(ms, 0, co)
  -- The timer stays active until it fires, so a stray resume just waits again.
  repeat suspend(co) until not t:is_active()
  t:close()
end

return uv

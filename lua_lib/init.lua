--[[
Bootstrap: the first Lua that runs. Rust loads this file with the `native` table and
gets back the hooks the loop needs:

  worker(RUN, fn, n, ...) body of every pooled coroutine: runs fn, then waits for more
  uncaught(message)    reports an error that escaped a coroutine
  main(job)            runs -l libs, -e code, the script and/or the REPL
  finish()             emits process 'exit' and ends the process

It also installs the globals: `require` (bound to the current directory), `p`, and
lazily `process`, `setTimeout` & co.
]]

local native = ...
local DONE, RUN = native.DONE, native.RUN
-- uv.lua reaches the Rust side through require('_native'); the other modules go
-- through uv, except the codecs, which have native modules of their own.
package.loaded._native = native
package.loaded._json = {
  parse = native.json_parse,
  stringify = native.json_stringify,
  null = native.null,
  object_mt = native.json_object_mt,
  array_mt = native.json_array_mt,
}
package.loaded._zlib = { oneshot = native.zlib_oneshot, stream = native.zlib_stream }
package.loaded._http_codec = {
  decoder = native.http_decoder,
  headers = native.http_headers,
  check_field = native.http_check_field,
}

-- Line-buffered stdout even into a pipe: a server's log lines must show as they
-- happen, not when a 4 KiB buffer fills or the process exits.
io.stdout:setvbuf("line")

local loader = native.lua_lib("require")(native)
local require = loader.make_require(native.cwd() or ".", false)
_G.require = require

-- Globals loaded on first use, so a script that never prints pays nothing for `p`.
local lazy = {
  process = function() return require('process') end,
  p = function() return require('pretty-print').prettyPrint end,
  setTimeout = function() return require('timer').setTimeout end,
  setInterval = function() return require('timer').setInterval end,
  clearTimeout = function() return require('timer').clearTimeout end,
  clearInterval = function() return require('timer').clearInterval end,
  setImmediate = function() return require('timer').setImmediate end,
}
setmetatable(_G, {
  __index = function(t, key)
    local make = lazy[key]
    if make then
      local value = make()
      rawset(t, key, value)
      return value
    end
  end,
})

-- The runtime's own references to what error reporting uses, taken at start: a
-- script that replaces a global (luvit's http-keepalive example sets `debug =
-- function() end`) must not break the reports of its errors.
local traceback, stdout, stderr = debug.traceback, io.stdout, io.stderr
local tostring, type, pcall, xpcall, rawget = tostring, type, pcall, xpcall, rawget

local exiting = false
local exit

-- process.exit with the 'exit' event, without loading `process` if nobody did.
function exit(code)
  if exiting then native.exit(code) end
  exiting = true
  local process = rawget(_G, "process")
  if process then
    process.exitCode = code
    process:emit('exit', code)
  end
  stdout:flush()
  native.exit(code)
end

-- process.exit goes through here too, so 'exit' is emitted exactly once.
native.process_exit = exit

local handling = false

-- An error nobody caught: 'uncaughtException' listeners get it; otherwise print the
-- traceback and exit with 255 (after 'exit', unlike luvit).
local function uncaught(value, trace)
  local process = rawget(_G, "process")
  if not handling and process and process:listenerCount('uncaughtException') > 0 then
    handling = true
    local ok, err = pcall(process.emit, process, 'uncaughtException', value)
    handling = false
    if ok then return end
    trace = trace .. "\n(and then in an uncaughtException listener)\n" .. tostring(err)
  end
  stdout:flush()
  stderr:write("Uncaught exception:\n", trace, "\n")
  exit(255)
end

local function capture(err)
  local message = type(err) == "string" and err or tostring(err)
  return { value = err, traceback = traceback(message, 2) }
end

-- Reports what xpcall(..., capture) caught. Out of memory, Lua calls no handler: the
-- error is the message alone, and the traceback is the one from here (the failed
-- allocation's memory is free again by now).
local function failed(e)
  if type(e) == "table" then return uncaught(e.value, e.traceback) end
  uncaught(e, traceback(tostring(e) .. "\n(the stack where it was raised is gone)", 2))
end

-- Every callback the loop runs goes through here.
local function trampoline(fn, ...)
  local ok, e = xpcall(fn, capture, ...)
  if not ok then failed(e) end
end
-- Batch runners (lua_lib/timer.lua) call their callbacks through it too.
native.trampoline = trampoline

-- The pooled coroutines. Each runs `body` once: `worker` under xpcall, for as long as
-- no error escapes a callback. The worker runs one callback, yields DONE, and waits
-- in the loop's pool until the loop resumes it with the next: (RUN, fn, n, a, b, c),
-- fn's n arguments being a, b, c, or when n > 3 the list a. Keeping coroutines alive
-- between callbacks is cheaper than resetting finished ones. A resume without RUN is
-- a stale wake-up for a callback that already ended: ignored.
--
-- Why this shape: the xpcall sits below the worker, not between the worker and each
-- callback, and the worker takes no varargs. A callback that returns to the loop
-- (an idle HTTP connection's, at the end of every request) then returns into a Lua
-- frame that the JIT can follow, on to the yield, so the whole request compiles;
-- returning into xpcall's frame, or through a vararg function, is what LuaJIT cannot
-- compile (its "NYI: return to lower frame"). That was about a fifth of a hello
-- request's instructions.
local awaitWork
local function worker(run, fn, n, a, b, c)
  if run ~= RUN then return awaitWork(nil) end
  if n == 0 then fn()
  elseif n == 1 then fn(a)
  elseif n == 2 then fn(a, b)
  elseif n == 3 then fn(a, b, c)
  else fn(unpack(a, 1, n))
  end
  return awaitWork(DONE)
end
-- (A tail call, so that while it waits no frame holds the last callback's arguments.)
function awaitWork(marker)
  return worker(coroutine.yield(marker))
end

local function body(run, fn, n, a, b, c)
  while true do
    -- The worker returns only through an error, which ends the callback it was in:
    -- report it, and serve the next callback.
    local ok, e = xpcall(worker, capture, run, fn, n, a, b, c)
    if not ok then failed(e) end
    run, fn, n, a, b, c = coroutine.yield(DONE)
  end
end

local function main(job)
  for _, lib in ipairs(job.libs or {}) do
    require(lib)
  end
  if job.eval then
    local fn = loadstring("return " .. job.eval, "=(command line)")
    local err
    if not fn then
      fn, err = loadstring(job.eval, "=(command line)")
      if not fn then error(err, 0) end
    end
    local results = { fn() }
    local n = 0
    for i in pairs(results) do if i > n then n = i end end
    if n > 0 then
      local dump = require('pretty-print').dump
      local out = {}
      for i = 1, n do out[i] = dump(results[i]) end
      print(table.concat(out, "\t"))
    end
  end
  if job.script then
    loader.run_main(job.script)
  end
  if job.repl then
    require('repl').start()
  end
end

local function finish()
  local process = rawget(_G, "process")
  exit(process and process.exitCode or 0)
end

return {
  worker = body,
  uncaught = function(message) uncaught(message, message) end,
  main = main,
  finish = finish,
}

--[[
repl: the read-eval-print loop (what a bare `stardust` opens).

  $ stardust
  Welcome to the Stardust repl!
  > 1 + 1
  2
  > setTimeout(100, function() print("the loop keeps running") end)

stdin is read through the event loop, so timers and sockets keep working between
lines. A line that is an expression has its values printed with p's dump; an
incomplete chunk continues on a `>> ` prompt. On a terminal, lines are appended to
~/.stardust_history. When stdin is not a terminal (`echo 'print(1)' | stardust`)
there is no banner and no prompt, and EOF exits with code 0.
]]

local uv = require('uv')
local pp = require('pretty-print')

-- Runs one chunk, capturing all of its return values.
local function run(chunk)
  local fn, err = loadstring("return " .. chunk, "=repl")
  if not fn then
    fn, err = loadstring(chunk, "=repl")
  end
  if not fn then
    if err:find("<eof>", 1, true) then return "incomplete" end
    return "error", err
  end
  local packed
  local ok, trace = xpcall(function()
    packed = { n = 0 }
    local function pack(...) packed = { n = select("#", ...), ... } end
    pack(fn())
  end, debug.traceback)
  if not ok then return "error", trace end
  return "ok", packed
end

local function start()
  local interactive = uv.guess_handle(0) == "tty"
  local history
  if interactive then
    io.write("Welcome to the Stardust repl!\n")
    local home = os.getenv("HOME")
    if home then history = io.open(home .. "/.stardust_history", "a") end
  end
  local function prompt(text)
    if interactive then
      io.write(text)
      io.stdout:flush()
    end
  end

  local stdin = uv.new_tty(0, true)
  local pending = ""  -- bytes read but not yet a whole line
  local chunk = nil   -- an unfinished multi-line chunk
  prompt("> ")
  while true do
    local data, err = uv.co_read(stdin)
    if not data then
      if err then io.stderr:write("repl: ", err, "\n") end
      break
    end
    pending = pending .. data
    while true do
      local line, rest = pending:match("^([^\n]*)\n(.*)$")
      if not line then break end
      pending = rest
      line = line:gsub("\r$", "")
      if history and line:find("%S") then
        history:write(line, "\n")
        history:flush()
      end
      local source = chunk and (chunk .. "\n" .. line) or line
      local status, result = run(source)
      if status == "incomplete" then
        chunk = source
        prompt(">> ")
      else
        chunk = nil
        if status == "error" then
          io.stderr:write(result, "\n")
        elseif result.n > 0 then
          local parts = {}
          for i = 1, result.n do parts[i] = pp.dump(result[i]) end
          io.write(table.concat(parts, "\t"), "\n")
        end
        prompt("> ")
      end
    end
  end
  if pending ~= "" or chunk then
    -- The last line had no newline.
    local status, result = run(chunk and (chunk .. "\n" .. pending) or pending)
    if status == "error" then io.stderr:write(result, "\n") end
    if status == "ok" and result.n > 0 then
      local parts = {}
      for i = 1, result.n do parts[i] = pp.dump(result[i]) end
      io.write(table.concat(parts, "\t"), "\n")
    end
  end
  if interactive then io.write("\n") end
  if history then history:close() end
  stdin:close()
end

return { start = start }

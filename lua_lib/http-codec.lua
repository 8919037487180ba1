--[[
http-codec: luvit's HTTP encoder and decoder, usable on their own (over any stream).

  local codec = require('http-codec')
  local encode = codec.encoder()
  socket:write(encode({ code = 200, { "Content-Type", "text/plain" },
                        { "Transfer-Encoding", "chunked" } }))
  socket:write(encode("hello"))   --> "5\r\nhello\r\n"
  socket:write(encode(""))        --> "0\r\n\r\n", the end of the body

  local decode = codec.decoder()
  local buffer = ""
  socket:on('data', function(chunk)
    buffer = buffer .. chunk
    while true do
      local event, extra = decode(buffer)   -- raises on bad input
      if not extra then break end            -- needs more input
      buffer = extra
      -- event: a head table, a body chunk (a string), or "" at the end of a message
    end
  end)

A head is a list of { name, value } pairs with `method`, `path` (a request) or `code`,
`reason` (a response), and `version` (1.1 or 1.0) and `keepAlive`. The encoder writes
a body as given, or in chunks if the head said `Transfer-Encoding: chunked`; CR and LF
in anything it writes into a head become spaces (as luvit does with values), so
nothing a caller gives adds a line. The decoder is Stardust's strict one (the one
http uses, src/http/decoder.rs): what it refuses raises, with the reason; heads over
8 KB are refused, as luvit refuses them. `decode(nil)` says the input ended (a body
that runs to the end of the connection ends then).
]]

local native = require('_http_codec')

local concat, format, gsub, lower, find = table.concat, string.format, string.gsub, string.lower, string.find
local type, tostring, tonumber = type, tostring, tonumber

-- Anything written into a head, with CR and LF made spaces.
local function clean(value)
  return (gsub(tostring(value), "[\r\n]+", " "))
end

local function versionText(version)
  return format("%.1f", tonumber(version) or 1.1)
end

local function encoder()
  local mode -- "head", "raw" or "chunked": what the next string is

  local function encodeHead(item)
    if item == nil or item == "" then return item end
    if type(item) ~= "table" then
      error("http-codec: expected a head table, got a " .. type(item), 3)
    end
    local lines
    if item.method then
      local path = item.path
      if type(path) ~= "string" or #path == 0 then error("http-codec: expected a non-empty path", 3) end
      lines = { clean(item.method) .. " " .. clean(path) .. " HTTP/" .. versionText(item.version) .. "\r\n" }
    else
      local reason = item.reason or require('http').STATUS_CODES[item.code] or ""
      lines = { "HTTP/" .. versionText(item.version) .. " " .. clean(item.code) .. " " .. clean(reason) .. "\r\n" }
    end
    local chunked = false
    for i = 1, #item do
      local name, value = item[i][1], item[i][2]
      if lower(tostring(name)) == "transfer-encoding" then
        chunked = lower(tostring(value)) == "chunked"
      end
      lines[#lines + 1] = clean(name) .. ": " .. clean(value) .. "\r\n"
    end
    lines[#lines + 1] = "\r\n"
    mode = chunked and "chunked" or "raw"
    return concat(lines)
  end

  return function(item)
    if mode == "raw" then
      if type(item) == "string" then return item end
      mode = "head"
    elseif mode == "chunked" then
      if type(item) == "string" then
        if #item == 0 then
          mode = "head"
          return "0\r\n\r\n"
        end
        return format("%x", #item) .. "\r\n" .. item .. "\r\n"
      end
      -- A new head (or nil) ends the chunked body first.
      mode = "head"
      return "0\r\n\r\n" .. (encodeHead(item) or "")
    end
    return encodeHead(item)
  end
end

-- The decoder's events (src/bindings/http.rs): a head, a piece of body, the end, or a
-- refusal.
local EV_ERROR, EV_HEAD, EV_BODY, EV_END = 0, 1, 2, 3

local function decoder()
  local dec          -- the native decoder, made for the first message's kind
  local fed = 0      -- how much of the caller's buffer the decoder has already
  local ended = false -- a head that ended its message: its "" is due next

  -- The next event, or nil when more input is needed.
  local function nextEvent()
    if ended then
      ended = false
      return ""
    end
    local ev, a, b, c, d, e, f = dec:next()
    if ev == EV_HEAD then
      local head = { version = tonumber(d), keepAlive = e }
      if type(b) == "number" then
        head.code, head.reason = b, c
      else
        head.method, head.path = b, c
      end
      local _, raw = native.headers(f, true)
      for i = 1, #raw, 2 do head[#head + 1] = { raw[i], raw[i + 1] } end
      ended = a == true
      return head
    elseif ev == EV_BODY then
      return a
    elseif ev == EV_END then
      return ""
    elseif ev == EV_ERROR then
      error("http-codec: " .. tostring(b) .. " (" .. tostring(a) .. ")", 0)
    end
    return nil
  end

  -- The caller passes what it holds: what it kept when the last call needed more
  -- input, with the new bytes after it (luvit's convention). Those kept bytes were
  -- fed already; an event hands back "" as the rest, since the decoder holds it all.
  return function(buffer)
    if buffer == nil then
      if not dec then return nil end
      dec:eof()
      return nextEvent(), ""
    end
    if dec == nil then
      if #buffer == 0 then return nil end
      -- A response starts "HTTP/"; anything else is a request.
      if #buffer < 5 and find("HTTP/", buffer, 1, true) == 1 then return nil end
      local mode = find(buffer, "HTTP/", 1, true) == 1 and "response" or "request"
      dec = native.decoder(mode, 8192, math.huge)
    end
    if #buffer > fed then
      dec:feed(fed == 0 and buffer or buffer:sub(fed + 1))
    end
    local event = nextEvent()
    if event == nil then
      fed = #buffer
      return nil
    end
    fed = 0
    return event, ""
  end
end

return {
  encoder = encoder,
  decoder = decoder,
}

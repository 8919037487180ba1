--[[
url: parse and format URLs, as node's legacy url module.

  local url = require('url')
  local u = url.parse("http://user@example.com:8080/a/b?x=1#top")
  --> u.protocol "http" (luvit's: no colon), u.hostname "example.com", u.port "8080",
  --  u.pathname "/a/b", u.search "?x=1", u.query "x=1", u.path "/a/b?x=1",
  --  u.hash "#top", u.auth "user"
  local q = url.parse("/p?a=1&b=2", true).query   --> { a = "1", b = "2" }
  url.resolve("http://a/b/c/d", "../e?f")           --> "http://a/b/e?f"

resolve and resolveObject follow RFC 3986 (section 5.2); resolveObject returns the
parsed result.
]]

local querystring = require('querystring')

local function parse(str, parseQueryString)
  if type(str) ~= "string" then
    error("url.parse: argument #1 must be a string, got " .. type(str), 2)
  end
  local u = { href = str }
  local rest = str
  local hash = rest:match("#.*$")
  if hash then
    u.hash = hash
    rest = rest:sub(1, #rest - #hash)
  end
  local protocol = rest:match("^(%a[%w+.-]*:)")
  if protocol then
    u.protocol = protocol:lower():sub(1, -2)
    rest = rest:sub(#protocol + 1)
  end
  if rest:sub(1, 2) == "//" then
    rest = rest:sub(3)
    local authority = rest:match("^[^/?]*")
    rest = rest:sub(#authority + 1)
    local auth, hostport = authority:match("^(.*)@(.*)$")
    if auth then
      u.auth = auth
    else
      hostport = authority
    end
    u.host = hostport:lower()
    local h, port = hostport:match("^%[(.-)%]:?(%d*)$")
    if not h then
      h, port = hostport:match("^(.-):(%d+)$")
      h = h or hostport
    end
    u.hostname = h:lower()
    if port and port ~= "" then u.port = port end
  end
  local search = rest:match("%?.*$")
  if search then
    u.search = search
    u.query = search:sub(2)
    rest = rest:sub(1, #rest - #search)
  end
  u.pathname = rest ~= "" and rest or (u.host and "/" or nil)
  u.path = (u.pathname or "") .. (u.search or "")
  if parseQueryString then
    u.query = querystring.parse(u.query or "")
  end
  return u
end

local function format(u)
  local parts = {}
  local hasHost = u.host ~= nil or u.hostname ~= nil
  if u.protocol then
    -- (With or without its colon: luvit's parse gives it without, node's with.)
    parts[#parts + 1] = u.protocol:gsub(":$", "") .. ":" .. (hasHost and "//" or "")
  elseif hasHost then
    parts[#parts + 1] = "//"
  end
  if u.auth then parts[#parts + 1] = u.auth .. "@" end
  if u.host then
    parts[#parts + 1] = u.host
  elseif u.hostname then
    parts[#parts + 1] = u.hostname .. (u.port and (":" .. u.port) or "")
  end
  parts[#parts + 1] = u.pathname or ""
  if u.search then
    parts[#parts + 1] = u.search
  elseif type(u.query) == "table" then
    local q = querystring.stringify(u.query)
    if q ~= "" then parts[#parts + 1] = "?" .. q end
  end
  parts[#parts + 1] = u.hash or ""
  return table.concat(parts)
end

-- RFC 3986, section 5.2.4: a path with its "." and ".." segments applied.
local function removeDots(path)
  local out = {}
  local absolute = path:sub(1, 1) == "/"
  local segments = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do segments[#segments + 1] = seg end
  if absolute then table.remove(segments, 1) end
  local last = segments[#segments]
  for _, seg in ipairs(segments) do
    if seg == ".." then
      if #out > 0 then table.remove(out) end
    elseif seg ~= "." then
      out[#out + 1] = seg
    end
  end
  -- A path that ended in "." or ".." names a directory: keep its slash.
  if (last == "." or last == "..") and out[#out] ~= "" then out[#out + 1] = "" end
  local joined = table.concat(out, "/")
  return absolute and "/" .. joined or joined
end

-- `relative` resolved against `source` (URL strings, or tables from parse).
local function resolve(source, relative)
  local base = type(source) == "table" and source or parse(source)
  local rel = type(relative) == "table" and relative or parse(relative)
  local t = {}
  if rel.protocol then
    t.protocol, t.auth, t.host, t.hostname, t.port = rel.protocol, rel.auth, rel.host, rel.hostname, rel.port
    t.pathname, t.search = rel.pathname and removeDots(rel.pathname), rel.search
  else
    if rel.host then
      t.auth, t.host, t.hostname, t.port = rel.auth, rel.host, rel.hostname, rel.port
      t.pathname, t.search = rel.pathname and removeDots(rel.pathname), rel.search
    else
      t.auth, t.host, t.hostname, t.port = base.auth, base.host, base.hostname, base.port
      local path = rel.pathname
      if path == nil or path == "" then
        t.pathname = base.pathname
        t.search = rel.search or base.search
      else
        if path:sub(1, 1) ~= "/" then
          -- Merged with the base's directory (RFC 3986, 5.2.3).
          local bpath = base.pathname
          if (base.host ~= nil) and (bpath == nil or bpath == "") then
            path = "/" .. path
          else
            path = ((bpath or ""):match("^(.*/)") or "") .. path
          end
        end
        t.pathname, t.search = removeDots(path), rel.search
      end
    end
    t.protocol = base.protocol
  end
  t.hash = rel.hash
  return format(t)
end

-- resolve, parsed.
local function resolveObject(source, relative)
  return parse(resolve(source, relative))
end

return { parse = parse, format = format, resolve = resolve, resolveObject = resolveObject }

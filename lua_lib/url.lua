--[[
url: parse and format URLs, as node's legacy url module.

  local url = require('url')
  local u = url.parse("http://user@example.com:8080/a/b?x=1#top")
  --> u.protocol "http:", u.hostname "example.com", u.port "8080", u.pathname "/a/b",
  --  u.search "?x=1", u.query "x=1", u.path "/a/b?x=1", u.hash "#top", u.auth "user"
  local q = url.parse("/p?a=1&b=2", true).query   --> { a = "1", b = "2" }
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
    u.protocol = protocol:lower()
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
  if u.protocol then parts[#parts + 1] = u.protocol .. "//" end
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

return { parse = parse, format = format }

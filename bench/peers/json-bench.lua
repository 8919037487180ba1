-- Encode and decode a ~1 MiB document (12,400 items) R times, with Stardust's json
-- or, under plain LuaJIT, lua-cjson. Usage: stardust json-bench.lua R | luajit json-bench.lua R
local R = tonumber((process and process.argv[2]) or arg[1]) or 100
local ok, stardustJson = pcall(require, 'json')
local encode, decode, clock
if process then
  encode, decode = stardustJson.stringify, stardustJson.parse
  clock = function() return process.hrtime() / 1e9 end
else
  local cjson = require('cjson')
  encode, decode = cjson.encode, cjson.decode
  clock = os.clock
end
local doc = { items = {} }
for i = 0, 12399 do
  doc.items[#doc.items + 1] = { id = i, name = "item number " .. i, tags = { "a", "b", "c" }, price = i * 1.25, ok = i % 2 == 0 }
end
local text = encode(doc)
local t0 = clock()
for _ = 1, R do decode(encode(doc)) end
local t1 = clock()
print(string.format("json_bytes=%d rounds=%d total_ms=%.1f", #text, R, (t1 - t0) * 1000))

--[[
helpful: "did you mean" hints for a module's missing fields, as luvit's.

  local fs = require('helpful')('fs')   -- or require('helpful')('name', module)
  fs.redFile                            -- prints: Warning: fs.redFile is nil, did you mean fs.readFile?
  string.levenshtein("kitten", "sitting")   --> 3

Loading it adds string.levenshtein (the edit distance the hints use) and
string.luvitGlobalExtend (which makes `"%s-%d" % { "a", 1 }` format), as luvit's
does.
]]

local colorize = require('pretty-print').colorize

-- The Levenshtein distance between two strings: the fewest single-byte insertions,
-- deletions and substitutions that turn one into the other (two rows, not a matrix).
function string.levenshtein(a, b)
  if a == b then return 0 end
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local prev, cur = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ai = a:byte(i)
    for j = 1, lb do
      local cost = ai == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[lb]
end

function string.luvitGlobalExtend()
  getmetatable("").__mod = function(self, values) return self:format(unpack(values)) end
end

-- `mod` (or require(prefix)), answering a missing string key with a printed hint
-- naming the closest key it has.
return function(prefix, mod)
  mod = mod or require(prefix)
  return setmetatable(mod, {
    __index = function(t, wanted)
      if type(wanted) ~= "string" then return nil end
      local closest, name = math.huge, nil
      for key in pairs(t) do
        if type(key) == "string" then
          local d = string.levenshtein(key, wanted)
          if d < closest then closest, name = d, key end
        end
      end
      if name then
        print("Warning: " .. colorize("failure", prefix .. "." .. wanted) .. " is nil, did you mean "
          .. colorize("success", prefix .. "." .. name) .. "?")
      end
      return nil
    end,
  })
end

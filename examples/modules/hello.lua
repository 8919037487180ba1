-- hello.lua
local hello = {}
hello.world = function()
  print("Hello World")
end
return hello

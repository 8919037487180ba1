-- run.lua
local hello = require('hello')
hello.world()

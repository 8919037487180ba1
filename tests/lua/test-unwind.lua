-- LuaJIT is built with its internal error unwinding (.cargo/config.toml): a Lua
-- error, or a trace the JIT gives up on, returns to its pcall without libgcc's
-- unwinder, so the binary's unwind tables (.eh_frame_hdr, .eh_frame) are never read
-- and their pages never become part of the process's RSS (docs/memory.md). This test
-- raises errors of every kind and makes the JIT abort traces, then asks the kernel
-- (/proc/self/pagemap) whether any page of those tables is mapped. It looks only at
-- the 64 KiB blocks that hold nothing but the tables, as a fault elsewhere maps the
-- 64 KiB around it.
local ffi = require('ffi')
ffi.cdef [[ double sin(double x); ]]

local BLOCK = 65536

local function u(data, offset, ctype)
  return tonumber(ffi.cast(ctype .. ' *', ffi.cast('const char *', data) + offset)[0])
end

-- The unwind tables' address range as linked, and the lowest address loaded.
local function elf_ranges(path)
  local f = assert(io.open(path, 'rb'))
  local data = f:read('*a')
  f:close()
  assert(data:sub(1, 4) == '\127ELF', 'not an ELF file')
  local shoff, shentsize, shnum, shstrndx =
    u(data, 0x28, 'uint64_t'), u(data, 0x3A, 'uint16_t'), u(data, 0x3C, 'uint16_t'), u(data, 0x3E, 'uint16_t')
  local phoff, phentsize, phnum = u(data, 0x20, 'uint64_t'), u(data, 0x36, 'uint16_t'), u(data, 0x38, 'uint16_t')
  local strtab = u(data, shoff + shstrndx * shentsize + 24, 'uint64_t')
  local sections = {}
  for i = 0, shnum - 1 do
    local sh = shoff + i * shentsize
    local name_at = strtab + u(data, sh, 'uint32_t')
    local name = data:match('^[^%z]*', name_at + 1)
    sections[name] = { addr = u(data, sh + 16, 'uint64_t'), size = u(data, sh + 32, 'uint64_t') }
  end
  local lowest = math.huge
  for i = 0, phnum - 1 do
    local ph = phoff + i * phentsize
    if u(data, ph, 'uint32_t') == 1 then -- PT_LOAD
      lowest = math.min(lowest, u(data, ph + 16, 'uint64_t'))
    end
  end
  return sections, lowest - lowest % 4096
end

-- The binary's path and where the kernel loaded it: the mapping that holds one of
-- its functions (sin, src/math.rs), and that file's first mapping.
local function loaded()
  local sin = tonumber(ffi.cast('uintptr_t', ffi.cast('void *', ffi.C.sin)))
  local path, first
  for line in io.lines('/proc/self/maps') do
    local lo, hi, file = line:match('^(%x+)-(%x+) %S+ %x+ %S+ %d+%s+(.*)$')
    lo, hi = tonumber(lo, 16), tonumber(hi, 16)
    if not path and sin >= lo and sin < hi then path = file end
    if file and file ~= '' then
      first = first or {}
      first[file] = first[file] or lo
    end
  end
  assert(path and path ~= '', 'no mapping holds sin')
  return path, first[path]
end

local function present_pages(lo, hi)
  local f = assert(io.open('/proc/self/pagemap', 'rb'))
  local present = 0
  for page = lo / 4096, hi / 4096 - 1 do
    f:seek('set', page * 8)
    local entry = assert(f:read(8))
    if entry:byte(8) >= 128 then present = present + 1 end -- bit 63: present
  end
  f:close()
  return present
end

require('tap')(function(test)
  test("errors and aborted traces leave the unwind tables unread", function()
    -- Errors from Lua, from LuaJIT's own functions and from a Rust binding.
    for i = 1, 50 do
      assert(not pcall(error, 'e' .. i))
      assert(not pcall(string.rep))
      assert(not pcall(require('json').stringify, function() end))
      assert(not pcall(coroutine.wrap(function() error('in a coroutine') end)))
    end
    -- A closure made in a hot loop is a bytecode the JIT does not compile (FNEW):
    -- each attempt to record the loop throws inside the recorder and is aborted.
    local aborts = 0
    local function on_trace(what) if what == 'abort' then aborts = aborts + 1 end end
    jit.attach(on_trace, 'trace')
    local sum = 0
    for i = 1, 5000 do
      local f = function() return i end
      sum = sum + f()
    end
    jit.attach(on_trace)
    assert(sum == 5000 * 5001 / 2)
    assert(aborts > 0, 'the JIT aborted no trace: the test did not exercise it')

    local path, at = loaded()
    local sections, lowest = elf_ranges(path)
    local hdr, frame = sections['.eh_frame_hdr'], sections['.eh_frame']
    assert(hdr and frame, 'the binary has no unwind tables')
    local base = at - lowest
    local lo = base + math.min(hdr.addr, frame.addr)
    local hi = base + math.max(hdr.addr + hdr.size, frame.addr + frame.size)
    local first = lo + (BLOCK - lo % BLOCK) % BLOCK
    local last = hi - hi % BLOCK
    assert(last - first >= BLOCK, 'no 64 KiB block holds only unwind tables')
    local present = present_pages(first, last)
    assert(present == 0, string.format('%d pages of the unwind tables are resident (%x-%x)',
      present, first, last))
  end)
end)

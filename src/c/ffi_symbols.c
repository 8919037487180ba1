/* ffi.C in the static binary (build.rs, static_link; docs/memory.md, "A static
 * binary").
 *
 * LuaJIT finds a C symbol with dlsym(RTLD_DEFAULT, name). In a dynamically linked
 * process that searches glibc and the binary's exported functions; a static binary
 * has no dynamic symbol table, so there it finds nothing. The binary is linked with
 * --wrap=dlsym, so every call to dlsym (LuaJIT's, and Rust's) comes here instead:
 * RTLD_DEFAULT is looked up in the table build.rs generates (every function and
 * variable glibc exports, and those src/math.rs defines, sorted by name), and any
 * other handle, a library ffi.load opened, goes to glibc's dlsym. */

#include <dlfcn.h>
#include <string.h>

/* static const char *const names[]; static void *const addresses[]; */
#include "ffi_symbols_table.h"

void *__real_dlsym(void *handle, const char *name);

void *__wrap_dlsym(void *handle, const char *name) {
  if (handle != RTLD_DEFAULT) return __real_dlsym(handle, name);
  size_t lo = 0, hi = sizeof names / sizeof names[0];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, names[mid]);
    if (c == 0) return addresses[mid];
    if (c < 0) hi = mid; else lo = mid + 1;
  }
  /* Not ours: glibc's dlsym fails too, and dlerror() says "undefined symbol", as it
   * does in a dynamically linked process. */
  return __real_dlsym(handle, name);
}

/* The static binary's start-up does not register its unwind tables (build.rs;
 * docs/memory.md, "A static binary").
 *
 * A static program's C run-time start-up (crtbeginT.o) hands .eh_frame to libgcc's
 * unwinder with __register_frame_info, which reads the section's first word to see
 * whether it is empty: one page, which the kernel maps with the 64 KiB around it, of
 * tables that nothing else reads (LuaJIT's errors do not unwind through them:
 * .cargo/config.toml). The binary is linked with --wrap for both functions, so the
 * start-up and exit code call these instead, which do nothing. The unwinder still
 * finds every frame's entry when a Rust panic unwinds: it looks the program's
 * .eh_frame_hdr up with dl_iterate_phdr, as it does in a dynamically linked one. */

struct object;

void __wrap___register_frame_info(const void *begin, struct object *ob) {
  (void)begin;
  (void)ob;
}

void *__wrap___deregister_frame_info(const void *begin) {
  (void)begin;
  return 0;
}

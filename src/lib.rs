//! Stardust: node.js-style APIs on LuaJIT, over a hand-rolled mio event loop.
//!
//! A map of the crate, bottom to top. Each layer uses only the layers below it:
//!
//! - [`event_loop`]: the loop itself (`mod.rs`'s `run` reads top to bottom), the
//!   slab of handles and their kinds (the stream core in `stream.rs`, `udp.rs`,
//!   `phases.rs`, `signal.rs`, `process.rs`, `watch.rs`), the timer wheel, the
//!   thread pool (`pool.rs`) and the inbox other threads post to (`inbox.rs`), the
//!   TLS transport, and the coroutine scheduler. It knows nothing of the bindings or
//!   of lua_lib: no Lua value appears here but the callbacks and coroutines a waker
//!   names, and the results the loop hands them.
//! - [`http`]: the strict HTTP/1.x decoder, and the checks on outgoing header names
//!   and values (plain Rust; bindings/http.rs is their Lua face).
//! - [`bindings`]: what Lua sees of the loop (the `native` table, which only
//!   lua_lib/uv.lua and init.lua use): one file and one userdata type per luv handle
//!   kind, the stream methods they share, the fs/dns requests, os, threads; plus the
//!   codecs (json, zlib, the HTTP decoder) and TLS configurations. Bindings reach the
//!   loop through `LoopState`'s methods and never call Lua: what must happen later
//!   is a queued task.
//! - [`lua_lib`]: the embedded standard library (the Lua sources in lua_lib/). In
//!   Lua, only `uv` reaches the loop's natives, and Lua yields only in uv.lua (and
//!   utils.adapt).
//! - [`math`]: the C math functions LuaJIT calls, so that glibc's libm is not loaded.
//! - [`runtime`]: builds the Lua state, runs the main script's coroutine, then the loop.
//!
//! `src/main.rs` is only the command line.

pub mod bindings;
pub mod event_loop;
pub mod http;
pub mod lua_lib;
pub mod math;
pub mod runtime;

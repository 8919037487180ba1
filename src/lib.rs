//! Stardust: node.js-style APIs on LuaJIT, over a hand-rolled mio event loop.
//!
//! A map of the crate, bottom to top:
//!
//! - [`event_loop`]: the loop itself (`mod.rs` reads top to bottom), the timer wheel,
//!   the slab of handles, readiness dispatch and the coroutine scheduler.
//! - [`bindings`]: what Lua sees of the loop (`native`, wrapped by lua_lib/uv.lua), one
//!   file per handle kind, plus json.
//! - [`lua_lib`]: the embedded standard library (the Lua sources in lua_lib/).
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

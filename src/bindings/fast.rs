//! Raw C functions for the per-request hot path.
//!
//! The handle methods are mlua methods, and mlua's glue for one call (type check,
//! borrow, argument and result conversion, a protected call) costs more than the
//! work of a queued write or a read that finds its bytes. The few calls a server
//! makes for every request are also offered here as plain `lua_CFunction`s, which
//! LuaJIT calls directly. They take a handle by its id (`handle:id()`: slab key and
//! generation, so a stale id finds nothing), and do only the common case: anything
//! that has to register a waker (a callback, a waiting coroutine) stays with the
//! mlua methods.
//!
//! - `now()`: the loop's time in ms, as `uv.now()`.
//! - `tcp_queue_write(key, gen, data)`: as `handle:queue_write(data)` without a
//!   callback: true and the bytes now queued, or nil, err, code.
//! - `http_next(key, gen, decoder, wait, tables)`: the decoder's next event, as
//!   `decoder:next()` returns it, reading the socket into the decoder (as
//!   `handle:try_read_into(decoder)`) for as long as it needs more and bytes are
//!   there: one call where a request that has arrived took three (next, read, next).
//!   With `tables`, a head's header lines come as the headers table
//!   `native.http_headers` would make of them (http.server: one call fewer).
//!   Where it would wait: with `wait`, nothing of the next message come yet, and an
//!   `on_readable` waker set on the handle (`handle:set_on_readable(fn or
//!   coroutine)`), it registers that and returns WAIT (http's idle connections wait
//!   with a callback and hold no coroutine; http.server's connection coroutine is its
//!   own on_readable); otherwise it returns false, and the caller waits through the
//!   method, which registers its coroutine. At EOF nil; on a read error nil, err,
//!   code. Each call from compiled Lua to C ends a trace and goes through the
//!   interpreter, so saving two calls per request saves more than their work.
//!
//! Each function holds the loop state in a userdata upvalue, so the state lives as
//! long as any of them.
//!
//! A Lua error raised here (a bad argument, a busy state) goes back to its `pcall`
//! by a jump, over these Rust frames (LuaJIT's internal unwinding, .cargo/config.toml;
//! PUC Lua's longjmp is the same): no value that needs dropping (a borrow of the loop
//! state, a `String`) may be live where one can be raised. Only running out of memory
//! can raise in the pushes that follow a `String`'s making (`push_error`).
//!
//! Four more are plain C functions for LuaJIT's FFI, which a trace calls directly,
//! with no C-call boundary (a `lua_CFunction` called from compiled code ends the
//! trace, and the code after it runs interpreted until the next trace starts):
//! lua_lib/uv.lua casts `native.ffi.*` (their addresses, as light userdata) to
//! function pointers.
//!
//! - `tcp_queue_write(key, gen, data, len)`: `tcp_queue_write` for one string: the
//!   bytes now queued, or -1 when the id is not a connected TCP handle
//!   (`uv.queue_write_fast` then takes the general path, which says why).
//! - `unix_time()`: seconds since 1970, as `os.time()` (the Date header).
//! - `now()`: the loop's time in ms, as `uv.now()`; -1 if the loop state is busy.
//! - `http_buffered(decoder)`: `decoder:buffered()`; -1 if it is not a decoder.
//!
//! They reach the loop state through a thread-local (`FFI_STATE`), as the FFI passes
//! no Lua state.

use std::ffi::{c_int, CStr};

use mlua::{ffi, Function, Lua, Result, Table};

use crate::event_loop::errors::describe;
use crate::event_loop::handle::HandleId;
use crate::event_loop::scheduler::wait_marker;
use crate::event_loop::stream::ReadOnce;
use crate::event_loop::waker::Waker;
use crate::event_loop::Kind;
use crate::event_loop::{LoopState, SharedState};
use crate::http::decoder::Decoder;

thread_local! {
    /// The loop state, for the FFI functions (set by `install`).
    static FFI_STATE: std::cell::RefCell<Option<SharedState>> = const { std::cell::RefCell::new(None) };
}

/// Adds the functions to the `native` table.
pub fn install(lua: &Lua, native: &Table, state: &SharedState) -> Result<()> {
    FFI_STATE.with(|s| *s.borrow_mut() = Some(state.clone()));
    let ffi_table = lua.create_table()?;
    ffi_table.set(
        "tcp_queue_write",
        mlua::LightUserData(ffi_tcp_queue_write as *mut std::ffi::c_void),
    )?;
    ffi_table.set(
        "unix_time",
        mlua::LightUserData(ffi_unix_time as *mut std::ffi::c_void),
    )?;
    ffi_table.set("now", mlua::LightUserData(ffi_now as *mut std::ffi::c_void))?;
    ffi_table.set(
        "http_buffered",
        mlua::LightUserData(ffi_http_buffered as *mut std::ffi::c_void),
    )?;
    native.set("ffi", ffi_table)?;
    // (name, function, whether it pushes decoder events: those have the version
    // strings as upvalues 2 and 3, see bindings/http.rs)
    let entries: [(&CStr, ffi::lua_CFunction, bool); 3] = [
        (c"now", now, false),
        (c"tcp_queue_write", tcp_queue_write, false),
        (c"http_next", http_next, true),
    ];
    for (name, f, events) in entries {
        let state = state.clone();
        // SAFETY: runs protected inside exec_raw and pushes at most five values.
        let function: Function = unsafe {
            lua.exec_raw((), move |l| {
                push_state(l, state);
                if events {
                    ffi::lua_pushstring(l, c"1.0".as_ptr());
                    ffi::lua_pushstring(l, c"1.1".as_ptr());
                    ffi::lua_pushcclosure(l, f, 3);
                } else {
                    ffi::lua_pushcclosure(l, f, 1);
                }
            })?
        };
        native.set(name.to_str().expect("ASCII names"), function)?;
    }
    Ok(())
}

/// Pushes a userdata that owns a reference to the loop state (dropped by __gc).
unsafe fn push_state(l: *mut ffi::lua_State, state: SharedState) {
    let at = ffi::lua_newuserdata(l, std::mem::size_of::<SharedState>()).cast::<SharedState>();
    at.write(state);
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushcfunction(l, drop_state);
    ffi::lua_setfield(l, -2, c"__gc".as_ptr());
    ffi::lua_setmetatable(l, -2);
}

unsafe extern "C-unwind" fn drop_state(l: *mut ffi::lua_State) -> c_int {
    std::ptr::drop_in_place(ffi::lua_touserdata(l, 1).cast::<SharedState>());
    0
}

/// The loop state of the running C function (its upvalue).
unsafe fn state<'a>(l: *mut ffi::lua_State) -> &'a SharedState {
    &*ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)).cast::<SharedState>()
}

/// The handle id in arguments 1 and 2.
unsafe fn handle_id(l: *mut ffi::lua_State) -> HandleId {
    HandleId {
        key: ffi::luaL_checkinteger(l, 1) as usize,
        gen: ffi::luaL_checkinteger(l, 2) as u32,
    }
}

/// Pushes nil, "CODE: message", "CODE" and returns the count.
unsafe fn push_error(l: *mut ffi::lua_State, code: &str, message: &str) -> c_int {
    ffi::lua_pushnil(l);
    let text = format!("{code}: {message}");
    ffi::lua_pushlstring(l, text.as_ptr().cast(), text.len());
    ffi::lua_pushlstring(l, code.as_ptr().cast(), code.len());
    3
}

unsafe extern "C-unwind" fn now(l: *mut ffi::lua_State) -> c_int {
    let Ok(now) = state(l).try_borrow().map(|st| st.now()) else {
        return busy(l);
    };
    ffi::lua_pushnumber(l, now as ffi::lua_Number);
    1
}

unsafe extern "C-unwind" fn tcp_queue_write(l: *mut ffi::lua_State) -> c_int {
    let id = handle_id(l);
    // The data: a string, or a list of strings (checked before anything is queued).
    let mut parts: [&[u8]; 8] = [&[]; 8];
    let count = match ffi::lua_type(l, 3) {
        ffi::LUA_TSTRING => {
            parts[0] = lua_bytes(l, 3);
            1
        }
        ffi::LUA_TTABLE => {
            let n = ffi::lua_objlen(l, 3);
            if n > parts.len() {
                return ffi::luaL_argerror(l, 3, c"at most 8 strings here".as_ptr());
            }
            for (i, part) in parts.iter_mut().enumerate().take(n) {
                ffi::lua_rawgeti(l, 3, i as ffi::lua_Integer + 1);
                if ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
                    return ffi::luaL_argerror(l, 3, c"a list of strings expected".as_ptr());
                }
                // (The string stays alive in the list while it is used.)
                *part = lua_bytes(l, -1);
                ffi::lua_pop(l, 1);
            }
            n
        }
        _ => return ffi::luaL_typerror(l, 3, c"string or list of strings".as_ptr()),
    };
    let queued = {
        let Ok(mut st) = state(l).try_borrow_mut() else {
            return busy(l);
        };
        queue_on_stream(&mut st, id, &parts[..count])
    };
    // (Pushed once the state is no longer borrowed: see `read_step`.)
    match queued {
        Ok(queued) => {
            ffi::lua_pushboolean(l, 1);
            ffi::lua_pushnumber(l, queued as ffi::lua_Number);
            2
        }
        Err((code, message)) => push_error(l, code, message),
    }
}

/// Queues `parts` on handle `id` if it is a connected stream: the bytes now
/// queued, or the error's code and message.
fn queue_on_stream(
    st: &mut LoopState,
    id: HandleId,
    parts: &[&[u8]],
) -> std::result::Result<usize, (&'static str, &'static str)> {
    st.queue_write(id, parts)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EBADF) => ("EBADF", "handle is closed"),
            _ => ("ENOTCONN", "socket is not connected"),
        })
}

/// The FFI's `tcp_queue_write(key, gen, data, len)`: see the module's header. (A
/// double, not an integer type: LuaJIT returns an int64 as a boxed cdata outside
/// traces, and a double as a plain number.)
extern "C" fn ffi_tcp_queue_write(key: u32, gen: u32, data: *const u8, len: usize) -> f64 {
    let bytes: &[u8] = if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: the caller (uv.lua) passes a Lua string and its length; the string
        // is an argument of the running call, so it is alive until this returns.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    let id = HandleId {
        key: key as usize,
        gen,
    };
    FFI_STATE.with(|cell| {
        let cell = cell.borrow();
        let Some(state) = cell.as_ref() else {
            return -1.0;
        };
        // Busy: only if Lua reached here from inside the loop's own code, which no
        // path does; the caller's general path reports it.
        let Ok(mut st) = state.try_borrow_mut() else {
            return -1.0;
        };
        queue_on_stream(&mut st, id, &[bytes]).map_or(-1.0, |queued| queued as f64)
    })
}

/// The FFI's `unix_time()`: whole seconds since 1970 (0 if the clock is before it).
extern "C" fn ffi_unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs() as f64)
}

/// The FFI's `now()`: the loop's time in milliseconds (as `uv.now()`), or -1 if the
/// loop state is busy, which no path allows (the caller then asks `uv.now()`, which
/// says so).
extern "C" fn ffi_now() -> f64 {
    FFI_STATE.with(|cell| {
        let cell = cell.borrow();
        let Some(state) = cell.as_ref() else {
            return -1.0;
        };
        state.try_borrow().map_or(-1.0, |st| st.now() as f64)
    })
}

/// The FFI's `http_buffered(decoder)`: the bytes a decoder holds that it has not
/// decoded yet (as `decoder:buffered()`), or -1 if the argument is not a live decoder.
/// The FFI passes a userdata as the address of its payload.
extern "C" fn ffi_http_buffered(decoder: *const std::ffi::c_void) -> f64 {
    match super::http::decoder_at(decoder as usize) {
        // SAFETY: a live decoder, and no Lua code runs while this reads it.
        Some(d) => unsafe { d.as_ref().buffered() as f64 },
        None => -1.0,
    }
}

/// The decoder that is argument 3, or a Lua error.
unsafe fn decoder_arg(l: *mut ffi::lua_State) -> std::ptr::NonNull<Decoder> {
    let decoder = ffi::lua_touserdata(l, 3);
    match (!decoder.is_null())
        .then(|| super::http::decoder_at(decoder as usize))
        .flatten()
    {
        Some(d) => d,
        None => {
            ffi::luaL_typerror(l, 3, c"http decoder".as_ptr());
            unreachable!("luaL_typerror raises")
        }
    }
}

/// What one raw read into a decoder did.
enum ReadStep {
    /// Bytes came and were fed to the decoder.
    Fed,
    Eof,
    /// None to read: the handle's on_readable waker was registered (true) or not.
    Waiting(bool),
    Failed((&'static str, String)),
}

/// Reads socket `id` once into the decoder. With `may_wait`, where it would block it
/// registers the handle's on_readable waker, if it has one. Pushes nothing: a value
/// pushed while the loop state is borrowed could run a finalizer that needs it.
unsafe fn read_step(
    l: *mut ffi::lua_State,
    id: HandleId,
    decoder: &mut std::ptr::NonNull<Decoder>,
    may_wait: bool,
) -> ReadStep {
    let Ok(mut st) = state(l).try_borrow_mut() else {
        busy(l);
        unreachable!("busy raises")
    };
    let Some((Kind::Stream(t), read_buf)) = st.kind_and_read_buf(id) else {
        return ReadStep::Failed(("EBADF", "handle is closed".into()));
    };
    match t.read_once(read_buf) {
        ReadOnce::Data(n) => {
            // SAFETY: the caller's argument 3 keeps the decoder alive, and no Lua code
            // runs while the reference is used.
            decoder.as_mut().feed(&read_buf[..n]);
            ReadStep::Fed
        }
        ReadOnce::Eof => ReadStep::Eof,
        ReadOnce::WouldBlock => {
            let waker = t
                .on_readable
                .as_ref()
                .and_then(Waker::share)
                .filter(|_| may_wait);
            let registered = waker.is_some();
            if registered {
                t.read_waiter = waker;
                st.refresh_stream_active(id);
            }
            ReadStep::Waiting(registered)
        }
        ReadOnce::Failed(e) => ReadStep::Failed(describe(&e)),
    }
}

/// The bytes of the string at `index` (valid while that string is).
unsafe fn lua_bytes<'a>(l: *mut ffi::lua_State, index: c_int) -> &'a [u8] {
    let mut len = 0;
    let at = ffi::lua_tolstring(l, index, &mut len);
    std::slice::from_raw_parts(at.cast::<u8>(), len)
}

/// A raw function called while Rust holds the loop state: a Lua callback reached it
/// from inside the loop's own code, which must not happen.
unsafe fn busy(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_error(
        l,
        c"the loop state is busy (called from inside the loop)".as_ptr(),
    )
}

unsafe extern "C-unwind" fn http_next(l: *mut ffi::lua_State) -> c_int {
    let id = handle_id(l);
    let wait = ffi::lua_toboolean(l, 4) != 0;
    let tables = ffi::lua_toboolean(l, 5) != 0;
    let mut decoder = decoder_arg(l);
    loop {
        // SAFETY: argument 3 keeps the decoder alive, and no Lua code runs while the
        // reference is used.
        if let Some(n) = super::http::push_event(l, decoder.as_mut(), tables) {
            return n;
        }
        // WAIT only between messages: a message begun is waited for by the caller.
        let may_wait = wait && decoder.as_ref().idle();
        match read_step(l, id, &mut decoder, may_wait) {
            ReadStep::Fed => continue,
            ReadStep::Eof => ffi::lua_pushnil(l),
            ReadStep::Waiting(true) => ffi::lua_pushlightuserdata(l, wait_marker().0),
            ReadStep::Waiting(false) => ffi::lua_pushboolean(l, 0),
            ReadStep::Failed((code, message)) => return push_error(l, code, &message),
        }
        return 1;
    }
}

//! `native.http_decoder(mode, max_head, max_body)`: the strict HTTP decoder as a
//! userdata. The socket reads straight into it (`tcp:try_read_into(decoder)`), so
//! request bytes never pass through Lua strings until they are a head table or a
//! body chunk.
//!
//! `decoder:next()` returns one event:
//! - `1, head, complete`: a parsed head (see `push_head`: method, url or statusCode,
//!   statusMessage, httpVersion, keepAlive, flags, and the header lines as one string,
//!   `_rawHead`, which `native.http_headers` turns into tables on demand); `complete`
//!   when the message has no body (its end is consumed with the head);
//! - `2, chunk`: a piece of body;
//! - `3`: the message is complete;
//! - `nil`: more input is needed;
//! - `0, status, message`: bad input, with the status to answer (400, 413, 414, 431).

use std::ffi::{c_int, CStr};

use mlua::{ffi, IntoLuaMulti, Lua, MultiValue, Result, UserData, UserDataMethods};

use crate::http::decoder::{Decoder, Event, Mode};

pub struct HttpDecoder(pub Decoder);

pub fn new_decoder(
    _: &Lua,
    (mode, max_head, max_body): (String, Option<f64>, Option<f64>),
) -> Result<HttpDecoder> {
    let mode = match mode.as_str() {
        "request" => Mode::Request,
        "response" => Mode::Response,
        other => {
            return Err(mlua::Error::runtime(format!(
                "http_decoder: mode must be \"request\" or \"response\", got {other:?}"
            )))
        }
    };
    let mut d = Decoder::new(mode);
    if let Some(n) = max_head {
        d.max_head = n.max(64.0) as usize;
    }
    if let Some(n) = max_body {
        d.max_body = if n >= u64::MAX as f64 {
            u64::MAX
        } else {
            n.max(0.0) as u64
        };
    }
    Ok(HttpDecoder(d))
}

/// Pushes the head as Lua sees it (node's IncomingMessage fields) with the raw C API:
/// building this table is the hot path of every request, and going through mlua's
/// safe setters (a lock and a stack check per field) costs several times more.
///
/// # Safety
/// `state` must be a valid Lua state with room for a few more stack slots; called only
/// from inside `Lua::exec_raw`, which runs it protected and checks the stack.
unsafe fn push_head(state: *mut ffi::lua_State, d: &Decoder) {
    let h = d.head();
    let text = |r: &std::ops::Range<usize>| d.slice(r.clone());
    unsafe fn set_str(state: *mut ffi::lua_State, key: &CStr, value: &[u8]) {
        ffi::lua_pushlstring(state, value.as_ptr().cast(), value.len());
        ffi::lua_setfield(state, -2, key.as_ptr());
    }
    unsafe fn set_bool(state: *mut ffi::lua_State, key: &CStr, value: bool) {
        ffi::lua_pushboolean(state, value as c_int);
        ffi::lua_setfield(state, -2, key.as_ptr());
    }
    // Room for what IncomingMessage adds (path, socket, connection).
    ffi::lua_createtable(state, 0, 14);
    if h.status == 0 {
        set_str(state, c"method", text(&h.method));
        set_str(state, c"url", text(&h.url));
    } else {
        ffi::lua_pushinteger(state, h.status as ffi::lua_Integer);
        ffi::lua_setfield(state, -2, c"statusCode".as_ptr());
        set_str(state, c"statusMessage", text(&h.reason));
    }
    set_str(
        state,
        c"httpVersion",
        if h.version_minor == 0 { b"1.0" } else { b"1.1" },
    );
    set_bool(state, c"keepAlive", h.keep_alive);
    if h.upgrade {
        set_bool(state, c"upgrade", true);
    }
    if h.expect_continue {
        set_bool(state, c"expectContinue", true);
    }
    if h.chunked {
        set_bool(state, c"chunked", true);
    }
    if let Some(n) = h.content_length {
        ffi::lua_pushnumber(state, n as f64);
        ffi::lua_setfield(state, -2, c"contentLength".as_ptr());
    }
    // headers: lower-case names; repeats joined with ", " as node does, except
    // set-cookie, which is a list. rawHeaders: name, value, name, value... as sent.
    // The headers become tables only when someone asks (`http_headers`): most
    // handlers never look at most requests' headers.
    set_str(state, c"_rawHead", text(&h.block));
}

/// `native.http_headers(block, raw)`: the header tables of a head's `rawHead` block:
/// `headers` (lower-case names; a repeated header joined with ", ", except set-cookie,
/// which is a list) and, if `raw`, `rawHeaders` (name, value, ... as sent).
pub fn headers(
    lua: &Lua,
    (block, want_raw): (mlua::LuaString, Option<bool>),
) -> Result<MultiValue> {
    let bytes = block.as_bytes();
    let mut parsed = [httparse::EMPTY_HEADER; crate::http::decoder::MAX_HEADERS];
    let n = match httparse::parse_headers(&bytes, &mut parsed) {
        Ok(httparse::Status::Complete((_, hs))) => hs.len(),
        _ => {
            return Err(mlua::Error::runtime(
                "http_headers: not a header block from the decoder",
            ))
        }
    };
    let parsed = &parsed[..n];
    let want_raw = want_raw.unwrap_or(false);
    unsafe {
        lua.exec_raw((), |state| {
            ffi::lua_createtable(state, 0, n as c_int);
            if want_raw {
                ffi::lua_createtable(state, (n * 2) as c_int, 0);
            }
            push_headers(state, parsed, want_raw);
        })
    }
}

/// Fills the headers table (and the rawHeaders table above it, if `raw`).
unsafe fn push_headers(state: *mut ffi::lua_State, parsed: &[httparse::Header], raw: bool) {
    let top = ffi::lua_gettop(state);
    let (headers, raw_index) = if raw { (top - 1, top) } else { (top, 0) };
    let mut lower = Vec::with_capacity(32);
    for (i, h) in parsed.iter().enumerate() {
        let name = h.name.as_bytes();
        let value = crate::http::decoder::trim(h.value);
        // Each string is made once and copied on the stack (making one hashes it).
        // Stack: name, value, then the lower-case key.
        ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
        if raw {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawseti(state, raw_index, (2 * i + 1) as ffi::lua_Integer);
        }
        ffi::lua_pushlstring(state, value.as_ptr().cast(), value.len());
        if raw {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawseti(state, raw_index, (2 * i + 2) as ffi::lua_Integer);
        }
        if name.iter().any(|b| b.is_ascii_uppercase()) {
            lower.clear();
            lower.extend(name.iter().map(|b| b.to_ascii_lowercase()));
            ffi::lua_pushlstring(state, lower.as_ptr().cast(), lower.len());
        } else {
            ffi::lua_pushvalue(state, -2);
        }
        ffi::lua_pushvalue(state, -1);
        ffi::lua_rawget(state, headers);
        let existing = ffi::lua_type(state, -1);
        if name.eq_ignore_ascii_case(b"set-cookie") {
            if existing != ffi::LUA_TTABLE {
                ffi::lua_pop(state, 1);
                ffi::lua_createtable(state, 2, 0);
                ffi::lua_pushvalue(state, -2); // key
                ffi::lua_pushvalue(state, -2); // list
                ffi::lua_rawset(state, headers);
            }
            let n = ffi::lua_objlen(state, -1);
            ffi::lua_pushvalue(state, -3); // value
            ffi::lua_rawseti(state, -2, (n + 1) as ffi::lua_Integer);
            ffi::lua_pop(state, 2); // list, key
        } else if existing == ffi::LUA_TSTRING {
            let mut len = 0usize;
            let old = ffi::lua_tolstring(state, -1, &mut len);
            let mut joined = std::slice::from_raw_parts(old.cast::<u8>(), len).to_vec();
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
            ffi::lua_pop(state, 1);
            ffi::lua_pushlstring(state, joined.as_ptr().cast(), joined.len());
            ffi::lua_rawset(state, headers);
        } else {
            ffi::lua_pop(state, 1);
            ffi::lua_pushvalue(state, -2); // value
            ffi::lua_rawset(state, headers);
        }
        ffi::lua_pop(state, 2); // name, value
    }
}

pub fn next_event(lua: &Lua, d: &mut Decoder) -> Result<MultiValue> {
    let event = d.next();
    match event {
        Event::NeedMore => Ok(MultiValue::new()),
        Event::End => 3.into_lua_multi(lua),
        Event::Error(status, why) => (0, status, why).into_lua_multi(lua),
        Event::Body(r) => {
            let bytes = d.slice(r);
            // SAFETY: pushes two values; exec_raw reserves the stack and runs us protected.
            unsafe {
                lua.exec_raw((), |state| {
                    ffi::lua_pushinteger(state, 2);
                    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
                })
            }
        }
        Event::Head => {
            // A message with no body ends with its head: say so now (a third result,
            // true) and save the caller a call for the End event.
            let complete = d.at_empty_body();
            if complete {
                d.next();
            }
            // SAFETY: push_head's contract; exec_raw runs it protected, and the few
            // extra slots it needs are within LUA_MINSTACK.
            unsafe {
                lua.exec_raw((), |state| {
                    ffi::lua_pushinteger(state, 1);
                    push_head(state, d);
                    ffi::lua_pushboolean(state, complete as c_int);
                })
            }
        }
    }
}

impl UserData for HttpDecoder {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("next", |lua, this, ()| next_event(lua, &mut this.0));
        methods.add_method_mut("feed", |_, this, data: mlua::LuaString| {
            this.0.feed(&data.as_bytes());
            Ok(())
        });
        methods.add_method_mut("eof", |_, this, ()| {
            this.0.eof();
            Ok(())
        });
        methods.add_method_mut("set_no_body", |_, this, ()| {
            this.0.set_no_body();
            Ok(())
        });
        methods.add_method("buffered", |_, this, ()| Ok(this.0.buffered()));
        methods.add_method("idle", |_, this, ()| Ok(this.0.idle()));
    }
}

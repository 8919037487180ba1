//! `native.http_decoder(mode, max_head, max_body)`: the strict HTTP decoder, as a
//! plain Lua userdata whose methods are C functions. The socket reads straight into it
//! (`tcp:try_read_into(decoder)`), so request bytes never pass through Lua strings
//! until they are a head or a body chunk.
//!
//! `decoder:next()` returns one event:
//! - `1, complete, method, url, httpVersion, keepAlive, rawHead, flags, contentLength`
//!   for a request head, or `1, complete, statusCode, statusMessage, ...` (the same
//!   after) for a response head. `complete` is true when the message has no body (its
//!   end is consumed with the head). `rawHead` is the header lines through the blank
//!   line, which `native.http_headers` turns into tables on demand. `flags` adds up
//!   1 (an upgrade), 2 (`Expect: 100-continue`) and 4 (a chunked body);
//!   `contentLength` is nil without a length. The head is values, not a table: the
//!   Lua side builds its message with one constructor, which costs less than a table
//!   built key by key here;
//! - `2, chunk`: a piece of body;
//! - `3`: the message is complete;
//! - `nil, idle`: more input is needed; `idle` is true when none of the next message
//!   has come yet (what `decoder:idle()` says, without a second call);
//! - `0, status, message`: bad input, with the status to answer (400, 413, 414, 431).
//!
//! Why not an mlua `UserData` like the other handles: `next` and `idle` run for every
//! request, and mlua's method glue (type check, borrow, argument and result vectors,
//! a protected call) cost several times the work they do. A raw C function is called
//! by LuaJIT directly; comparing the metatable with an upvalue is its type check.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{c_int, CStr};
use std::hash::{BuildHasherDefault, Hasher};

use mlua::{ffi, Function, Lua, Result};

use crate::http::decoder::{Decoder, Event, Mode};

/// The type's name: its metatable's key in the registry, and what misuse errors say.
const TYPE_NAME: &CStr = c"stardust.http_decoder";

thread_local! {
    /// Addresses of the live decoders, so that a binding given some userdata by an
    /// mlua method (`try_read_into`) can tell whether it is one. (Looked up for every
    /// request, by `http_next`: hashed by `AddressHasher`.)
    static LIVE: RefCell<HashSet<usize, BuildHasherDefault<AddressHasher>>> =
        const { RefCell::new(HashSet::with_hasher(BuildHasherDefault::new())) };
}

/// Hashes an address with one multiplication (Fibonacci hashing), its high bits
/// folded onto the low ones that pick the bucket: a set of addresses (ours, not the
/// peer's) needs no defence against chosen keys, which SipHash, the default, pays for.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// The decoder inside `ud`, if `ud` is a live decoder. Dereferencing it is for a
/// binding that holds `ud` and runs no Lua code (the decoder's methods would alias it)
/// while it uses the reference.
pub fn decoder_ptr(ud: &mlua::AnyUserData) -> Option<std::ptr::NonNull<Decoder>> {
    decoder_at(ud.to_pointer() as usize)
}

/// The decoder at address `at` (a userdata's payload), if a live decoder is there.
pub fn decoder_at(at: usize) -> Option<std::ptr::NonNull<Decoder>> {
    let live = LIVE.with(|set| set.borrow().contains(&at));
    live.then(|| std::ptr::NonNull::new(at as *mut Decoder))
        .flatten()
}

/// `next`'s upvalues after the metatable (and `native.http_next`'s after the loop
/// state): the two version strings, made once.
const V_HTTP10: c_int = 2;
const V_HTTP11: c_int = 3;

/// Makes the decoder's metatable and returns the constructor, `native.http_decoder`.
/// Every C function here has the metatable as upvalue 1 (comparing with it is the type
/// check); `next` has the version strings after it.
pub fn constructor(lua: &Lua) -> Result<Function> {
    // SAFETY: runs protected inside exec_raw, and pushes no more than LUA_MINSTACK.
    unsafe {
        lua.exec_raw((), |state| {
            ffi::luaL_newmetatable(state, TYPE_NAME.as_ptr());
            let mt = ffi::lua_gettop(state);
            let closure = |f: ffi::lua_CFunction| {
                ffi::lua_pushvalue(state, mt);
                ffi::lua_pushcclosure(state, f, 1);
            };
            ffi::lua_createtable(state, 0, 6);
            ffi::lua_pushvalue(state, mt);
            ffi::lua_pushstring(state, c"1.0".as_ptr());
            ffi::lua_pushstring(state, c"1.1".as_ptr());
            ffi::lua_pushcclosure(state, dec_next, 3);
            ffi::lua_setfield(state, -2, c"next".as_ptr());
            let methods: [(&CStr, ffi::lua_CFunction); 5] = [
                (c"feed", dec_feed),
                (c"eof", dec_eof),
                (c"set_no_body", dec_set_no_body),
                (c"buffered", dec_buffered),
                (c"idle", dec_idle),
            ];
            for (name, f) in methods {
                closure(f);
                ffi::lua_setfield(state, -2, name.as_ptr());
            }
            ffi::lua_setfield(state, mt, c"__index".as_ptr());
            closure(dec_gc);
            ffi::lua_setfield(state, mt, c"__gc".as_ptr());
            closure(dec_new);
            ffi::lua_remove(state, mt);
        })
    }
}

/// `native.http_decoder(mode, max_head, max_body)`.
unsafe extern "C-unwind" fn dec_new(state: *mut ffi::lua_State) -> c_int {
    let mut len = 0;
    let name = ffi::luaL_checklstring(state, 1, &mut len);
    let mode = match std::slice::from_raw_parts(name.cast::<u8>(), len) {
        b"request" => Mode::Request,
        b"response" => Mode::Response,
        _ => {
            return ffi::luaL_error(
                state,
                c"http_decoder: mode must be \"request\" or \"response\", got \"%s\"".as_ptr(),
                name,
            )
        }
    };
    let max_head = ffi::luaL_optnumber(state, 2, -1.0);
    let max_body = ffi::luaL_optnumber(state, 3, -1.0);
    let at = ffi::lua_newuserdata(state, std::mem::size_of::<Decoder>()).cast::<Decoder>();
    debug_assert!(at.is_aligned());
    let mut d = Decoder::new(mode);
    if max_head >= 0.0 {
        d.max_head = max_head.max(64.0) as usize;
    }
    if max_body >= u64::MAX as f64 {
        d.max_body = u64::MAX;
    } else if max_body >= 0.0 {
        d.max_body = max_body as u64;
    }
    at.write(d);
    LIVE.with(|set| set.borrow_mut().insert(at as usize));
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_setmetatable(state, -2);
    1
}

/// The decoder that is argument 1, or a Lua error naming the expected type. (Like
/// `luaL_checkudata`, but with the metatable at hand instead of looked up by name.)
unsafe fn check<'a>(state: *mut ffi::lua_State) -> &'a mut Decoder {
    let at = ffi::lua_touserdata(state, 1);
    if at.is_null()
        || ffi::lua_getmetatable(state, 1) == 0
        || ffi::lua_rawequal(state, -1, ffi::lua_upvalueindex(1)) == 0
    {
        ffi::luaL_typerror(state, 1, TYPE_NAME.as_ptr());
    }
    ffi::lua_pop(state, 1);
    &mut *at.cast::<Decoder>()
}

unsafe extern "C-unwind" fn dec_gc(state: *mut ffi::lua_State) -> c_int {
    let at = check(state) as *mut Decoder;
    LIVE.with(|set| set.borrow_mut().remove(&(at as usize)));
    std::ptr::drop_in_place(at);
    // A finalizer that runs later in the same cycle may still reach this userdata:
    // without its metatable, the methods refuse it instead of touching freed memory.
    ffi::lua_pushnil(state);
    ffi::lua_setmetatable(state, 1);
    0
}

unsafe extern "C-unwind" fn dec_feed(state: *mut ffi::lua_State) -> c_int {
    let d = check(state);
    let mut len = 0;
    let data = ffi::luaL_checklstring(state, 2, &mut len);
    d.feed(std::slice::from_raw_parts(data.cast::<u8>(), len));
    0
}

unsafe extern "C-unwind" fn dec_eof(state: *mut ffi::lua_State) -> c_int {
    check(state).eof();
    0
}

unsafe extern "C-unwind" fn dec_set_no_body(state: *mut ffi::lua_State) -> c_int {
    check(state).set_no_body();
    0
}

unsafe extern "C-unwind" fn dec_buffered(state: *mut ffi::lua_State) -> c_int {
    let n = check(state).buffered();
    ffi::lua_pushnumber(state, n as ffi::lua_Number);
    1
}

unsafe extern "C-unwind" fn dec_idle(state: *mut ffi::lua_State) -> c_int {
    let idle = check(state).idle();
    ffi::lua_pushboolean(state, idle as c_int);
    1
}

/// `decoder:next()`: one event (see the top of this file).
unsafe extern "C-unwind" fn dec_next(state: *mut ffi::lua_State) -> c_int {
    let d = check(state);
    match push_event(state, d, false) {
        Some(n) => n,
        None => {
            ffi::lua_pushnil(state);
            ffi::lua_pushboolean(state, d.idle() as c_int);
            2
        }
    }
}

/// Takes the decoder's next event and pushes its values (see the top of this file),
/// returning their count; None when it needs more input (nothing pushed). With
/// `tables`, a head's header lines come as their headers table (what
/// `native.http_headers` makes of them) instead of the `rawHead` string.
///
/// # Safety
/// For C functions whose upvalues 2 and 3 are the version strings "1.0" and "1.1"
/// (`decoder:next()`, `native.http_next`); uses up to fifteen stack slots (of the
/// twenty a C function has).
pub unsafe fn push_event(
    state: *mut ffi::lua_State,
    d: &mut Decoder,
    tables: bool,
) -> Option<c_int> {
    // (Only a caller that wants the headers as a table needs the head's fields.)
    d.keep_fields = tables;
    Some(match d.next() {
        Event::NeedMore => return None,
        Event::End => {
            ffi::lua_pushinteger(state, 3);
            1
        }
        Event::Error(status, why) => {
            ffi::lua_pushinteger(state, 0);
            ffi::lua_pushinteger(state, status as ffi::lua_Integer);
            ffi::lua_pushlstring(state, why.as_ptr().cast(), why.len());
            3
        }
        Event::Body(r) => {
            let bytes = d.slice(r);
            ffi::lua_pushinteger(state, 2);
            ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            2
        }
        Event::Head => {
            // A message with no body ends with its head: say so now (`complete`) and
            // save the caller a call for the End event.
            let complete = d.at_empty_body();
            if complete {
                d.next();
            }
            ffi::lua_pushinteger(state, 1);
            ffi::lua_pushboolean(state, complete as c_int);
            2 + push_head(state, d, tables)
        }
    })
}

/// Pushes the head's fields (see the top of this file) and returns their count.
///
/// # Safety
/// Called only from `push_event` (its upvalues hold the version strings); uses up to
/// thirteen stack slots.
unsafe fn push_head(state: *mut ffi::lua_State, d: &Decoder, tables: bool) -> c_int {
    let h = d.head();
    let push_str = |bytes: &[u8]| ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
    if h.status == 0 {
        push_str(d.slice(h.method.clone()));
        push_str(d.slice(h.url.clone()));
    } else {
        ffi::lua_pushinteger(state, h.status as ffi::lua_Integer);
        push_str(d.slice(h.reason.clone()));
    }
    let version = if h.version_minor == 0 {
        V_HTTP10
    } else {
        V_HTTP11
    };
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(version));
    ffi::lua_pushboolean(state, h.keep_alive as c_int);
    if !tables {
        push_str(d.slice(h.block.clone()));
    } else {
        // (From the fields the decoder kept: the head is not parsed again.)
        let fields = d.fields();
        // (Two slots to spare: http.server adds x-client-ip and x-real-ip.)
        ffi::lua_createtable(state, 0, fields.len() as c_int + 2);
        push_headers(state, fields, false);
    }
    let flags = h.upgrade as ffi::lua_Integer
        | (h.expect_continue as ffi::lua_Integer) << 1
        | (h.chunked as ffi::lua_Integer) << 2;
    ffi::lua_pushinteger(state, flags);
    match h.content_length {
        Some(n) => ffi::lua_pushnumber(state, n as f64),
        None => ffi::lua_pushnil(state),
    }
    7
}

/// `native.http_headers(block, raw)`: the header tables of a head's `rawHead` block:
/// `headers` (lower-case names; a repeated header joined with ", ", except set-cookie,
/// which is a list) and, if `raw`, `rawHeaders` (name, value, ... as sent). A C
/// function, like the decoder's methods: http's requests call it when their headers
/// are first read. (http.server's come as a table from `http_next` instead, made from
/// the fields the decoder kept: see `push_head`.)
///
/// # Safety
/// Only Lua calls it, as a C function (with a valid state and LUA_MINSTACK free slots).
pub unsafe extern "C-unwind" fn headers(state: *mut ffi::lua_State) -> c_int {
    let mut len = 0;
    let block = ffi::luaL_checklstring(state, 1, &mut len);
    let want_raw = ffi::lua_toboolean(state, 2) != 0;
    // (The string stays alive as argument 1 while the slices into it are used.)
    let bytes = std::slice::from_raw_parts(block.cast::<u8>(), len);
    // Most requests have a few headers: room for 16 first (cheap to set up), and for
    // as many as the decoder allows only if that is not enough.
    let mut few = [httparse::EMPTY_HEADER; 16];
    let mut many;
    let mut parsed = httparse::parse_headers(bytes, &mut few);
    if let Err(httparse::Error::TooManyHeaders) = parsed {
        many = [httparse::EMPTY_HEADER; crate::http::decoder::MAX_HEADERS];
        parsed = httparse::parse_headers(bytes, &mut many);
    }
    let Ok(httparse::Status::Complete((_, parsed))) = parsed else {
        return ffi::luaL_error(
            state,
            c"http_headers: not a header block from the decoder".as_ptr(),
        );
    };
    let n = parsed.len();
    ffi::lua_createtable(state, 0, n as c_int);
    if want_raw {
        ffi::lua_createtable(state, (n * 2) as c_int, 0);
    }
    let fields = parsed
        .iter()
        .map(|h| (h.name.as_bytes(), crate::http::decoder::trim(h.value)));
    push_headers(state, fields, want_raw);
    1 + want_raw as c_int
}

/// Fills the headers table (and the rawHeaders table above it, if `raw`) from the
/// fields (name as sent, value trimmed).
unsafe fn push_headers<'a>(
    state: *mut ffi::lua_State,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    raw: bool,
) {
    let top = ffi::lua_gettop(state);
    let (headers, raw_index) = if raw { (top - 1, top) } else { (top, 0) };
    // Lower-case names go through a buffer on the stack (longer ones, rare, a Vec).
    let mut short = [0u8; 64];
    let mut long = Vec::new();
    for (i, (name, value)) in fields.enumerate() {
        let needs_lower = name.iter().any(|b| b.is_ascii_uppercase());
        let lower: &[u8] = if !needs_lower {
            name
        } else if name.len() <= short.len() {
            for (d, s) in short.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            &short[..name.len()]
        } else {
            long.clear();
            long.extend(name.iter().map(|b| b.to_ascii_lowercase()));
            &long
        };
        // Each string is made once and copied on the stack (making one hashes it).
        // Stack: name (as sent for rawHeaders, else already the key), value, key.
        let first = if raw { name } else { lower };
        ffi::lua_pushlstring(state, first.as_ptr().cast(), first.len());
        if raw {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawseti(state, raw_index, (2 * i + 1) as ffi::lua_Integer);
        }
        ffi::lua_pushlstring(state, value.as_ptr().cast(), value.len());
        if raw {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawseti(state, raw_index, (2 * i + 2) as ffi::lua_Integer);
        }
        if raw && needs_lower {
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

/// `native.http_check_field(name, value)`: nothing if the header is fine to send,
/// else "name" (not a token) or "value" (a control byte in it).
///
/// # Safety
/// Only Lua calls it, as a C function (with a valid state and LUA_MINSTACK free slots).
pub unsafe extern "C-unwind" fn check_field(state: *mut ffi::lua_State) -> c_int {
    let (mut nlen, mut vlen) = (0, 0);
    let name = ffi::luaL_checklstring(state, 1, &mut nlen);
    let value = ffi::luaL_checklstring(state, 2, &mut vlen);
    let name = std::slice::from_raw_parts(name.cast::<u8>(), nlen);
    let value = std::slice::from_raw_parts(value.cast::<u8>(), vlen);
    match crate::http::outgoing::check_field(name, value) {
        Ok(()) => 0,
        Err(crate::http::outgoing::BadField::Name) => {
            ffi::lua_pushstring(state, c"name".as_ptr());
            1
        }
        Err(crate::http::outgoing::BadField::Value) => {
            ffi::lua_pushstring(state, c"value".as_ptr());
            1
        }
    }
}

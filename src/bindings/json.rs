//! JSON for Lua: serde_json parses, a small writer encodes.
//!
//! Parsing goes straight from serde_json's tokens to Lua tables (a `DeserializeSeed`),
//! with no intermediate `serde_json::Value`. `//` and `/* */` comments are accepted,
//! as luvit's parser did: they are blanked out before parsing, which keeps every
//! error position right.
//!
//! `null` is `json.null`, a NULL light userdata (as lua-cjson's). An empty JSON object
//! decodes to a table carrying the `json.object` metatable so that it encodes back as
//! `{}`; any other empty table encodes as `[]`.

use std::borrow::Cow;
use std::fmt;

use std::ffi::c_int;

use mlua::{ffi, Lua, MultiValue, Result, Table, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Blanks comments outside strings, keeping newlines so line numbers stay right.
pub fn strip_comments(text: &str) -> Cow<'_, str> {
    if !text.contains('/') {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
        } else if c == b'"' {
            in_str = true;
            i += 1;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out[i] = b' ';
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            for o in &mut out[i..end] {
                if *o != b'\n' {
                    *o = b' ';
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    // Only ASCII bytes were replaced (by spaces), so the text is still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// How many of an array's or object's first elements are decoded onto the stack
/// before its table is made, at their number (see `visit_seq`).
const BATCH: c_int = 32;

/// Pushes one decoded JSON value onto the Lua stack, straight through the C API:
/// decoding is table-heavy, and mlua's safe setters cost several times more per value.
/// serde_json's recursion limit (128 levels) bounds the stack we use: at most 2 x
/// BATCH + 4 slots per level.
#[derive(Copy, Clone)]
struct Push {
    state: *mut ffi::lua_State,
    /// Stack index of the metatable for empty objects.
    object_mt: c_int,
}

impl<'de> DeserializeSeed<'de> for Push {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Push {
    /// Room on the stack for `slots` values being decoded, and a few more.
    fn room<E: serde::de::Error>(&self, slots: c_int) -> std::result::Result<(), E> {
        // SAFETY: a valid state (see `parse`).
        if unsafe { ffi::lua_checkstack(self.state, slots + 4) } == 0 {
            return Err(E::custom("nesting too deep for the Lua stack"));
        }
        Ok(())
    }
}

// SAFETY (all methods): `state` is the state `parse` runs in, inside `exec_raw`.
impl<'de> Visitor<'de> for Push {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<(), E> {
        unsafe { ffi::lua_pushboolean(self.state, v as c_int) };
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<(), E> {
        unsafe { ffi::lua_pushnumber(self.state, v as f64) };
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<(), E> {
        unsafe { ffi::lua_pushnumber(self.state, v as f64) };
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<(), E> {
        unsafe { ffi::lua_pushnumber(self.state, v) };
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<(), E> {
        unsafe { ffi::lua_pushlstring(self.state, v.as_ptr().cast(), v.len()) };
        Ok(())
    }
    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        unsafe { ffi::lua_pushlightuserdata(self.state, std::ptr::null_mut()) };
        Ok(())
    }
    // Arrays and objects are sized before they are made: their first BATCH elements
    // are decoded onto the stack, counted, and only then moved into a table made to
    // fit (a table grown one insertion at a time is rehashed at 1, 2, 4, 8... entries,
    // which was a tenth of a typical decode). Elements past BATCH go straight in.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        self.room(BATCH)?;
        let s = self.state;
        let base = unsafe { ffi::lua_gettop(s) };
        let mut n: c_int = 0;
        while n < BATCH && seq.next_element_seed(self)?.is_some() {
            n += 1;
        }
        unsafe {
            ffi::lua_createtable(s, n, 0);
            ffi::lua_insert(s, base + 1);
            for i in (1..=n).rev() {
                ffi::lua_rawseti(s, base + 1, i as ffi::lua_Integer);
            }
        }
        if n == BATCH {
            let mut i: ffi::lua_Integer = n as ffi::lua_Integer + 1;
            while seq.next_element_seed(self)?.is_some() {
                unsafe { ffi::lua_rawseti(s, base + 1, i) };
                i += 1;
            }
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        self.room(2 * BATCH)?;
        let s = self.state;
        let base = unsafe { ffi::lua_gettop(s) };
        let mut n: c_int = 0;
        while n < BATCH && map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
            n += 1;
        }
        unsafe {
            ffi::lua_createtable(s, 0, n);
            ffi::lua_insert(s, base + 1);
            // In order, so that of two equal keys the last wins (as in JSON.parse).
            for i in 0..n {
                ffi::lua_pushvalue(s, base + 2 + 2 * i);
                ffi::lua_pushvalue(s, base + 3 + 2 * i);
                ffi::lua_rawset(s, base + 1);
            }
            ffi::lua_settop(s, base + 1);
        }
        if n == BATCH {
            while map.next_key_seed(self)?.is_some() {
                map.next_value_seed(self)?;
                unsafe { ffi::lua_rawset(s, base + 1) };
            }
        } else if n == 0 {
            unsafe {
                ffi::lua_pushvalue(s, self.object_mt);
                ffi::lua_setmetatable(s, base + 1);
            }
        }
        Ok(())
    }
}

/// `json.parse(text)`: the value, or `nil, "message at line L column C"`.
pub fn parse(lua: &Lua, text: &str, object_mt: &Table) -> Result<MultiValue> {
    let text = strip_comments(text);
    // SAFETY: the closure only pushes plain values onto the state it is given, which
    // exec_raw runs protected; on failure it restores the stack before pushing
    // nil, message.
    unsafe {
        lua.exec_raw(object_mt, |state| {
            let base = ffi::lua_gettop(state); // the object metatable is at `base`
            let mut de = serde_json::Deserializer::from_str(&text);
            let res = Push {
                state,
                object_mt: base,
            }
            .deserialize(&mut de)
            .and_then(|()| de.end());
            match res {
                Ok(()) => {
                    // Leave only the value: drop the metatable argument below it.
                    ffi::lua_remove(state, base);
                }
                Err(e) => {
                    ffi::lua_settop(state, base - 1);
                    ffi::lua_pushnil(state);
                    let msg = e.to_string();
                    ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
                }
            }
        })
    }
}

pub struct Style<'a> {
    /// The indent unit when beautifying (keys are then sorted too).
    pub indent: Option<&'a [u8]>,
}

const MAX_DEPTH: usize = 1000;

/// `json.stringify(value, opts)`.
///
/// The writer walks the value through the raw C API, as `parse` builds it: mlua's
/// safe accessors take a registry reference for every table and string they hand out,
/// which cost several times the encoding itself (and LuaJIT caps such references at
/// about 65,000, so a big table could not even be held that way).
///
/// The output grows with `try_reserve`: `Ok(None)` when memory ran out (for the caller
/// to report as "not enough memory", not an abort).
pub fn stringify(
    lua: &Lua,
    value: Value,
    style: &Style,
    object_mt: &Table,
    array_mt: &Table,
) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(128);
    let mut failed = None;
    // SAFETY: the closure runs protected inside exec_raw, with the three arguments at
    // stack indices 1-3; it reads them, pushes at most a few values per nesting level
    // (checked), and leaves the stack empty.
    unsafe {
        lua.exec_raw::<()>((value, object_mt, array_mt), |state| {
            let w = Writer {
                state,
                indent: style.indent,
                object_mt: 2,
                array_mt: 3,
            };
            if let Err(e) = w.value(&mut out, 1, 0) {
                failed = Some(e);
            }
            ffi::lua_settop(state, 0);
        })?;
    }
    match failed {
        Some(e) if e == NO_MEMORY => Ok(None),
        Some(e) => Err(mlua::Error::runtime(e)),
        None => Ok(Some(out)),
    }
}

/// The writer's error when the output could not grow.
const NO_MEMORY: &str = "not enough memory";

/// Room for `n` more bytes, or NO_MEMORY.
fn room(out: &mut Vec<u8>, n: usize) -> std::result::Result<(), String> {
    out.try_reserve(n).map_err(|_| NO_MEMORY.to_string())
}

struct Writer<'a> {
    state: *mut ffi::lua_State,
    indent: Option<&'a [u8]>,
    /// Stack indices of the `json.object` and `json.array` metatables.
    object_mt: c_int,
    array_mt: c_int,
}

// SAFETY (all methods): `state` is the state `stringify` runs in, inside exec_raw, and
// every index given is a valid absolute stack index.
impl Writer<'_> {
    /// Writes the value at stack index `at`. An error is the message to raise.
    unsafe fn value(
        &self,
        out: &mut Vec<u8>,
        at: c_int,
        depth: usize,
    ) -> std::result::Result<(), String> {
        let s = self.state;
        // Room for a literal, a number, brackets and a line's indent; a string makes
        // its own room.
        room(out, 64 + self.indent.map_or(0, |u| u.len() * (depth + 1)))?;
        match ffi::lua_type(s, at) {
            ffi::LUA_TNIL => out.extend_from_slice(b"null"),
            ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(s, at).is_null() => {
                out.extend_from_slice(b"null")
            }
            ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(s, at) != 0 {
                b"true"
            } else {
                b"false"
            }),
            ffi::LUA_TNUMBER => number(out, ffi::lua_tonumber(s, at)),
            ffi::LUA_TSTRING => string(out, bytes_at(s, at))?,
            ffi::LUA_TTABLE => {
                if depth >= MAX_DEPTH {
                    return Err("json.stringify: nesting too deep (is there a cycle?)".into());
                }
                self.table(out, at, depth)?
            }
            t => {
                return Err(format!(
                    "json.stringify: cannot encode a {}",
                    type_name(s, t)
                ))
            }
        }
        Ok(())
    }

    fn newline(&self, out: &mut Vec<u8>, depth: usize) {
        if let Some(unit) = self.indent {
            out.push(b'\n');
            for _ in 0..depth {
                out.extend_from_slice(unit);
            }
        }
    }

    unsafe fn table(
        &self,
        out: &mut Vec<u8>,
        t: c_int,
        depth: usize,
    ) -> std::result::Result<(), String> {
        let s = self.state;
        if ffi::lua_checkstack(s, 4) == 0 {
            return Err("json.stringify: nesting too deep for the Lua stack".into());
        }
        let (has_mt, marked_object, marked_array) = if ffi::lua_getmetatable(s, t) != 0 {
            let object = ffi::lua_rawequal(s, -1, self.object_mt) != 0;
            let array = ffi::lua_rawequal(s, -1, self.array_mt) != 0;
            ffi::lua_pop(s, 1);
            (true, object, array)
        } else {
            (false, false, false)
        };
        // An array is a table whose keys are exactly 1..#t; an empty table is one
        // unless it is marked as an object (or has some other metatable). Only a table
        // with a length needs its keys counted: one without is an object or empty.
        let len = ffi::lua_objlen(s, t);
        let is_array = if len > 0 {
            let mut count = 0usize;
            ffi::lua_pushnil(s);
            while ffi::lua_next(s, t) != 0 {
                count += 1;
                ffi::lua_pop(s, 1);
            }
            !marked_object && count == len
        } else {
            ffi::lua_pushnil(s);
            let empty = ffi::lua_next(s, t) == 0;
            ffi::lua_settop(s, ffi::lua_gettop(s) - if empty { 0 } else { 2 });
            empty && !marked_object && (!has_mt || marked_array)
        };
        if is_array {
            out.push(b'[');
            for i in 1..=len {
                room(out, 64 + self.indent.map_or(0, |u| u.len() * (depth + 2)))?;
                if i > 1 {
                    out.push(b',');
                }
                self.newline(out, depth + 1);
                ffi::lua_rawgeti(s, t, i as ffi::lua_Integer);
                self.value(out, ffi::lua_gettop(s), depth + 1)?;
                ffi::lua_pop(s, 1);
            }
            room(out, 64 + self.indent.map_or(0, |u| u.len() * (depth + 1)))?;
            if len > 0 {
                self.newline(out, depth);
            }
            out.push(b']');
            return Ok(());
        }
        out.push(b'{');
        let mut first = true;
        // The key is at `key`, its value just above it.
        let mut member = |out: &mut Vec<u8>, key: c_int| -> std::result::Result<(), String> {
            room(out, 64 + self.indent.map_or(0, |u| u.len() * (depth + 2)))?;
            if !first {
                out.push(b',');
            }
            first = false;
            self.newline(out, depth + 1);
            match ffi::lua_type(s, key) {
                ffi::LUA_TSTRING => string(out, bytes_at(s, key))?,
                // (the number written here, not converted in place: that would change
                // the key under lua_next)
                ffi::LUA_TNUMBER => {
                    out.push(b'"');
                    number(out, ffi::lua_tonumber(s, key));
                    out.push(b'"');
                }
                k => return Err(key_error(s, k)),
            }
            out.push(b':');
            if self.indent.is_some() {
                out.push(b' ');
            }
            self.value(out, key + 1, depth + 1)
        };
        if self.indent.is_some() {
            // Sorted by their text: collect the keys, sort, then fetch each value.
            let mut keys: Vec<(Vec<u8>, Option<f64>)> = Vec::new();
            ffi::lua_pushnil(s);
            while ffi::lua_next(s, t) != 0 {
                ffi::lua_pop(s, 1);
                keys.push(match ffi::lua_type(s, -1) {
                    ffi::LUA_TNUMBER => {
                        let n = ffi::lua_tonumber(s, -1);
                        let mut text = Vec::new();
                        number(&mut text, n);
                        (text, Some(n))
                    }
                    ffi::LUA_TSTRING => (bytes_at(s, -1).to_vec(), None),
                    k => return Err(key_error(s, k)),
                });
            }
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            for (text, num) in &keys {
                match num {
                    Some(n) => ffi::lua_pushnumber(s, *n),
                    None => {
                        ffi::lua_pushlstring(s, text.as_ptr().cast(), text.len());
                    }
                }
                ffi::lua_pushvalue(s, -1);
                ffi::lua_rawget(s, t);
                member(out, ffi::lua_gettop(s) - 1)?;
                ffi::lua_pop(s, 2);
            }
        } else {
            ffi::lua_pushnil(s);
            while ffi::lua_next(s, t) != 0 {
                member(out, ffi::lua_gettop(s) - 1)?;
                ffi::lua_pop(s, 1);
            }
        }
        room(out, 64 + self.indent.map_or(0, |u| u.len() * (depth + 1)))?;
        if !first {
            self.newline(out, depth);
        }
        out.push(b'}');
        Ok(())
    }
}

/// The bytes of the string at `at` (empty for any other type; it must not be a number,
/// which lua_tolstring would convert in place).
unsafe fn bytes_at<'a>(s: *mut ffi::lua_State, at: c_int) -> &'a [u8] {
    if ffi::lua_type(s, at) != ffi::LUA_TSTRING {
        return b"";
    }
    let mut len = 0;
    let p = ffi::lua_tolstring(s, at, &mut len);
    std::slice::from_raw_parts(p.cast(), len)
}

unsafe fn key_error(s: *mut ffi::lua_State, t: c_int) -> String {
    format!(
        "json.stringify: object keys must be strings or numbers, got a {}",
        type_name(s, t)
    )
}

/// A type's name for messages, as Lua's type() gives it ("lightuserdata" told apart).
unsafe fn type_name(s: *mut ffi::lua_State, t: c_int) -> String {
    if t == ffi::LUA_TLIGHTUSERDATA {
        return "lightuserdata".into();
    }
    std::ffi::CStr::from_ptr(ffi::lua_typename(s, t))
        .to_string_lossy()
        .into_owned()
}

fn number(out: &mut Vec<u8>, n: f64) {
    use std::io::Write;
    if !n.is_finite() {
        out.extend_from_slice(b"null"); // as JSON.stringify does
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        let _ = write!(out, "{}", n as i64);
    } else if n.abs() >= 1e21 || n.abs() < 1e-6 {
        let _ = write!(out, "{n:e}");
    } else {
        let _ = write!(out, "{n}");
    }
}

/// For each byte, what it is written as inside a JSON string: 0 for itself, b'u' for
/// a \u00XX escape, else the letter after the backslash.
const ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[0x7f] = b'u';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

fn string(out: &mut Vec<u8>, s: &[u8]) -> std::result::Result<(), String> {
    room(out, s.len() + 2)?;
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc = ESCAPES[c as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        room(out, (s.len() - i) + 6)?; // (an escape is longer than its byte)
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_blanked_outside_strings_only() {
        let s = strip_comments("{\"a//b\": 1, // c\n /* d */ \"e\": \"/*x*/\"}");
        assert_eq!(s, "{\"a//b\": 1,     \n         \"e\": \"/*x*/\"}");
    }

    #[test]
    fn unterminated_block_comment_does_not_panic() {
        assert_eq!(strip_comments("1 /* open"), "1        ");
        assert_eq!(strip_comments("/"), "/");
        assert_eq!(strip_comments("\"\\"), "\"\\");
    }

    #[test]
    fn escapes_control_characters() {
        let mut out = Vec::new();
        string(&mut out, b"a\"\\\n\x01").unwrap();
        assert_eq!(out, b"\"a\\\"\\\\\\n\\u0001\"");
        out.clear();
        string(&mut out, b"\x08\x0c\r\t\x7f\x1f/\xc3\xa9").unwrap();
        assert_eq!(out, "\"\\b\\f\\r\\t\\u007f\\u001f/\u{e9}\"".as_bytes());
    }

    #[test]
    fn numbers_print_like_javascript() {
        for (n, s) in [
            (1.0, "1"),
            (-0.5, "-0.5"),
            (1e300, "1e300"),
            (f64::NAN, "null"),
            (123456789.0, "123456789"),
        ] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), s);
        }
    }
}

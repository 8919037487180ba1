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

/// Pushes one decoded JSON value onto the Lua stack, straight through the C API:
/// decoding is table-heavy, and mlua's safe setters cost several times more per value.
/// serde_json's recursion limit (128 levels) bounds the stack we use.
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
    fn room<E: serde::de::Error>(&self) -> std::result::Result<(), E> {
        // SAFETY: a valid state (see `parse`).
        if unsafe { ffi::lua_checkstack(self.state, 4) } == 0 {
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
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        self.room()?;
        unsafe { ffi::lua_createtable(self.state, 0, 0) };
        let t = unsafe { ffi::lua_gettop(self.state) };
        let mut i: ffi::lua_Integer = 1;
        while seq.next_element_seed(self)?.is_some() {
            unsafe { ffi::lua_rawseti(self.state, t, i) };
            i += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        self.room()?;
        unsafe { ffi::lua_createtable(self.state, 0, 0) };
        let t = unsafe { ffi::lua_gettop(self.state) };
        let mut empty = true;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
            unsafe { ffi::lua_rawset(self.state, t) };
            empty = false;
        }
        if empty {
            unsafe {
                ffi::lua_pushvalue(self.state, self.object_mt);
                ffi::lua_setmetatable(self.state, t);
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
pub fn stringify(
    value: &Value,
    style: &Style,
    object_mt: &Table,
    array_mt: &Table,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    let w = Writer {
        style,
        object_mt,
        array_mt,
    };
    w.value(&mut out, value, 0)?;
    Ok(out)
}

struct Writer<'a> {
    style: &'a Style<'a>,
    object_mt: &'a Table,
    array_mt: &'a Table,
}

impl Writer<'_> {
    fn value(&self, out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<()> {
        match v {
            Value::Nil => out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
            Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Number(n) => number(out, *n),
            Value::String(s) => string(out, &s.as_bytes()),
            Value::Table(t) => {
                if depth >= MAX_DEPTH {
                    return Err(mlua::Error::runtime(
                        "json.stringify: nesting too deep (is there a cycle?)",
                    ));
                }
                self.table(out, t, depth)?
            }
            other => {
                return Err(mlua::Error::runtime(format!(
                    "json.stringify: cannot encode a {}",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }

    fn newline(&self, out: &mut Vec<u8>, depth: usize) {
        if let Some(unit) = self.style.indent {
            out.push(b'\n');
            for _ in 0..depth {
                out.extend_from_slice(unit);
            }
        }
    }

    // Values are written as they are visited and dropped at once: holding every element
    // of a big table (a Vec of Values) would hold one mlua reference each, and LuaJIT
    // caps those at about 65,000.
    fn table(&self, out: &mut Vec<u8>, t: &Table, depth: usize) -> Result<()> {
        let mt = t.metatable();
        let marked_object = mt.as_ref() == Some(self.object_mt);
        let len = t.raw_len();
        let mut count = 0usize;
        for pair in t.pairs::<Value, Value>() {
            pair?;
            count += 1;
        }
        let is_array = !marked_object
            && (count == len)
            && (len > 0 || mt.is_none() || mt.as_ref() == Some(self.array_mt));
        if is_array {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                self.newline(out, depth + 1);
                self.value(out, &t.raw_get::<Value>(i)?, depth + 1)?;
            }
            if len > 0 {
                self.newline(out, depth);
            }
            out.push(b']');
            return Ok(());
        }
        out.push(b'{');
        let mut first = true;
        let mut member = |out: &mut Vec<u8>, key: &[u8], v: &Value| -> Result<()> {
            if !first {
                out.push(b',');
            }
            first = false;
            self.newline(out, depth + 1);
            string(out, key);
            out.push(b':');
            if self.style.indent.is_some() {
                out.push(b' ');
            }
            self.value(out, v, depth + 1)
        };
        if self.style.indent.is_some() {
            // Sorted: collect the keys (as bytes, no references), then fetch each value.
            let mut keys: Vec<(Vec<u8>, Option<f64>)> = Vec::with_capacity(count);
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                keys.push(match &k {
                    Value::Number(n) => (number_bytes(*n), Some(*n)),
                    Value::Integer(i) => (i.to_string().into_bytes(), Some(*i as f64)),
                    other => (key_bytes(other)?, None),
                });
            }
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, num) in &keys {
                let v: Value = match num {
                    Some(n) => t.raw_get(*n)?,
                    None => t.raw_get(mlua::BString::from(key.clone()))?,
                };
                member(out, key, &v)?;
            }
        } else {
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = match &k {
                    Value::Number(n) => number_bytes(*n),
                    Value::Integer(i) => i.to_string().into_bytes(),
                    other => key_bytes(other)?,
                };
                member(out, &key, &v)?;
            }
        }
        if !first {
            self.newline(out, depth);
        }
        out.push(b'}');
        Ok(())
    }
}

fn key_bytes(k: &Value) -> Result<Vec<u8>> {
    match k {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(mlua::Error::runtime(format!(
            "json.stringify: object keys must be strings or numbers, got a {}",
            other.type_name()
        ))),
    }
}

fn number_bytes(n: f64) -> Vec<u8> {
    let mut b = Vec::new();
    number(&mut b, n);
    b
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

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{:04x}", c).as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
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
        string(&mut out, b"a\"\\\n\x01");
        assert_eq!(out, b"\"a\\\"\\\\\\n\\u0001\"");
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

//! `native.http_decoder(mode, max_head, max_body)`: the strict HTTP decoder as a
//! userdata. The socket reads straight into it (`tcp:try_read_into(decoder)`), so
//! request bytes never pass through Lua strings until they are a head table or a
//! body chunk.
//!
//! `decoder:next()` returns one event:
//! - `1, head`: a parsed head (see `head_table`);
//! - `2, chunk`: a piece of body;
//! - `3`: the message is complete;
//! - `nil`: more input is needed;
//! - `0, status, message`: bad input, with the status to answer (400, 413, 414, 431).

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, UserDataMethods, Value};

use crate::http::decoder::{Decoder, Event, Head, Mode};

pub struct HttpDecoder(pub Decoder);

pub fn new_decoder(_: &Lua, (mode, max_head, max_body): (String, Option<f64>, Option<f64>)) -> Result<HttpDecoder> {
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
        d.max_body = if n >= u64::MAX as f64 { u64::MAX } else { n.max(0.0) as u64 };
    }
    Ok(HttpDecoder(d))
}

/// The head as Lua sees it: node's IncomingMessage fields.
fn head_table(lua: &Lua, h: &Head) -> Result<Table> {
    let t = lua.create_table_with_capacity(0, 12)?;
    if h.status == 0 {
        t.raw_set("method", h.method.as_str())?;
        t.raw_set("url", h.url.as_str())?;
    } else {
        t.raw_set("statusCode", h.status)?;
        t.raw_set("statusMessage", h.reason.as_str())?;
    }
    t.raw_set("httpVersion", if h.version_minor == 0 { "1.0" } else { "1.1" })?;
    t.raw_set("keepAlive", h.keep_alive)?;
    if h.upgrade {
        t.raw_set("upgrade", true)?;
    }
    if h.expect_continue {
        t.raw_set("expectContinue", true)?;
    }
    if h.chunked {
        t.raw_set("chunked", true)?;
    }
    if let Some(n) = h.content_length {
        t.raw_set("contentLength", n as f64)?;
    }
    // headers: lower-case names; repeats joined with ", " as node does, except
    // set-cookie, which is a list. rawHeaders: name, value, name, value... as sent.
    let headers = lua.create_table_with_capacity(0, h.headers.len())?;
    let raw = lua.create_table_with_capacity(h.headers.len() * 2, 0)?;
    for (i, (name, value)) in h.headers.iter().enumerate() {
        let value = lua.create_string(value)?;
        raw.raw_set(2 * i + 1, name.as_str())?;
        raw.raw_set(2 * i + 2, value.clone())?;
        let lower = name.to_ascii_lowercase();
        if lower == "set-cookie" {
            let list: Table = match headers.raw_get::<Value>(lower.as_str())? {
                Value::Table(l) => l,
                _ => {
                    let l = lua.create_table()?;
                    headers.raw_set(lower.as_str(), l.clone())?;
                    l
                }
            };
            list.raw_set(list.raw_len() + 1, value)?;
            continue;
        }
        match headers.raw_get::<Value>(lower.as_str())? {
            Value::String(old) => {
                let mut joined = old.as_bytes().to_vec();
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(&value.as_bytes());
                headers.raw_set(lower.as_str(), lua.create_string(joined)?)?;
            }
            _ => headers.raw_set(lower.as_str(), value)?,
        }
    }
    t.raw_set("headers", headers)?;
    t.raw_set("rawHeaders", raw)?;
    Ok(t)
}

pub fn next_event(lua: &Lua, d: &mut Decoder) -> Result<MultiValue> {
    match d.next() {
        Event::Head(h) => (1, head_table(lua, &h)?).into_lua_multi(lua),
        Event::Body(r) => (2, lua.create_string(d.slice(r))?).into_lua_multi(lua),
        Event::End => 3.into_lua_multi(lua),
        Event::NeedMore => Value::Nil.into_lua_multi(lua),
        Event::Error(status, why) => (0, status, why).into_lua_multi(lua),
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

//! zlib for Lua: deflate/inflate in the zlib, gzip and raw formats, one-shot and
//! streaming, on flate2's pure-Rust backend (miniz_oxide; CRC-32 from crc32fast).
//!
//! `native.zlib_oneshot(op, format, data, level)` and `native.zlib_stream(op, format,
//! level)`, whose userdata has `write(chunk) -> out` and `finish() -> out`.

use std::io::Write;

use flate2::write::{
    DeflateDecoder, DeflateEncoder, GzDecoder, GzEncoder, ZlibDecoder, ZlibEncoder,
};
use flate2::Compression;
use mlua::{IntoLuaMulti, Lua, LuaString, MultiValue, Result, UserData, UserDataMethods, Value};

/// One stream, compressing or decompressing into a Vec that each call drains.
enum Codec {
    GzipEnc(GzEncoder<Vec<u8>>),
    GzipDec(GzDecoder<Vec<u8>>),
    ZlibEnc(ZlibEncoder<Vec<u8>>),
    ZlibDec(ZlibDecoder<Vec<u8>>),
    RawEnc(DeflateEncoder<Vec<u8>>),
    RawDec(DeflateDecoder<Vec<u8>>),
}

fn new_codec(op: &str, format: &str, level: Option<u32>) -> Result<Codec> {
    let level = Compression::new(level.unwrap_or(6).min(9));
    let v = Vec::new();
    Ok(match (op, format) {
        ("compress", "gzip") => Codec::GzipEnc(GzEncoder::new(v, level)),
        ("decompress", "gzip") => Codec::GzipDec(GzDecoder::new(v)),
        ("compress", "zlib") => Codec::ZlibEnc(ZlibEncoder::new(v, level)),
        ("decompress", "zlib") => Codec::ZlibDec(ZlibDecoder::new(v)),
        ("compress", "raw") => Codec::RawEnc(DeflateEncoder::new(v, level)),
        ("decompress", "raw") => Codec::RawDec(DeflateDecoder::new(v)),
        _ => {
            return Err(mlua::Error::runtime(format!(
                "zlib: unknown operation {op:?} / format {format:?} (compress|decompress, gzip|zlib|raw)"
            )))
        }
    })
}

impl Codec {
    fn write(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        macro_rules! each {
            ($($v:ident),*) => {
                match self {
                    $(Codec::$v(c) => {
                        c.write_all(data)?;
                        Ok(std::mem::take(c.get_mut()))
                    })*
                }
            };
        }
        each!(GzipEnc, GzipDec, ZlibEnc, ZlibDec, RawEnc, RawDec)
    }

    /// Flushes everything buffered (a sync flush for encoders), keeping the stream open.
    fn flush(&mut self) -> std::io::Result<Vec<u8>> {
        macro_rules! each {
            ($($v:ident),*) => {
                match self {
                    $(Codec::$v(c) => {
                        c.flush()?;
                        Ok(std::mem::take(c.get_mut()))
                    })*
                }
            };
        }
        each!(GzipEnc, GzipDec, ZlibEnc, ZlibDec, RawEnc, RawDec)
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Codec::GzipEnc(c) => c.finish(),
            Codec::GzipDec(c) => c.finish(),
            Codec::ZlibEnc(c) => c.finish(),
            Codec::ZlibDec(c) => c.finish(),
            Codec::RawEnc(c) => c.finish(),
            Codec::RawDec(c) => c.finish(),
        }
    }
}

fn failure(lua: &Lua, e: std::io::Error) -> Result<MultiValue> {
    (Value::Nil, format!("zlib: {e}")).into_lua_multi(lua)
}

/// One-shot: string in, string out; `nil, err` on corrupt input.
pub fn oneshot(
    lua: &Lua,
    (op, format, data, level): (String, String, LuaString, Option<u32>),
) -> Result<MultiValue> {
    let mut codec = new_codec(&op, &format, level)?;
    let mut out = match codec.write(&data.as_bytes()) {
        Ok(o) => o,
        Err(e) => return failure(lua, e),
    };
    match codec.finish() {
        Ok(rest) => {
            out.extend_from_slice(&rest);
            lua.create_string(out)?.into_lua_multi(lua)
        }
        Err(e) => failure(lua, e),
    }
}

pub struct ZStream(Option<Codec>);

pub fn stream(_: &Lua, (op, format, level): (String, String, Option<u32>)) -> Result<ZStream> {
    Ok(ZStream(Some(new_codec(&op, &format, level)?)))
}

impl UserData for ZStream {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("write", |lua, this, data: LuaString| {
            let Some(c) = this.0.as_mut() else {
                return Err(mlua::Error::runtime("zlib: write after finish"));
            };
            match c.write(&data.as_bytes()) {
                Ok(out) => lua.create_string(out)?.into_lua_multi(lua),
                Err(e) => failure(lua, e),
            }
        });
        methods.add_method_mut("flush", |lua, this, ()| {
            let Some(c) = this.0.as_mut() else {
                return Err(mlua::Error::runtime("zlib: flush after finish"));
            };
            match c.flush() {
                Ok(out) => lua.create_string(out)?.into_lua_multi(lua),
                Err(e) => failure(lua, e),
            }
        });
        methods.add_method_mut("finish", |lua, this, ()| {
            let Some(c) = this.0.take() else {
                return Err(mlua::Error::runtime("zlib: finish called twice"));
            };
            match c.finish() {
                Ok(out) => lua.create_string(out)?.into_lua_multi(lua),
                Err(e) => failure(lua, e),
            }
        });
    }
}

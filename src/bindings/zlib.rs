//! zlib for Lua: deflate/inflate in the zlib, gzip and raw formats, one-shot and
//! streaming, on flate2's pure-Rust backend (miniz_oxide; CRC-32 from crc32fast).
//!
//! `native.zlib_oneshot(op, format, data, level, max)` and `native.zlib_stream(op,
//! format, level, max)`, whose userdata has `write(chunk) -> out` and `finish() -> out`.
//!
//! Output goes into a [`Sink`] that grows with `try_reserve` and stops at `max` bytes
//! (node's `maxOutputLength`), so that a small bomb (1 MB of gzip inflates to 1 GB)
//! is an error value past the bound, and running out of memory is one too
//! (`nil, "ENOMEM: not enough memory", "ENOMEM"`, which lua_lib/zlib.lua raises as
//! the Lua error "not enough memory"), never an abort.

use std::io::Write;

use flate2::write::{
    DeflateDecoder, DeflateEncoder, GzDecoder, GzEncoder, ZlibDecoder, ZlibEncoder,
};
use flate2::Compression;
use mlua::{IntoLuaMulti, Lua, LuaString, MultiValue, Result, UserData, UserDataMethods, Value};

/// Where a codec writes its output: a buffer that each call drains, grown with
/// `try_reserve`, refusing to hold more than `max` bytes in all.
struct Sink {
    buf: Vec<u8>,
    written: usize,
    max: usize,
}

/// Why a sink refused bytes (carried in the io::Error the codec passes on).
#[derive(Debug)]
enum Refused {
    TooLarge(usize),
    NoMemory,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooLarge(max) => write!(f, "Cannot create a Buffer larger than {max} bytes"),
            Refused::NoMemory => f.write_str("not enough memory"),
        }
    }
}

impl std::error::Error for Refused {}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() > self.max - self.written {
            return Err(std::io::Error::other(Refused::TooLarge(self.max)));
        }
        self.buf
            .try_reserve(data.len())
            .map_err(|_| std::io::Error::other(Refused::NoMemory))?;
        self.buf.extend_from_slice(data);
        self.written += data.len();
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One stream, compressing or decompressing into a sink that each call drains.
enum Codec {
    GzipEnc(GzEncoder<Sink>),
    GzipDec(GzDecoder<Sink>),
    ZlibEnc(ZlibEncoder<Sink>),
    ZlibDec(ZlibDecoder<Sink>),
    RawEnc(DeflateEncoder<Sink>),
    RawDec(DeflateDecoder<Sink>),
}

fn new_codec(op: &str, format: &str, level: Option<u32>, max: Option<f64>) -> Result<Codec> {
    let level = Compression::new(level.unwrap_or(6).min(9));
    let max = match max {
        None => usize::MAX,
        Some(m) if m >= 1.0 && m.fract() == 0.0 => m.min(usize::MAX as f64) as usize,
        Some(m) => {
            return Err(mlua::Error::runtime(format!(
                "zlib: maxOutputLength must be a whole number of bytes, 1 or more, got {m}"
            )))
        }
    };
    let v = Sink {
        buf: Vec::new(),
        written: 0,
        max,
    };
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
                        Ok(std::mem::take(&mut c.get_mut().buf))
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
                        Ok(std::mem::take(&mut c.get_mut().buf))
                    })*
                }
            };
        }
        each!(GzipEnc, GzipDec, ZlibEnc, ZlibDec, RawEnc, RawDec)
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        let sink = match self {
            Codec::GzipEnc(c) => c.finish(),
            Codec::GzipDec(c) => c.finish(),
            Codec::ZlibEnc(c) => c.finish(),
            Codec::ZlibDec(c) => c.finish(),
            Codec::RawEnc(c) => c.finish(),
            Codec::RawDec(c) => c.finish(),
        }?;
        Ok(sink.buf)
    }
}

/// Corrupt input: `nil, "zlib: ..."`. Past maxOutputLength or out of memory: `nil,
/// "CODE: message", CODE`, with node's code for the first.
fn failure(lua: &Lua, e: std::io::Error) -> Result<MultiValue> {
    let code = match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Refused>())
    {
        Some(Refused::NoMemory) => "ENOMEM",
        Some(Refused::TooLarge(_)) => "ERR_BUFFER_TOO_LARGE",
        None => return (Value::Nil, format!("zlib: {e}")).into_lua_multi(lua),
    };
    (Value::Nil, format!("{code}: {e}"), code).into_lua_multi(lua)
}

/// One-shot: string in, string out; `nil, err` on corrupt input.
pub fn oneshot(
    lua: &Lua,
    (op, format, data, level, max): (String, String, LuaString, Option<u32>, Option<f64>),
) -> Result<MultiValue> {
    let mut codec = new_codec(&op, &format, level, max)?;
    let mut out = match codec.write(&data.as_bytes()) {
        Ok(o) => o,
        Err(e) => return failure(lua, e),
    };
    match codec.finish() {
        Ok(rest) => {
            if out.try_reserve(rest.len()).is_err() {
                return failure(lua, std::io::Error::other(Refused::NoMemory));
            }
            out.extend_from_slice(&rest);
            lua.create_string(out)?.into_lua_multi(lua)
        }
        Err(e) => failure(lua, e),
    }
}

pub struct ZStream(Option<Codec>);

pub fn stream(
    _: &Lua,
    (op, format, level, max): (String, String, Option<u32>, Option<f64>),
) -> Result<ZStream> {
    Ok(ZStream(Some(new_codec(&op, &format, level, max)?)))
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

//! The standard library in lua_lib/, embedded at build time (see build.rs).
//!
//! Sources are compiled only when first required, so a module nobody uses costs its
//! bytes in the binary and nothing else.

include!(concat!(env!("OUT_DIR"), "/lua_lib.rs"));

/// The source of an embedded module, by path without `.lua` (`http/server`).
pub fn source(path: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, src)| *src)
}

/// Compiles an embedded module as the chunk `@lua_lib/<path>.lua`, with `prefix` put
/// before its first line (require's `local module, exports, require = ...`). None if
/// there is no such module.
///
/// The source goes from the binary to the parser without becoming a Lua string: a
/// module loaded from a Lua string would leave that string, and the copies made to
/// add the prefix, as garbage, and the Lua heap would grow by a multiple of the
/// library's size while the modules load.
pub fn compile(lua: &mlua::Lua, path: &str, prefix: &str) -> mlua::Result<Option<mlua::Function>> {
    let Some(src) = source(path) else {
        return Ok(None);
    };
    let mut chunk = Vec::with_capacity(prefix.len() + src.len());
    chunk.extend_from_slice(prefix.as_bytes());
    chunk.extend_from_slice(src.as_bytes());
    lua.load(chunk)
        .set_name(format!("@lua_lib/{path}.lua"))
        .into_function()
        .map(Some)
}

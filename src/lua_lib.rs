//! The standard library in lua_lib/, embedded at build time (see build.rs).
//!
//! Sources are stored deflated and compiled only when first required, so a module
//! nobody uses costs its compressed bytes in the binary and nothing else.

include!(concat!(env!("OUT_DIR"), "/lua_lib.rs"));

/// The source of an embedded module, by path without `.lua` (`http/server`), after
/// `prefix`. None if there is no such module.
///
/// The sources are stored deflated (build.rs): a plain-HTTP server reads some 100 KB
/// of them once, at start, and the pages of the binary that held them stayed
/// resident for good (docs/memory.md). Inflating them takes a fraction of a
/// millisecond, into the one buffer the parser reads.
pub fn source(path: &str, prefix: &str) -> Option<Vec<u8>> {
    let &(_, len, deflated) = FILES.iter().find(|(name, _, _)| *name == path)?;
    let mut chunk = vec![0; prefix.len() + len];
    chunk[..prefix.len()].copy_from_slice(prefix.as_bytes());
    let n = miniz_oxide::inflate::decompress_slice_iter_to_slice(
        &mut chunk[prefix.len()..],
        std::iter::once(deflated),
        false,
        true,
    )
    .expect("build.rs deflated every embedded module");
    assert_eq!(n, len, "lua_lib/{path}.lua inflates to its own length");
    Some(chunk)
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
    let Some(chunk) = source(path, prefix) else {
        return Ok(None);
    };
    lua.load(chunk)
        .set_name(format!("@lua_lib/{path}.lua"))
        .into_function()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_inflates_to_its_file_after_the_prefix() {
        assert!(FILES.len() > 10, "lua_lib/ is embedded");
        for (name, len, deflated) in FILES {
            let file = std::fs::read(format!("lua_lib/{name}.lua")).unwrap();
            assert_eq!(*len, file.len(), "{name}");
            assert!(deflated.len() < file.len(), "{name} is stored deflated");
            let chunk = source(name, "-- prefix\n").unwrap();
            assert_eq!(&chunk[..10], b"-- prefix\n", "{name}");
            assert!(chunk[10..] == file[..], "{name} inflates to its file");
        }
        assert!(source("no/such/module", "").is_none());
    }
}

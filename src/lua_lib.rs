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

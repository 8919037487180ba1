//! HTTP/1.x in Rust: the strict decoder (the Lua side builds and writes responses).

pub mod decoder;

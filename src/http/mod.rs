//! HTTP/1.x in Rust: the strict decoder, and the checks on the heads the Lua side
//! builds and writes.

pub mod decoder;
pub mod outgoing;

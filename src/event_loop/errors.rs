//! I/O errors at the Lua surface: `nil, "ECODE: message", "ECODE"`, as luv returns them.

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Value};

/// The libuv-style code for an OS error number.
pub fn code_name(errno: i32) -> &'static str {
    match errno {
        libc::E2BIG => "E2BIG",
        libc::EACCES => "EACCES",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EAGAIN => "EAGAIN",
        libc::EALREADY => "EALREADY",
        libc::EBADF => "EBADF",
        libc::EBUSY => "EBUSY",
        libc::ECANCELED => "ECANCELED",
        libc::ECHILD => "ECHILD",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::EDEADLK => "EDEADLK",
        libc::EDESTADDRREQ => "EDESTADDRREQ",
        libc::EDOM => "EDOM",
        libc::EDQUOT => "EDQUOT",
        libc::EEXIST => "EEXIST",
        libc::EFAULT => "EFAULT",
        libc::EFBIG => "EFBIG",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EIDRM => "EIDRM",
        libc::EILSEQ => "EILSEQ",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EINTR => "EINTR",
        libc::EINVAL => "EINVAL",
        libc::EIO => "EIO",
        libc::EISCONN => "EISCONN",
        libc::EISDIR => "EISDIR",
        libc::ELOOP => "ELOOP",
        libc::EMFILE => "EMFILE",
        libc::EMLINK => "EMLINK",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETRESET => "ENETRESET",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENODEV => "ENODEV",
        libc::ENOENT => "ENOENT",
        libc::ENOEXEC => "ENOEXEC",
        libc::ENOLCK => "ENOLCK",
        libc::ENOMEM => "ENOMEM",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTBLK => "ENOTBLK",
        libc::ENOTCONN => "ENOTCONN",
        libc::ENOTDIR => "ENOTDIR",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::ENOTSUP => "ENOTSUP",
        libc::ENOTTY => "ENOTTY",
        libc::ENXIO => "ENXIO",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EPERM => "EPERM",
        libc::EPIPE => "EPIPE",
        libc::EPROTO => "EPROTO",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::ERANGE => "ERANGE",
        libc::EROFS => "EROFS",
        libc::ESHUTDOWN => "ESHUTDOWN",
        libc::ESPIPE => "ESPIPE",
        libc::ESRCH => "ESRCH",
        libc::ESTALE => "ESTALE",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ETXTBSY => "ETXTBSY",
        libc::EXDEV => "EXDEV",
        _ => "EIO",
    }
}

/// The code and a lower-case message for any io::Error.
pub fn describe(e: &std::io::Error) -> (&'static str, String) {
    let code = match e.raw_os_error() {
        Some(n) => code_name(n),
        None => match e.kind() {
            std::io::ErrorKind::InvalidInput => "EINVAL",
            std::io::ErrorKind::InvalidData => "EPROTO",
            std::io::ErrorKind::ConnectionReset => "ECONNRESET",
            std::io::ErrorKind::TimedOut => "ETIMEDOUT",
            std::io::ErrorKind::UnexpectedEof => "EOF",
            _ => "EIO",
        },
    };
    let mut msg = e.to_string();
    if let Some(i) = msg.find(" (os error") {
        msg.truncate(i);
    }
    if let Some(first) = msg.get(..1) {
        msg = first.to_lowercase() + &msg[1..];
    }
    (code, msg)
}

/// A failure the loop reports later, to a waker: the code and message, kept as Rust
/// values until the wake-up runs (no Lua value is made while the loop state is held).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn from_io(e: &std::io::Error) -> Self {
        let (code, message) = describe(e);
        Failure { code, message }
    }

    /// What a pending request hears when its handle is closed.
    pub fn canceled() -> Self {
        Failure {
            code: "ECANCELED",
            message: "operation canceled".into(),
        }
    }

    /// What a callback gets: luv's error name alone (`"ECONNREFUSED"`).
    pub fn callback_args(&self, lua: &Lua) -> Result<MultiValue> {
        self.code.into_lua_multi(lua)
    }

    /// What a coroutine waiting in a `co_*` form is resumed with: `"ECODE: message",
    /// "ECODE"`, which uv.lua returns as luv's `nil, err, code`.
    pub fn coroutine_args(&self, lua: &Lua) -> Result<MultiValue> {
        (format!("{}: {}", self.code, self.message), self.code).into_lua_multi(lua)
    }
}

/// `nil, "ECODE: message", "ECODE"`.
pub fn io_error_values(lua: &Lua, e: &std::io::Error) -> Result<MultiValue> {
    let (code, msg) = describe(e);
    error_values(lua, code, &msg)
}

/// The argument a callback gets for a failure: luv's error name (`"ECONNRESET"`).
pub fn callback_error(lua: &Lua, e: &std::io::Error) -> Result<MultiValue> {
    describe(e).0.into_lua_multi(lua)
}

pub fn error_values(lua: &Lua, code: &str, msg: &str) -> Result<MultiValue> {
    (Value::Nil, format!("{code}: {msg}"), code.to_string()).into_lua_multi(lua)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_os_errors_like_libuv() {
        let e = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            describe(&e),
            ("ECONNREFUSED", "connection refused".to_string())
        );
    }
}

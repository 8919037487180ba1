//! Standard streams as handles: `uv.new_tty(fd)` and `uv.guess_handle(fd)`.
//!
//! The REPL reads stdin through the loop (`try_read` + yield), so timers keep firing
//! while it waits for a line. stdin is switched to non-blocking for that, and switched
//! back by [`restore_stdin`] before the process exits, because the flag is shared with
//! the shell that started us.

use std::sync::atomic::{AtomicI32, Ordering};

use mlua::{AnyUserData, IntoLuaMulti, Lua, Result, Value};

use crate::event_loop::errors::{error_values, io_error_values};
use super::handle::LuvHandle;
use crate::event_loop::handle::{FdStream, Kind};
use crate::event_loop::scheduler::wait_marker;
use crate::event_loop::{LoopState, SharedState};

/// stdin's original file status flags, or -1 if we never changed them.
static STDIN_FLAGS: AtomicI32 = AtomicI32::new(-1);

pub fn guess_handle(fd: i32) -> &'static str {
    // SAFETY: isatty and fstat only read the descriptor's state.
    unsafe {
        if libc::isatty(fd) == 1 {
            return "tty";
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return "unknown";
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => "pipe",
            libc::S_IFSOCK => "tcp",
            libc::S_IFREG | libc::S_IFCHR => "file",
            _ => "unknown",
        }
    }
}

pub fn new_tty(lua: &Lua, state: &SharedState, fd: i32) -> Result<mlua::MultiValue> {
    if fd < 0 {
        return Err(mlua::Error::runtime(format!(
            "new_tty: bad file descriptor {fd}"
        )));
    }
    let mut st = state.borrow_mut();
    let id = st.handles.insert(Kind::Fd(FdStream {
        fd,
        registered: false,
        read_waiter: None,
    }));
    // epoll refuses regular files (EPERM): those stay unregistered and are read directly.
    let registered = st
        .poll
        .registry()
        .register(
            &mut mio::unix::SourceFd(&fd),
            mio::Token(id.key),
            mio::Interest::READABLE,
        )
        .is_ok();
    if registered {
        // SAFETY: plain fcntl calls on a descriptor we were given.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 && flags & libc::O_NONBLOCK == 0 {
                if fd == 0 {
                    STDIN_FLAGS.store(flags, Ordering::SeqCst);
                }
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
    }
    if let Some(Kind::Fd(f)) = st.handles.get_mut(id).map(|h| &mut h.kind) {
        f.registered = registered;
    }
    drop(st);
    let ud: AnyUserData = LuvHandle::create(lua, state, id, "tty")?;
    ud.into_lua_multi(lua)
}

/// Puts stdin back the way we found it (called on every exit path).
pub fn restore_stdin() {
    let flags = STDIN_FLAGS.swap(-1, Ordering::SeqCst);
    if flags >= 0 {
        // SAFETY: restores flags we read from the same descriptor.
        unsafe {
            libc::fcntl(0, libc::F_SETFL, flags);
        }
    }
}

/// `try_read` on a tty handle: data, nil at EOF, or WAIT with the caller registered.
pub fn try_read(lua: &Lua, st: &mut LoopState, this: &LuvHandle) -> Result<mlua::MultiValue> {
    let LoopState {
        handles, read_buf, ..
    } = st;
    let f = match handles.get_mut(this.id).map(|h| &mut h.kind) {
        Some(Kind::Fd(f)) => f,
        _ => return error_values(lua, "EBADF", "handle is closed"),
    };
    loop {
        // SAFETY: reads into our own buffer, within its length.
        let n = unsafe { libc::read(f.fd, read_buf.as_mut_ptr().cast(), read_buf.len()) };
        if n > 0 {
            return lua
                .create_string(&read_buf[..n as usize])?
                .into_lua_multi(lua);
        }
        if n == 0 {
            return Value::Nil.into_lua_multi(lua);
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock if f.registered => {
                f.read_waiter = Some(lua.create_registry_value(lua.current_thread())?);
                handles.set_active(this.id, true);
                return Value::LightUserData(wait_marker()).into_lua_multi(lua);
            }
            _ => return io_error_values(lua, &e),
        }
    }
}

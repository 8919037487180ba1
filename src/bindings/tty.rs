//! Terminals as stream handles: `uv.new_tty(fd)`, `uv.guess_handle(fd)`, and the
//! terminal modes readline needs (`tty_set_mode`, `tty_get_winsize`, `tty_reset_mode`).
//!
//! A tty is a stream over its descriptor (event_loop/stream.rs, `Transport::Fd`): the
//! REPL reads stdin through the loop (`try_read` + yield), so timers keep firing
//! while it waits for a line. stdin is switched to non-blocking for that, and switched
//! back by [`restore_stdin`] before the process exits, because the flag is shared with
//! the shell that started us.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use mlua::{AnyUserData, IntoLuaMulti, Lua, Result, UserData, UserDataMethods};

use super::handle::{luv_kind, Luv};
use crate::event_loop::errors::io_error_values;
use crate::event_loop::stream::{Fd, Stream, Transport};
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

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

luv_kind!(
    /// `uv_tty_t`.
    Tty,
    "tty"
);

impl UserData for Tty {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        super::stream::add_methods(methods);
        // tty_set_mode(mode): 0 normal, 1 raw, 2 io (raw without signal keys, as
        // libuv's UV_TTY_MODE_IO).
        methods.add_method("set_mode", |lua, this, mode: i32| {
            let fd = tty_fd(this)?;
            match set_mode(fd, mode) {
                Ok(()) => 0.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            }
        });
        // tty_get_winsize(): width, height.
        methods.add_method("get_winsize", |lua, this, ()| {
            let fd = tty_fd(this)?;
            // SAFETY: TIOCGWINSZ fills a winsize we own.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
                return io_error_values(lua, &std::io::Error::last_os_error());
            }
            (ws.ws_col as i64, ws.ws_row as i64).into_lua_multi(lua)
        });
    }
}

/// The descriptor of a tty handle.
fn tty_fd(this: &Tty) -> Result<i32> {
    let h = this.handle();
    let mut st = h.state.borrow_mut();
    match st.stream(h.id).map(|s| s.transport.raw_fd()) {
        Some(Some(fd)) => Ok(fd),
        _ => Err(h.closed("tty")),
    }
}

/// The terminal settings before the first `set_mode`, restored by `reset_mode` (and
/// on exit): (descriptor, settings).
static SAVED_TERMIOS: Mutex<Option<(i32, libc::termios)>> = Mutex::new(None);

fn set_mode(fd: i32, mode: i32) -> std::io::Result<()> {
    // SAFETY: tcgetattr/tcsetattr on a descriptor, with termios structs we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        {
            let mut saved = SAVED_TERMIOS.lock().unwrap_or_else(|e| e.into_inner());
            if saved.is_none() {
                *saved = Some((fd, t));
            }
            if mode == 0 {
                if let Some((_, orig)) = *saved {
                    t = orig;
                }
            }
        }
        if mode != 0 {
            // As libuv's raw mode: no echo, no line editing, no CR/NL translation.
            t.c_iflag &= !(libc::BRKINT | libc::ICRNL | libc::INPCK | libc::ISTRIP | libc::IXON);
            t.c_oflag |= libc::ONLCR;
            t.c_cflag |= libc::CS8;
            t.c_lflag &= !(libc::ECHO | libc::ICANON | libc::IEXTEN);
            if mode == 1 {
                t.c_lflag |= libc::ISIG;
            } else {
                t.c_lflag &= !libc::ISIG;
            }
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
        }
        if libc::tcsetattr(fd, libc::TCSADRAIN, &t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `uv.tty_reset_mode()`: the terminal's settings as before the first `set_mode`.
pub fn reset_mode() {
    let saved = SAVED_TERMIOS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some((fd, t)) = saved {
        // SAFETY: restores settings read from the same descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &t) };
    }
}

pub fn new_tty(lua: &Lua, state: &SharedState, fd: i32) -> Result<mlua::MultiValue> {
    if fd < 0 {
        return Err(mlua::Error::runtime(format!(
            "new_tty: bad file descriptor {fd}"
        )));
    }
    let mut st = state.borrow_mut();
    let id = st
        .handles_mut()
        .insert(Kind::Stream(Box::new(Stream::new("tty"))));
    // epoll refuses regular files (EPERM): those stay unregistered and are read
    // directly (they never block).
    let registered = st
        .registry()
        .register(
            &mut mio::unix::SourceFd(&fd),
            mio::Token(id.key),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
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
    if let Some(s) = st.stream(id) {
        s.transport = Transport::Fd(Fd { fd, registered });
    }
    drop(st);
    let ud: AnyUserData = Tty::create(lua, state, id)?;
    ud.into_lua_multi(lua)
}

/// Puts stdin back the way we found it, and the terminal's mode (called on every exit
/// path).
pub fn restore_stdin() {
    reset_mode();
    let flags = STDIN_FLAGS.swap(-1, Ordering::SeqCst);
    if flags >= 0 {
        // SAFETY: restores flags we read from the same descriptor.
        unsafe {
            libc::fcntl(0, libc::F_SETFL, flags);
        }
    }
}

//! Pipe handles: `uv.new_pipe()`, for Unix domain sockets (servers and clients) and
//! for pipe descriptors (`pipe_open`, a child process's stdio).
//!
//! A pipe is a stream (bindings/stream.rs has read, write, listen, accept and
//! shutdown); this file adds what only pipes have: paths, and opening a descriptor.
//! `uv.pipe()` makes a pair of pipe descriptors, as luv's `uv.pipe()` does.

use std::io;
use std::os::fd::IntoRawFd;

use mlua::{AnyUserData, IntoLuaMulti, Lua, MultiValue, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv};
use super::stream::{adopt, closed, start_connect, stream};
use crate::event_loop::errors::{error_values, io_error_values};
use crate::event_loop::io::waker_from;
use crate::event_loop::stream::{Fd, Stream, Transport};
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_pipe_t`.
    Pipe,
    "pipe"
);

impl UserData for Pipe {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        super::stream::add_methods(methods);
        add_methods(methods);
    }
}

/// `uv.new_pipe([ipc])`. (Passing handles over a pipe, ipc, is not supported: an
/// ipc pipe is refused rather than half made.)
pub fn new_pipe(lua: &Lua, state: &SharedState, ipc: Option<bool>) -> Result<AnyUserData> {
    if ipc == Some(true) {
        return Err(mlua::Error::runtime(
            "new_pipe: ipc pipes (passing handles) are not supported",
        ));
    }
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Stream(Box::new(Stream::new("pipe"))));
    Pipe::create(lua, state, id)
}

/// `uv.pipe()`: a new pipe's two descriptors, `{ read = fd, write = fd }`, both
/// close-on-exec and non-blocking, for `pipe_open` or a child's stdio.
pub fn pipe_fds(lua: &Lua, _: ()) -> Result<MultiValue> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return io_error_values(lua, &io::Error::last_os_error());
    }
    let t = lua.create_table()?;
    t.set("read", fds[0])?;
    t.set("write", fds[1])?;
    t.into_lua_multi(lua)
}

fn unix_addr(path: &str) -> io::Result<socket2::SockAddr> {
    socket2::SockAddr::unix(path)
}

fn name_of(addr: io::Result<socket2::SockAddr>) -> io::Result<String> {
    let addr = addr?;
    Ok(addr
        .as_pathname()
        .map(|p| p.display().to_string())
        .unwrap_or_default())
}

fn add_methods<M: UserDataMethods<Pipe>>(methods: &mut M) {
    // pipe_bind(name): a socket at the path, ready for listen.
    methods.add_method("bind", |lua, this, name: String| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "pipe_bind")?;
        if !matches!(t.transport, Transport::New) {
            return error_values(lua, "EINVAL", "pipe is already bound or connected");
        }
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
            .and_then(|s| {
                s.set_nonblocking(true)?;
                s.set_cloexec(true)?;
                s.bind(&unix_addr(&name)?)?;
                Ok(s)
            });
        match sock {
            Ok(s) => {
                t.transport = Transport::Bound(s);
                true.into_lua_multi(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    // pipe_connect(name, cb): cb(err) once connected (or a coroutine, resumed).
    methods.add_method("connect", |lua, this, (name, cb): (String, Value)| {
        let this = this.handle();
        if let Some(values) = closed(lua, this) {
            return values;
        }
        let waker = waker_from(lua, cb, "pipe_connect")?;
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "pipe_connect")?;
        if !matches!(t.transport, Transport::New) {
            return error_values(lua, "EISCONN", "pipe is already connected or bound");
        }
        match mio::net::UnixStream::connect(&name) {
            Ok(s) => start_connect(lua, &mut st, this, Transport::Unix(s), waker),
            Err(e) => io_error_values(lua, &e),
        }
    });

    // pipe_open(fd): the pipe reads and writes an existing descriptor (made
    // non-blocking), which it then owns.
    methods.add_method("open", |lua, this, fd: i32| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "pipe_open")?;
        if !matches!(t.transport, Transport::New) {
            return error_values(lua, "EINVAL", "pipe is already in use");
        }
        // SAFETY: fcntl on a descriptor we were given.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return io_error_values(lua, &io::Error::last_os_error());
            }
        }
        // Registered before the descriptor goes into a transport: a transport that
        // failed to register would close it when dropped. epoll refuses regular
        // files and /dev/null (EPERM), as stdio may be: those stay unregistered and
        // are read and written directly (they never block), as a tty handle's are.
        let registered = match st.registry().register(
            &mut mio::unix::SourceFd(&fd),
            mio::Token(this.id.key),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        ) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
            Err(e) => return io_error_values(lua, &e),
        };
        if let Some(s) = st.stream(this.id) {
            s.transport = Transport::Fd(Fd { fd, registered });
        }
        true.into_lua_multi(lua)
    });

    methods.add_method("getsockname", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let name = match &stream(&mut st, this, "pipe_getsockname")?.transport {
            Transport::Bound(s) => name_of(s.local_addr()),
            Transport::UnixListener(l) => name_of(socket2::SockRef::from(l).local_addr()),
            Transport::Unix(s) => name_of(socket2::SockRef::from(s).local_addr()),
            _ => Err(io::Error::from_raw_os_error(libc::EBADF)),
        };
        match name {
            Ok(n) => n.into_lua_multi(lua),
            Err(e) => io_error_values(lua, &e),
        }
    });

    methods.add_method("getpeername", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let name = match &stream(&mut st, this, "pipe_getpeername")?.transport {
            Transport::Unix(s) => name_of(socket2::SockRef::from(s).peer_addr()),
            _ => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        };
        match name {
            Ok(n) => n.into_lua_multi(lua),
            Err(e) => io_error_values(lua, &e),
        }
    });
}

/// Makes a pipe handle over descriptor `fd` (a child's stdio end), owned by it.
pub fn pipe_over_fd(
    lua: &Lua,
    state: &SharedState,
    fd: std::os::fd::OwnedFd,
) -> Result<AnyUserData> {
    let ud = new_pipe(lua, state, None)?;
    let id = ud.borrow::<Pipe>()?.handle().id;
    let raw = fd.into_raw_fd();
    let mut st = state.borrow_mut();
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    adopt(
        &mut st,
        id,
        Transport::Fd(Fd {
            fd: raw,
            registered: true,
        }),
    )
    .map_err(mlua::Error::external)?;
    drop(st);
    Ok(ud)
}

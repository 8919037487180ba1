//! What every stream handle (tcp, pipe, tty) answers: luv's stream functions, as
//! methods, over the loop's one stream core (event_loop/stream.rs).
//!
//! Every method has the same shape: check the arguments, make the non-blocking call,
//! then return the result now or register who to wake and return `uv.WAIT`.
//!
//! Two styles share this code:
//! - luv's callbacks: `listen(backlog, cb)`, `read_start(cb)`, `write(data, cb)`;
//! - coroutines: `try_accept()` and `try_read()` return `uv.WAIT` after registering the
//!   running coroutine, which the Lua wrapper then yields; `write` and `shutdown` take
//!   the coroutine itself in place of a callback.
//!
//! A request on a closed handle returns `nil, "EBADF: handle is closed", "EBADF"`, as
//! a close may race any request; misuse (a wrong argument) raises.

use std::io;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, UserDataMethods, Value};

use super::handle::{Luv, LuvHandle};
use crate::event_loop::errors::{error_values, io_error_values};
use crate::event_loop::handle::HandleId;
use crate::event_loop::io::{repeating_waker_from, waker_from};
use crate::event_loop::scheduler::wait_marker;
use crate::event_loop::stream::{ReadOnce, Stream, Transport};
use crate::event_loop::waker::Waker;
use crate::event_loop::Kind;
use crate::event_loop::{LoopState, Task};

/// The stream of handle `this`, or the misuse error (a closed handle, another kind).
pub fn stream<'a>(st: &'a mut LoopState, this: &LuvHandle, method: &str) -> Result<&'a mut Stream> {
    match st.handles_mut().get_mut(this.id).map(|h| &mut h.kind) {
        Some(Kind::Stream(t)) => Ok(t),
        Some(_) => Err(mlua::Error::runtime(format!(
            "{method}: expected a stream handle, got {}",
            this.kind
        ))),
        None => Err(this.closed(method)),
    }
}

/// A request on a handle that is closed (or closing) fails as libuv's do, with EBADF:
/// an error value, not a raised error, since a close may race any request.
pub fn closed(lua: &Lua, this: &LuvHandle) -> Option<Result<MultiValue>> {
    let st = this.state.borrow();
    st.handles()
        .get(this.id)
        .is_none()
        .then(|| error_values(lua, "EBADF", "handle is closed"))
}

pub fn wait(lua: &Lua) -> Result<MultiValue> {
    Value::LightUserData(wait_marker()).into_lua_multi(lua)
}

/// Watches `transport`'s descriptor under handle `id`'s token.
pub fn register(
    st: &LoopState,
    id: HandleId,
    transport: &mut Transport,
    interest: mio::Interest,
) -> io::Result<()> {
    let fd = transport
        .raw_fd()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
    st.registry()
        .register(&mut mio::unix::SourceFd(&fd), mio::Token(id.key), interest)
}

/// Makes `transport` (connected) the stream of handle `id`, watched both ways.
pub fn adopt(st: &mut LoopState, id: HandleId, mut transport: Transport) -> io::Result<()> {
    register(
        st,
        id,
        &mut transport,
        mio::Interest::READABLE | mio::Interest::WRITABLE,
    )?;
    if let Some(s) = st.stream(id) {
        s.transport = transport;
    }
    Ok(())
}

/// Makes a connecting `transport` handle `this`'s stream and waits for the outcome
/// with `waker` (a callback, a coroutine, or none): true now, or WAIT for a coroutine.
pub fn start_connect(
    lua: &Lua,
    st: &mut LoopState,
    this: &LuvHandle,
    transport: Transport,
    waker: Option<Waker>,
) -> Result<MultiValue> {
    if let Err(e) = adopt(st, this.id, transport) {
        return io_error_values(lua, &e);
    }
    let is_thread = matches!(waker, Some(Waker::Thread(_)));
    // Without a callback we still wait for the outcome, so writes queue until then.
    let waker = match waker {
        Some(w) => w,
        None => Waker::Callback(std::rc::Rc::new(
            lua.create_registry_value(lua.create_function(|_, ()| Ok(()))?)?,
        )),
    };
    stream(st, this, "connect")?.connect_waker = Some(waker);
    st.refresh_stream_active(this.id);
    if is_thread {
        wait(lua)
    } else {
        true.into_lua_multi(lua)
    }
}

/// `handle:send_buffer_size([size])` and `recv_buffer_size`, as luv's: with no size
/// (or 0), the socket's buffer size; with one, it is set and 0 returned.
fn buffer_size(
    lua: &Lua,
    this: &LuvHandle,
    size: Option<i64>,
    option: libc::c_int,
    name: &str,
) -> Result<MultiValue> {
    if let Some(values) = closed(lua, this) {
        return values;
    }
    let mut st = this.state.borrow_mut();
    let Some(fd) = stream(&mut st, this, name)?.transport.raw_fd() else {
        return error_values(lua, "EBADF", "the handle has no socket yet");
    };
    // SAFETY: plain get/setsockopt on a descriptor the handle owns, with an int that
    // lives across the call.
    unsafe {
        let mut value: libc::c_int =
            size.unwrap_or(0).clamp(0, libc::c_int::MAX as i64) as libc::c_int;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if value > 0 {
            let p = (&value as *const libc::c_int).cast();
            if libc::setsockopt(fd, libc::SOL_SOCKET, option, p, len) != 0 {
                return io_error_values(lua, &io::Error::last_os_error());
            }
            return 0.into_lua_multi(lua);
        }
        let mut got_len = len;
        let p = (&mut value as *mut libc::c_int).cast();
        if libc::getsockopt(fd, libc::SOL_SOCKET, option, p, &mut got_len) != 0 {
            return io_error_values(lua, &io::Error::last_os_error());
        }
        value.into_lua_multi(lua)
    }
}

/// The methods of every stream kind.
pub fn add_methods<T: Luv, M: UserDataMethods<T>>(methods: &mut M) {
    methods.add_method("send_buffer_size", |lua, this, size: Option<i64>| {
        buffer_size(
            lua,
            this.handle(),
            size,
            libc::SO_SNDBUF,
            "send_buffer_size",
        )
    });
    methods.add_method("recv_buffer_size", |lua, this, size: Option<i64>| {
        buffer_size(
            lua,
            this.handle(),
            size,
            libc::SO_RCVBUF,
            "recv_buffer_size",
        )
    });
    methods.add_method(
        "listen",
        |lua, this, (backlog, cb): (Option<i32>, Option<mlua::Function>)| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            let t = stream(&mut st, this, "listen")?;
            let Transport::Bound(sock) = std::mem::replace(&mut t.transport, Transport::New) else {
                return error_values(
                    lua,
                    "EINVAL",
                    "listen needs a bound socket (call bind first)",
                );
            };
            if let Err(e) = sock.listen(backlog.unwrap_or(511)) {
                t.transport = Transport::Bound(sock);
                return io_error_values(lua, &e);
            }
            // A TCP socket has an IP address; a pipe's is a path.
            let is_tcp = sock.local_addr().is_ok_and(|a| a.as_socket().is_some());
            let fd = std::os::fd::OwnedFd::from(sock);
            let mut listener = if is_tcp {
                Transport::TcpListener(mio::net::TcpListener::from_std(fd.into()))
            } else {
                Transport::UnixListener(mio::net::UnixListener::from_std(fd.into()))
            };
            if let Err(e) = register(&st, this.id, &mut listener, mio::Interest::READABLE) {
                return io_error_values(lua, &e);
            }
            stream(&mut st, this, "listen")?.transport = listener;
            st.reserve_spare_fd();
            let t = stream(&mut st, this, "listen")?;
            t.listen_cb = cb.map(|f| lua.create_registry_value(f)).transpose()?;
            st.refresh_stream_active(this.id);
            true.into_lua_multi(lua)
        },
    );

    // luv's accept: move one pending connection into the `client` handle.
    methods.add_method("accept", |lua, this, client: mlua::UserDataRef<T>| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let stream = match next_connection(&mut st, this)? {
            Ok(Some(s)) => s,
            Ok(None) => return error_values(lua, "EAGAIN", "no pending connection"),
            Err(e) => return io_error_values(lua, &e),
        };
        let client = client.handle();
        let c = st
            .stream(client.id)
            .ok_or_else(|| client.closed("accept"))?;
        if !matches!(c.transport, Transport::New) {
            return Err(mlua::Error::runtime(
                "accept: the client handle is already in use",
            ));
        }
        match adopt(&mut st, client.id, stream) {
            Ok(()) => true.into_lua_multi(lua),
            Err(e) => io_error_values(lua, &e),
        }
    });

    // Coroutine style: a new connected handle, or WAIT with the caller registered.
    methods.add_method("try_accept", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        match next_connection(&mut st, this)? {
            Ok(Some(stream)) => {
                let id = st
                    .handles_mut()
                    .insert(Kind::Stream(Box::new(Stream::new(T::KIND))));
                if let Err(e) = adopt(&mut st, id, stream) {
                    st.close(id, None);
                    return io_error_values(lua, &e);
                }
                drop(st);
                T::create(lua, &this.state, id)?.into_lua_multi(lua)
            }
            Ok(None) => {
                stream(&mut st, this, "try_accept")?.accept_waiter =
                    Some(lua.create_registry_value(lua.current_thread())?);
                st.refresh_stream_active(this.id);
                wait(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    methods.add_method("read_start", |lua, this, cb: mlua::Function| {
        let this = this.handle();
        let cb = lua.create_registry_value(cb)?;
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "read_start")?;
        if !t.transport.is_connected() {
            return Err(mlua::Error::runtime(
                "read_start: the handle is not a connected stream",
            ));
        }
        t.read_cb = Some(cb);
        // The socket's edge may already have been consumed: look now, from the loop.
        st.defer(Task::Feed(this.id));
        st.refresh_stream_active(this.id);
        Ok(0)
    });

    methods.add_method("read_stop", |_, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        stream(&mut st, this, "read_stop")?.read_cb = None;
        st.refresh_stream_active(this.id);
        Ok(0)
    });

    // Coroutine style: data, nil at EOF, WAIT (caller registered), or nil, err, code.
    methods.add_method("try_read", |lua, this, ()| {
        let this = this.handle();
        read_for_coroutine(lua, this, "try_read", None, |lua, bytes| {
            lua.create_string(bytes)?.into_lua_multi(lua)
        })
    });

    // Like try_read, but the bytes go straight into an HTTP decoder's buffer. Returns
    // true (bytes added), nil at EOF, WAIT, or nil, err, code. With a callback, WAIT
    // means the callback runs (in a coroutine of its own) once the socket is readable,
    // instead of the caller being resumed: an idle keep-alive connection then holds no
    // coroutine.
    methods.add_method(
        "try_read_into",
        |lua, this, (dec, on_readable): (mlua::AnyUserData, Option<mlua::Function>)| {
            let this = this.handle();
            let Some(mut d) = super::http::decoder_ptr(&dec) else {
                return Err(mlua::Error::runtime(
                    "try_read_into: expected an http decoder (native.http_decoder)",
                ));
            };
            read_for_coroutine(lua, this, "try_read_into", on_readable, |lua, bytes| {
                // SAFETY: `dec` is held for this call, and no Lua code runs while the
                // reference lives.
                unsafe { d.as_mut() }.feed(bytes);
                true.into_lua_multi(lua)
            })
        },
    );

    // The callback (or coroutine) a connection waits with (nil clears it): kept by the
    // handle, so `native.http_next(key, gen, decoder, true)` can wait with it again
    // and again without a registry entry per wait.
    methods.add_method("set_on_readable", |lua, this, waker: Value| {
        let this = this.handle();
        let waker = match waker {
            Value::Nil => None,
            w => Some(repeating_waker_from(lua, w, "set_on_readable")?),
        };
        let mut st = this.state.borrow_mut();
        stream(&mut st, this, "set_on_readable")?.on_readable = waker;
        Ok(())
    });

    // Writes now if nothing is queued: one syscall (writev for a list of strings) and no
    // copy. What the socket does not take is copied into the queue and flushed when it
    // turns writable.
    methods.add_method("write", |lua, this, (data, cb): (Value, Value)| {
        let this = this.handle();
        write(lua, this, data, cb, false)
    });

    // The same, but the syscall waits until the running callback returns, so the writes
    // of one callback leave in one syscall (net.Socket writes this way).
    methods.add_method("queue_write", |lua, this, (data, cb): (Value, Value)| {
        let this = this.handle();
        write(lua, this, data, cb, true)
    });

    // TLS: switch a connected socket to TLS as the server side (config from
    // native.tls_server_config). The handshake happens with the first reads.
    methods.add_method(
        "tls_server",
        |lua, this, cfg: mlua::UserDataRef<super::tls::TlsServerConfig>| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            let t = stream(&mut st, this, "tls_server")?;
            match rustls::ServerConnection::new(cfg.0.clone()) {
                Ok(c) => {
                    t.tls = Some(Box::new(c.into()));
                    t.drained = false;
                    true.into_lua_multi(lua)
                }
                Err(e) => error_values(lua, "EPROTO", &e.to_string()),
            }
        },
    );

    // TLS as the client side, for `servername` (verified against the config's roots).
    methods.add_method(
        "tls_client",
        |lua, this, (cfg, name): (mlua::UserDataRef<super::tls::TlsClientConfig>, String)| {
            let this = this.handle();
            let server_name = match rustls::pki_types::ServerName::try_from(name.clone()) {
                Ok(n) => n,
                Err(_) => {
                    return error_values(lua, "EINVAL", &format!("bad TLS server name {name:?}"))
                }
            };
            let mut st = this.state.borrow_mut();
            let t = stream(&mut st, this, "tls_client")?;
            match rustls::ClientConnection::new(cfg.0.clone(), server_name) {
                Ok(c) => {
                    t.tls = Some(Box::new(c.into()));
                    t.drained = false;
                    true.into_lua_multi(lua)
                }
                Err(e) => error_values(lua, "EPROTO", &e.to_string()),
            }
        },
    );

    // Drives a handshake: true when done, WAIT (caller registered), or nil, err, code.
    methods.add_method("tls_handshake", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "tls_handshake")?;
        let (true, Some(conn)) = (t.transport.is_connected(), t.tls.as_deref_mut()) else {
            return error_values(lua, "EINVAL", "not a connected TLS stream");
        };
        match crate::event_loop::tls::handshake_step(&mut t.transport, conn) {
            Ok(true) => true.into_lua_multi(lua),
            Ok(false) => {
                t.read_waiter = Some(Waker::Thread(
                    lua.create_registry_value(lua.current_thread())?,
                ));
                st.refresh_stream_active(this.id);
                wait(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    // What the handshake settled: { alpn, servername, protocol, peerCertificate (DER) }.
    methods.add_method("tls_info", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "tls_info")?;
        let Some(conn) = t.tls.as_deref() else {
            return Ok(Value::Nil);
        };
        let info = lua.create_table()?;
        if let Some(p) = conn.alpn_protocol() {
            info.set("alpn", lua.create_string(p)?)?;
        }
        if let Some(v) = conn.protocol_version() {
            info.set("protocol", format!("{v:?}"))?;
        }
        if let rustls::Connection::Server(sc) = conn {
            if let Some(n) = sc.server_name() {
                info.set("servername", n)?;
            }
        }
        if let Some(certs) = conn.peer_certificates() {
            if let Some(first) = certs.first() {
                info.set("peerCertificate", lua.create_string(first.as_ref())?)?;
            }
        }
        Ok(Value::Table(info))
    });

    methods.add_method("write_queue_size", |_, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "write_queue_size")?;
        Ok(t.queued_bytes())
    });

    methods.add_method("close_after_flush", |_, this, ()| {
        let this = this.handle();
        this.state.borrow_mut().close_after_flush(this.id);
        Ok(())
    });
    methods.add_method("shutdown", |lua, this, cb: Value| {
        let this = this.handle();
        if let Some(values) = closed(lua, this) {
            return values;
        }
        let waker = waker_from(lua, cb, "shutdown")?;
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "shutdown")?;
        if !t.transport.is_connected() {
            return error_values(lua, "ENOTCONN", "socket is not connected");
        }
        if t.writes.is_empty() && t.connect_waker.is_none() {
            if let Err(e) = t.shutdown_now() {
                return io_error_values(lua, &e);
            }
            if let Some(w @ Waker::Callback(_)) = waker {
                st.defer(Task::Wake(w, MultiValue::new()));
            }
            return true.into_lua_multi(lua);
        }
        let is_thread = matches!(waker, Some(Waker::Thread(_)));
        t.shutdown = Some(waker);
        st.refresh_stream_active(this.id);
        if is_thread {
            wait(lua)
        } else {
            true.into_lua_multi(lua)
        }
    });
}

fn write(lua: &Lua, this: &LuvHandle, data: Value, cb: Value, defer: bool) -> Result<MultiValue> {
    let strings: Vec<mlua::LuaString> = match data {
        Value::String(s) => vec![s],
        Value::Table(t) => t
            .sequence_values::<mlua::LuaString>()
            .collect::<Result<_>>()
            .map_err(|_| {
                mlua::Error::runtime("write: data must be a string or a list of strings")
            })?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "write: data must be a string or a list of strings, got {}",
                other.type_name()
            )))
        }
    };
    let waker = waker_from(lua, cb, "write")?;
    let bytes: Vec<_> = strings.iter().map(|s| s.as_bytes()).collect();
    let is_thread = matches!(waker, Some(Waker::Thread(_)));
    let written = this
        .state
        .borrow_mut()
        .stream_write(this.id, &bytes, waker, defer);
    match written {
        Ok(None) => (true, 0).into_lua_multi(lua),
        // The second result is how much is now queued, so writers can apply
        // backpressure without another call.
        Ok(Some(_)) if is_thread => wait(lua),
        Ok(Some(queued)) => (true, queued).into_lua_multi(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

/// One non-blocking read for a coroutine; `deliver` turns the bytes into the result.
/// Returns that result, nil at EOF, WAIT (with the running coroutine registered), or
/// nil, err, code.
fn read_for_coroutine(
    lua: &Lua,
    this: &LuvHandle,
    method: &str,
    on_readable: Option<mlua::Function>,
    deliver: impl FnOnce(&Lua, &[u8]) -> Result<MultiValue>,
) -> Result<MultiValue> {
    let mut st = this.state.borrow_mut();
    let (t, read_buf) = match st.kind_and_read_buf(this.id) {
        Some((Kind::Stream(t), read_buf)) => (t, read_buf),
        Some(_) => {
            return Err(mlua::Error::runtime(format!(
                "{method}: expected a stream handle, got {}",
                this.kind
            )))
        }
        None => return error_values(lua, "EBADF", "handle is closed"),
    };
    match t.read_once(read_buf) {
        ReadOnce::Data(n) => return deliver(lua, &read_buf[..n]),
        ReadOnce::Eof => return Value::Nil.into_lua_multi(lua),
        ReadOnce::Failed(e) => return io_error_values(lua, &e),
        ReadOnce::WouldBlock => {}
    }
    t.read_waiter = Some(match on_readable {
        Some(f) => Waker::Callback(std::rc::Rc::new(lua.create_registry_value(f)?)),
        None => Waker::Thread(lua.create_registry_value(lua.current_thread())?),
    });
    st.refresh_stream_active(this.id);
    wait(lua)
}

/// The next accepted connection, from the listener's queue (which `accept_all`
/// fills, on readiness or now).
fn next_connection(st: &mut LoopState, this: &LuvHandle) -> Result<io::Result<Option<Transport>>> {
    let t = stream(st, this, "accept")?;
    if !t.transport.is_listener() {
        return Err(mlua::Error::runtime("accept: the handle is not listening"));
    }
    if t.accepted.is_empty() {
        st.accept_all(this.id);
    }
    Ok(Ok(stream(st, this, "accept")?.accepted.pop_front()))
}

//! TCP handles: `uv.new_tcp()`, then bind + listen + accept, or connect; read and write.
//!
//! Every method has the same shape: check the arguments, make the non-blocking syscall,
//! then return the result now or register who to wake and return `uv.WAIT`.
//!
//! Two styles share this code:
//! - luv's callbacks: `listen(backlog, cb)`, `read_start(cb)`, `write(data, cb)`;
//! - coroutines: `try_accept()` and `try_read()` return `uv.WAIT` after registering the
//!   running coroutine, which the Lua wrapper then yields; `connect`, `write` and
//!   `shutdown` take the coroutine itself in place of a callback.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mlua::{AnyUserData, IntoLuaMulti, Lua, MultiValue, Result, UserDataMethods, Value};

use crate::event_loop::errors::{error_values, io_error_values};
use super::handle::LuvHandle;
use crate::event_loop::handle::{HandleId, Kind, Waker};
use crate::event_loop::stream::{read_once, ReadOnce, Socket, Tcp, Written};
use crate::event_loop::io::waker_from;
use crate::event_loop::scheduler::wait_marker;
use crate::event_loop::{LoopState, SharedState, Task};

pub fn new_tcp(lua: &Lua, state: &SharedState) -> Result<AnyUserData> {
    let id = state.borrow_mut().handles.insert(Kind::Tcp(Box::default()));
    LuvHandle::create(lua, state, id, "tcp")
}

fn tcp<'a>(st: &'a mut LoopState, this: &LuvHandle, method: &str) -> Result<&'a mut Tcp> {
    tcp_by_id(st, this.id, this.kind, method)
}

fn tcp_by_id<'a>(
    st: &'a mut LoopState,
    id: HandleId,
    kind: &str,
    method: &str,
) -> Result<&'a mut Tcp> {
    match st.handles.get_mut(id).map(|h| &mut h.kind) {
        Some(Kind::Tcp(t)) => Ok(t),
        Some(_) => Err(mlua::Error::runtime(format!(
            "{method}: expected a tcp handle, got {kind}"
        ))),
        None => Err(mlua::Error::runtime(format!("{method}: handle is closed"))),
    }
}

/// An address from Lua: an IP literal (v4 or v6) or "localhost".
pub fn parse_addr(method: &str, host: &str, port: u16) -> Result<SocketAddr> {
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h => h.parse().map_err(|_| {
            mlua::Error::runtime(format!("{method}: host must be an IP address, got {h:?}"))
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

fn port_arg(method: &str, port: f64) -> Result<u16> {
    if port.fract() != 0.0 || !(0.0..=65535.0).contains(&port) {
        return Err(mlua::Error::runtime(format!(
            "{method}: port must be an integer from 0 to 65535, got {port}"
        )));
    }
    Ok(port as u16)
}

fn addr_table(lua: &Lua, addr: io::Result<SocketAddr>) -> Result<MultiValue> {
    match addr {
        Ok(a) => {
            let t = lua.create_table()?;
            t.set("ip", a.ip().to_string())?;
            t.set("port", a.port())?;
            t.set("family", if a.is_ipv4() { "inet" } else { "inet6" })?;
            t.into_lua_multi(lua)
        }
        Err(e) => io_error_values(lua, &e),
    }
}

/// Registers a connected stream under the handle's token, for both directions.
fn adopt_stream(st: &mut LoopState, id: HandleId, mut s: mio::net::TcpStream) -> io::Result<()> {
    st.poll.registry().register(
        &mut s,
        mio::Token(id.key),
        mio::Interest::READABLE | mio::Interest::WRITABLE,
    )?;
    if let Some(Kind::Tcp(t)) = st.handles.get_mut(id).map(|h| &mut h.kind) {
        t.socket = Socket::Stream(s);
    }
    Ok(())
}

/// A request on a handle that is closed (or closing) fails as libuv's do, with EBADF:
/// an error value, not a raised error, since a close may race any request.
fn closed(lua: &Lua, this: &LuvHandle) -> Option<Result<MultiValue>> {
    let st = this.state.borrow();
    st.handles
        .get(this.id)
        .is_none()
        .then(|| error_values(lua, "EBADF", "handle is closed"))
}

fn wait(lua: &Lua) -> Result<MultiValue> {
    Value::LightUserData(wait_marker()).into_lua_multi(lua)
}

pub fn add_methods<M: UserDataMethods<LuvHandle>>(methods: &mut M) {
    methods.add_method("bind", |lua, this, (host, port): (String, f64)| {
        let addr = parse_addr("tcp_bind", &host, port_arg("tcp_bind", port)?)?;
        let mut st = this.state.borrow_mut();
        let t = tcp(&mut st, this, "tcp_bind")?;
        if !matches!(t.socket, Socket::New) {
            return error_values(lua, "EINVAL", "socket is already bound or connected");
        }
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .and_then(|s| {
            s.set_reuse_address(true)?;
            s.set_nonblocking(true)?;
            s.bind(&addr.into())?;
            Ok(s)
        });
        match sock {
            Ok(s) => {
                t.socket = Socket::Bound(s);
                true.into_lua_multi(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    methods.add_method(
        "listen",
        |lua, this, (backlog, cb): (Option<i32>, Option<mlua::Function>)| {
            let mut st = this.state.borrow_mut();
            let t = tcp(&mut st, this, "listen")?;
            let Socket::Bound(sock) = std::mem::replace(&mut t.socket, Socket::New) else {
                return error_values(
                    lua,
                    "EINVAL",
                    "listen needs a bound socket (call bind first)",
                );
            };
            if let Err(e) = sock.listen(backlog.unwrap_or(511)) {
                t.socket = Socket::Bound(sock);
                return io_error_values(lua, &e);
            }
            let mut listener = mio::net::TcpListener::from_std(sock.into());
            if let Err(e) = st.poll.registry().register(
                &mut listener,
                mio::Token(this.id.key),
                mio::Interest::READABLE,
            ) {
                return io_error_values(lua, &e);
            }
            let t = tcp(&mut st, this, "listen")?;
            t.socket = Socket::Listener(listener);
            st.reserve_spare_fd();
            let t = tcp(&mut st, this, "listen")?;
            t.listen_cb = cb.map(|f| lua.create_registry_value(f)).transpose()?;
            st.refresh_tcp_active(this.id);
            true.into_lua_multi(lua)
        },
    );

    // luv's accept: move one pending connection into the `client` handle.
    methods.add_method(
        "accept",
        |lua, this, client: mlua::UserDataRef<LuvHandle>| {
            let mut st = this.state.borrow_mut();
            let stream = match next_connection(&mut st, this)? {
                Ok(Some(s)) => s,
                Ok(None) => return error_values(lua, "EAGAIN", "no pending connection"),
                Err(e) => return io_error_values(lua, &e),
            };
            let c = tcp_by_id(&mut st, client.id, client.kind, "accept")?;
            if !matches!(c.socket, Socket::New) {
                return Err(mlua::Error::runtime(
                    "accept: the client handle is already in use",
                ));
            }
            match adopt_stream(&mut st, client.id, stream) {
                Ok(()) => true.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            }
        },
    );

    // Coroutine style: a new connected handle, or WAIT with the caller registered.
    methods.add_method("try_accept", |lua, this, ()| {
        let mut st = this.state.borrow_mut();
        match next_connection(&mut st, this)? {
            Ok(Some(stream)) => {
                let id = st.handles.insert(Kind::Tcp(Box::default()));
                if let Err(e) = adopt_stream(&mut st, id, stream) {
                    st.close(id, None);
                    return io_error_values(lua, &e);
                }
                drop(st);
                LuvHandle::create(lua, &this.state, id, "tcp")?.into_lua_multi(lua)
            }
            Ok(None) => {
                tcp(&mut st, this, "try_accept")?.accept_waiter =
                    Some(lua.create_registry_value(lua.current_thread())?);
                st.refresh_tcp_active(this.id);
                wait(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    methods.add_method(
        "connect",
        |lua, this, (host, port, cb): (String, f64, Value)| {
            if let Some(values) = closed(lua, this) {
                return values;
            }
            let addr = parse_addr("tcp_connect", &host, port_arg("tcp_connect", port)?)?;
            let waker = waker_from(lua, cb, "tcp_connect")?;
            let mut st = this.state.borrow_mut();
            let t = tcp(&mut st, this, "tcp_connect")?;
            let stream = match std::mem::replace(&mut t.socket, Socket::New) {
                Socket::New => mio::net::TcpStream::connect(addr),
                Socket::Bound(sock) => match sock.connect(&addr.into()) {
                    Ok(()) => Ok(mio::net::TcpStream::from_std(sock.into())),
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                        Ok(mio::net::TcpStream::from_std(sock.into()))
                    }
                    Err(e) => Err(e),
                },
                other => {
                    t.socket = other;
                    return error_values(
                        lua,
                        "EISCONN",
                        "socket is already connected or listening",
                    );
                }
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => return io_error_values(lua, &e),
            };
            if let Err(e) = adopt_stream(&mut st, this.id, stream) {
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
            tcp(&mut st, this, "tcp_connect")?.connect_waker = Some(waker);
            st.refresh_tcp_active(this.id);
            if is_thread {
                wait(lua)
            } else {
                true.into_lua_multi(lua)
            }
        },
    );

    methods.add_method("read_start", |lua, this, cb: mlua::Function| {
        let cb = lua.create_registry_value(cb)?;
        let mut st = this.state.borrow_mut();
        let t = tcp(&mut st, this, "read_start")?;
        if !matches!(t.socket, Socket::Stream(_)) {
            return Err(mlua::Error::runtime(
                "read_start: the handle is not a connected stream",
            ));
        }
        t.read_cb = Some(cb);
        // The socket's edge may already have been consumed: look now, from the loop.
        st.pending.push_back(Task::Feed(this.id));
        st.refresh_tcp_active(this.id);
        Ok(0)
    });

    methods.add_method("read_stop", |_, this, ()| {
        let mut st = this.state.borrow_mut();
        tcp(&mut st, this, "read_stop")?.read_cb = None;
        st.refresh_tcp_active(this.id);
        Ok(0)
    });

    // Coroutine style: data, nil at EOF, WAIT (caller registered), or nil, err, code.
    methods.add_method("try_read", |lua, this, ()| {
        let is_tty = matches!(
            this.state.borrow().handles.get(this.id).map(|h| &h.kind),
            Some(Kind::Fd(_))
        );
        if is_tty {
            return super::tty::try_read(lua, &mut this.state.borrow_mut(), this);
        }
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
        let waker = match waker {
            Value::Nil => None,
            Value::Function(f) => Some(Waker::Callback(std::rc::Rc::new(
                lua.create_registry_value(f)?,
            ))),
            Value::Thread(t) => Some(Waker::SharedThread(std::rc::Rc::new(
                lua.create_registry_value(t)?,
            ))),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "set_on_readable: expected a function, a coroutine or nil, got {}",
                    other.type_name()
                )))
            }
        };
        let mut st = this.state.borrow_mut();
        tcp(&mut st, this, "set_on_readable")?.on_readable = waker;
        Ok(())
    });

    // Writes now if nothing is queued: one syscall (writev for a list of strings) and no
    // copy. What the socket does not take is copied into the queue and flushed when it
    // turns writable.
    methods.add_method("write", |lua, this, (data, cb): (Value, Value)| {
        write(lua, this, data, cb, false)
    });

    // The same, but the syscall waits until the running callback returns, so the writes
    // of one callback leave in one syscall (net.Socket writes this way).
    methods.add_method("queue_write", |lua, this, (data, cb): (Value, Value)| {
        write(lua, this, data, cb, true)
    });

    // TLS: switch a connected socket to TLS as the server side (config from
    // native.tls_server_config). The handshake happens with the first reads.
    methods.add_method(
        "tls_server",
        |lua, this, cfg: mlua::UserDataRef<super::tls::TlsServerConfig>| {
            let mut st = this.state.borrow_mut();
            let t = tcp(&mut st, this, "tls_server")?;
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
            let server_name = match rustls::pki_types::ServerName::try_from(name.clone()) {
                Ok(n) => n,
                Err(_) => {
                    return error_values(lua, "EINVAL", &format!("bad TLS server name {name:?}"))
                }
            };
            let mut st = this.state.borrow_mut();
            let t = tcp(&mut st, this, "tls_client")?;
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
        let mut st = this.state.borrow_mut();
        let t = tcp(&mut st, this, "tls_handshake")?;
        let (Socket::Stream(s), Some(conn)) = (&mut t.socket, t.tls.as_deref_mut()) else {
            return error_values(lua, "EINVAL", "not a connected TLS socket");
        };
        match crate::event_loop::tls::handshake_step(s, conn) {
            Ok(true) => true.into_lua_multi(lua),
            Ok(false) => {
                t.read_waiter = Some(Waker::Thread(
                    lua.create_registry_value(lua.current_thread())?,
                ));
                st.refresh_tcp_active(this.id);
                wait(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    // What the handshake settled: { alpn, servername, protocol, peerCertificate (DER) }.
    methods.add_method("tls_info", |lua, this, ()| {
        let mut st = this.state.borrow_mut();
        let t = tcp(&mut st, this, "tls_info")?;
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
        let mut st = this.state.borrow_mut();
        let t = tcp(&mut st, this, "write_queue_size")?;
        Ok(t.queued_bytes())
    });

    methods.add_method("shutdown", |lua, this, cb: Value| {
        if let Some(values) = closed(lua, this) {
            return values;
        }
        let waker = waker_from(lua, cb, "shutdown")?;
        let mut st = this.state.borrow_mut();
        let t = tcp(&mut st, this, "shutdown")?;
        let Socket::Stream(s) = &mut t.socket else {
            return error_values(lua, "ENOTCONN", "socket is not connected");
        };
        if t.writes.is_empty() && t.connect_waker.is_none() {
            if let Some(conn) = t.tls.as_deref_mut() {
                conn.send_close_notify();
                let _ = crate::event_loop::tls::flush_tls(s, conn);
            }
            let res = s.shutdown(std::net::Shutdown::Write);
            if let Err(e) = res {
                return io_error_values(lua, &e);
            }
            if let Some(w @ Waker::Callback(_)) = waker {
                st.pending.push_back(Task::Wake(w, MultiValue::new()));
            }
            return true.into_lua_multi(lua);
        }
        let is_thread = matches!(waker, Some(Waker::Thread(_)));
        t.shutdown = Some(waker);
        st.refresh_tcp_active(this.id);
        if is_thread {
            wait(lua)
        } else {
            true.into_lua_multi(lua)
        }
    });

    methods.add_method("nodelay", |lua, this, on: bool| {
        if let Some(values) = closed(lua, this) {
            return values;
        }
        let mut st = this.state.borrow_mut();
        match &tcp(&mut st, this, "tcp_nodelay")?.socket {
            Socket::Stream(s) => match s.set_nodelay(on) {
                Ok(()) => true.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            },
            _ => error_values(lua, "ENOTCONN", "socket is not connected"),
        }
    });

    methods.add_method(
        "keepalive",
        |lua, this, (on, delay): (bool, Option<u64>)| {
            if let Some(values) = closed(lua, this) {
                return values;
            }
            let mut st = this.state.borrow_mut();
            match &tcp(&mut st, this, "tcp_keepalive")?.socket {
                Socket::Stream(s) => {
                    let sock = socket2::SockRef::from(s);
                    let res = if on {
                        let ka = socket2::TcpKeepalive::new()
                            .with_time(std::time::Duration::from_secs(delay.unwrap_or(60)));
                        sock.set_tcp_keepalive(&ka)
                    } else {
                        sock.set_keepalive(false)
                    };
                    match res {
                        Ok(()) => true.into_lua_multi(lua),
                        Err(e) => io_error_values(lua, &e),
                    }
                }
                _ => error_values(lua, "ENOTCONN", "socket is not connected"),
            }
        },
    );

    methods.add_method("getsockname", |lua, this, ()| {
        let mut st = this.state.borrow_mut();
        let addr = match &tcp(&mut st, this, "tcp_getsockname")?.socket {
            Socket::Stream(s) => s.local_addr(),
            Socket::Listener(l) => l.local_addr(),
            Socket::Bound(s) => s.local_addr().and_then(|a| {
                a.as_socket()
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
            }),
            Socket::New => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        addr_table(lua, addr)
    });

    methods.add_method("getpeername", |lua, this, ()| {
        let mut st = this.state.borrow_mut();
        let addr = match &tcp(&mut st, this, "tcp_getpeername")?.socket {
            Socket::Stream(s) => s.peer_addr(),
            _ => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        };
        addr_table(lua, addr)
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
        Ok(Written::Done) => (true, 0).into_lua_multi(lua),
        // The second result is how much is now queued, so writers can apply
        // backpressure without another call.
        Ok(Written::Queued(_)) if is_thread => wait(lua),
        Ok(Written::Queued(queued)) => (true, queued).into_lua_multi(lua),
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
    let LoopState {
        handles, read_buf, ..
    } = &mut *st;
    let t = match handles.get_mut(this.id).map(|h| &mut h.kind) {
        Some(Kind::Tcp(t)) => t,
        Some(_) => {
            return Err(mlua::Error::runtime(format!(
                "{method}: expected a tcp handle, got {}",
                this.kind
            )))
        }
        None => return error_values(lua, "EBADF", "handle is closed"),
    };
    match read_once(t, read_buf) {
        ReadOnce::Data(n) => return deliver(lua, &read_buf[..n]),
        ReadOnce::Eof => return Value::Nil.into_lua_multi(lua),
        ReadOnce::Failed(e) => return io_error_values(lua, &e),
        ReadOnce::WouldBlock => {}
    }
    t.read_waiter = Some(match on_readable {
        Some(f) => Waker::Callback(std::rc::Rc::new(lua.create_registry_value(f)?)),
        None => Waker::Thread(lua.create_registry_value(lua.current_thread())?),
    });
    st.refresh_tcp_active(this.id);
    wait(lua)
}

/// The next accepted connection, from the listener's queue (which `accept_all`
/// fills, on readiness or now).
fn next_connection(
    st: &mut LoopState,
    this: &LuvHandle,
) -> Result<io::Result<Option<mio::net::TcpStream>>> {
    let t = tcp(st, this, "accept")?;
    if !matches!(t.socket, Socket::Listener(_)) {
        return Err(mlua::Error::runtime("accept: the handle is not listening"));
    }
    if t.accepted.is_empty() {
        st.accept_all(this.id);
    }
    Ok(Ok(tcp(st, this, "accept")?.accepted.pop_front()))
}

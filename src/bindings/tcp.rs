//! TCP handles: `uv.new_tcp()`, then bind + listen + accept, or connect.
//!
//! A tcp handle is a stream (bindings/stream.rs has read, write, listen, accept,
//! shutdown and TLS); this file adds what only TCP has: IP addresses and ports, and
//! TCP's socket options.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mlua::{AnyUserData, IntoLuaMulti, Lua, MultiValue, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv};
use super::stream::{closed, start_connect, stream};
use crate::event_loop::errors::{error_values, io_error_values};
use crate::event_loop::io::waker_from;
use crate::event_loop::stream::{Stream, Transport};
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_tcp_t`.
    Tcp,
    "tcp"
);

impl UserData for Tcp {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        super::stream::add_methods(methods);
        add_methods(methods);
    }
}

pub fn new_tcp(lua: &Lua, state: &SharedState) -> Result<AnyUserData> {
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Stream(Box::new(Stream::new("tcp"))));
    Tcp::create(lua, state, id)
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

pub fn port_arg(method: &str, port: f64) -> Result<u16> {
    if port.fract() != 0.0 || !(0.0..=65535.0).contains(&port) {
        return Err(mlua::Error::runtime(format!(
            "{method}: port must be an integer from 0 to 65535, got {port}"
        )));
    }
    Ok(port as u16)
}

pub fn addr_table(lua: &Lua, addr: io::Result<SocketAddr>) -> Result<MultiValue> {
    match addr {
        Ok(a) => crate::event_loop::io::addr_table(lua, a)?.into_lua_multi(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

fn add_methods<M: UserDataMethods<Tcp>>(methods: &mut M) {
    methods.add_method("bind", |lua, this, (host, port): (String, f64)| {
        let this = this.handle();
        let addr = parse_addr("tcp_bind", &host, port_arg("tcp_bind", port)?)?;
        let mut st = this.state.borrow_mut();
        let t = stream(&mut st, this, "tcp_bind")?;
        if !matches!(t.transport, Transport::New) {
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
                t.transport = Transport::Bound(s);
                true.into_lua_multi(lua)
            }
            Err(e) => io_error_values(lua, &e),
        }
    });

    methods.add_method(
        "connect",
        |lua, this, (host, port, cb): (String, f64, Value)| {
            let this = this.handle();
            if let Some(values) = closed(lua, this) {
                return values;
            }
            let addr = parse_addr("tcp_connect", &host, port_arg("tcp_connect", port)?)?;
            let waker = waker_from(lua, cb, "tcp_connect")?;
            let mut st = this.state.borrow_mut();
            let t = stream(&mut st, this, "tcp_connect")?;
            let stream = match std::mem::replace(&mut t.transport, Transport::New) {
                Transport::New => mio::net::TcpStream::connect(addr),
                Transport::Bound(sock) => match sock.connect(&addr.into()) {
                    Ok(()) => Ok(mio::net::TcpStream::from_std(sock.into())),
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                        Ok(mio::net::TcpStream::from_std(sock.into()))
                    }
                    Err(e) => Err(e),
                },
                other => {
                    t.transport = other;
                    return error_values(
                        lua,
                        "EISCONN",
                        "socket is already connected or listening",
                    );
                }
            };
            match stream {
                Ok(s) => start_connect(lua, &mut st, this, Transport::Tcp(s), waker),
                Err(e) => io_error_values(lua, &e),
            }
        },
    );

    methods.add_method("nodelay", |lua, this, on: bool| {
        let this = this.handle();
        if let Some(values) = closed(lua, this) {
            return values;
        }
        let mut st = this.state.borrow_mut();
        match &stream(&mut st, this, "tcp_nodelay")?.transport {
            Transport::Tcp(s) => match s.set_nodelay(on) {
                Ok(()) => true.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            },
            _ => error_values(lua, "ENOTCONN", "socket is not connected"),
        }
    });

    methods.add_method(
        "keepalive",
        |lua, this, (on, delay): (bool, Option<u64>)| {
            let this = this.handle();
            if let Some(values) = closed(lua, this) {
                return values;
            }
            let mut st = this.state.borrow_mut();
            match &stream(&mut st, this, "tcp_keepalive")?.transport {
                Transport::Tcp(s) => {
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
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let addr = match &stream(&mut st, this, "tcp_getsockname")?.transport {
            Transport::Tcp(s) => s.local_addr(),
            Transport::TcpListener(l) => l.local_addr(),
            Transport::Bound(s) => s.local_addr().and_then(|a| {
                a.as_socket()
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
            }),
            _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        addr_table(lua, addr)
    });

    methods.add_method("getpeername", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let addr = match &stream(&mut st, this, "tcp_getpeername")?.transport {
            Transport::Tcp(s) => s.peer_addr(),
            _ => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        };
        addr_table(lua, addr)
    });
}

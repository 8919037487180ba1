//! UDP handles: `uv.new_udp([family])`, then bind, send, recv_start, and the socket
//! options (broadcast, TTL, multicast), as luv has them. The loop's side is
//! event_loop/udp.rs.
//!
//!   local u = uv.new_udp()
//!   u:bind("127.0.0.1", 0)
//!   u:recv_start(function(err, data, addr) p(data, addr.ip, addr.port) end)
//!   u:send("hi", "127.0.0.1", port, function(err) end)

use std::net::{IpAddr, SocketAddr};

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv, LuvHandle};
use super::stream::{closed, wait};
use super::tcp::{addr_table, parse_addr, port_arg};
use crate::event_loop::errors::{error_values, io_error_values};
use crate::event_loop::io::waker_from;
use crate::event_loop::udp::{Recv, Udp};
use crate::event_loop::waker::Waker;
use crate::event_loop::Kind;
use crate::event_loop::{LoopState, SharedState, Task};

luv_kind!(
    /// `uv_udp_t`.
    UdpHandle,
    "udp"
);

pub fn new_udp(lua: &Lua, state: &SharedState) -> Result<mlua::AnyUserData> {
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Udp(Box::default()));
    UdpHandle::create(lua, state, id)
}

fn udp<'a>(st: &'a mut LoopState, this: &LuvHandle, method: &str) -> Result<&'a mut Udp> {
    st.udp(this.id).ok_or_else(|| this.closed(method))
}

/// Makes the socket, bound to `addr`, and registers it.
fn bind_to(
    st: &mut LoopState,
    this: &LuvHandle,
    addr: SocketAddr,
    reuse: bool,
    v6only: bool,
) -> std::io::Result<()> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    sock.set_nonblocking(true)?;
    if reuse {
        sock.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(v6only)?;
    }
    sock.bind(&addr.into())?;
    let mut s = mio::net::UdpSocket::from_std(sock.into());
    st.registry().register(
        &mut s,
        mio::Token(this.id.key),
        mio::Interest::READABLE | mio::Interest::WRITABLE,
    )?;
    if let Some(u) = st.udp(this.id) {
        u.socket = Some(s);
    }
    Ok(())
}

/// Binds an unbound socket to an ephemeral port of `to`'s family (before a send).
fn ensure_bound(
    st: &mut LoopState,
    this: &LuvHandle,
    to: Option<SocketAddr>,
) -> std::io::Result<()> {
    if st.udp(this.id).is_some_and(|u| u.socket.is_some()) {
        return Ok(());
    }
    let any: IpAddr = match to {
        Some(a) if a.is_ipv6() => std::net::Ipv6Addr::UNSPECIFIED.into(),
        _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
    };
    bind_to(st, this, SocketAddr::new(any, 0), false, false)
}

/// The socket, as socket2 sees it, for an option.
fn with_socket<T>(
    lua: &Lua,
    this: &LuvHandle,
    method: &str,
    f: impl FnOnce(socket2::SockRef) -> std::io::Result<T>,
) -> Result<MultiValue> {
    let mut st = this.state.borrow_mut();
    let u = udp(&mut st, this, method)?;
    let Some(s) = &u.socket else {
        return error_values(lua, "EBADF", "socket is not bound");
    };
    match f(socket2::SockRef::from(s)) {
        Ok(_) => 0.into_lua_multi(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

fn send(
    lua: &Lua,
    this: &LuvHandle,
    data: Value,
    host: Value,
    port: Value,
    cb: Value,
) -> Result<MultiValue> {
    if let Some(values) = closed(lua, this) {
        return values;
    }
    let bytes: Vec<u8> = match data {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Table(t) => {
            let mut out = Vec::new();
            for part in t.sequence_values::<mlua::LuaString>() {
                out.extend_from_slice(&part?.as_bytes());
            }
            out
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "udp_send: data must be a string or a list of strings, got {}",
                other.type_name()
            )))
        }
    };
    let to = match (host, port) {
        (Value::Nil, Value::Nil) => None,
        (Value::String(h), Value::Integer(p)) => Some(parse_addr(
            "udp_send",
            &h.to_str()?,
            port_arg("udp_send", p as f64)?,
        )?),
        (Value::String(h), Value::Number(p)) => Some(parse_addr(
            "udp_send",
            &h.to_str()?,
            port_arg("udp_send", p)?,
        )?),
        _ => {
            return Err(mlua::Error::runtime(
                "udp_send: expected a host (string) and a port",
            ))
        }
    };
    let waker = waker_from(lua, cb, "udp_send")?;
    let is_thread = matches!(waker, Some(Waker::Thread(_)));
    let mut st = this.state.borrow_mut();
    if let Err(e) = ensure_bound(&mut st, this, to) {
        return io_error_values(lua, &e);
    }
    let sent = udp(&mut st, this, "udp_send")?.send(&bytes, to, waker);
    st.refresh_udp_active(this.id);
    match sent {
        Ok((true, waker)) => {
            if let Some(w @ Waker::Callback(_)) = waker {
                st.defer(Task::Wake(w, MultiValue::new()));
            }
            0.into_lua_multi(lua)
        }
        Ok((false, _)) if is_thread => wait(lua),
        Ok((false, _)) => 0.into_lua_multi(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

impl UserData for UdpHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        methods.add_method(
            "bind",
            |lua, this, (host, port, flags): (String, f64, Option<Table>)| {
                let this = this.handle();
                let addr = parse_addr("udp_bind", &host, port_arg("udp_bind", port)?)?;
                let reuse = flags
                    .as_ref()
                    .map(|f| f.get::<Option<bool>>("reuseaddr"))
                    .transpose()?
                    .flatten()
                    .unwrap_or(false);
                let v6only = flags
                    .as_ref()
                    .map(|f| f.get::<Option<bool>>("ipv6only"))
                    .transpose()?
                    .flatten()
                    .unwrap_or(false);
                let mut st = this.state.borrow_mut();
                if udp(&mut st, this, "udp_bind")?.socket.is_some() {
                    return error_values(lua, "EINVAL", "socket is already bound");
                }
                match bind_to(&mut st, this, addr, reuse, v6only) {
                    Ok(()) => 0.into_lua_multi(lua),
                    Err(e) => io_error_values(lua, &e),
                }
            },
        );
        methods.add_method("connect", |lua, this, (host, port): (String, f64)| {
            let this = this.handle();
            let addr = parse_addr("udp_connect", &host, port_arg("udp_connect", port)?)?;
            let mut st = this.state.borrow_mut();
            if let Err(e) = ensure_bound(&mut st, this, Some(addr)) {
                return io_error_values(lua, &e);
            }
            let u = udp(&mut st, this, "udp_connect")?;
            match u.socket.as_ref().expect("bound above").connect(addr) {
                Ok(()) => 0.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            }
        });
        methods.add_method(
            "send",
            |lua, this, (data, host, port, cb): (Value, Value, Value, Value)| {
                // (On a connected socket: send(data, cb).)
                let (host, port, cb) = match host {
                    Value::Function(_) | Value::Thread(_) => (Value::Nil, Value::Nil, host),
                    _ => (host, port, cb),
                };
                send(lua, this.handle(), data, host, port, cb)
            },
        );
        methods.add_method(
            "try_send",
            |lua, this, (data, host, port): (Value, Value, Value)| {
                send(lua, this.handle(), data, host, port, Value::Nil)
            },
        );
        methods.add_method("recv_start", |lua, this, cb: mlua::Function| {
            let this = this.handle();
            let cb = lua.create_registry_value(cb)?;
            let mut st = this.state.borrow_mut();
            if let Err(e) = ensure_bound(&mut st, this, None) {
                return io_error_values(lua, &e);
            }
            udp(&mut st, this, "udp_recv_start")?.recv_cb = Some(cb);
            st.refresh_udp_active(this.id);
            // Datagrams may already wait (their edge consumed): look from the loop.
            st.defer(Task::Feed(this.id));
            0.into_lua_multi(lua)
        });
        methods.add_method("recv_stop", |_, this, ()| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            if let Some(u) = st.udp(this.id) {
                u.recv_cb = None;
            }
            st.refresh_udp_active(this.id);
            Ok(0)
        });
        // Coroutine style: data, addr; or WAIT with the caller registered.
        methods.add_method("try_recv", |lua, this, ()| {
            let this = this.handle();
            if let Some(values) = closed(lua, this) {
                return values;
            }
            let mut st = this.state.borrow_mut();
            let Some((Kind::Udp(u), read_buf)) = st.kind_and_read_buf(this.id) else {
                return Err(this.closed("udp_try_recv"));
            };
            match u.recv_once(read_buf) {
                Recv::Datagram(n, from) => (
                    lua.create_string(&read_buf[..n])?,
                    crate::event_loop::io::addr_table(lua, from)?,
                )
                    .into_lua_multi(lua),
                Recv::WouldBlock => {
                    u.recv_waiter = Some(Waker::Thread(
                        lua.create_registry_value(lua.current_thread())?,
                    ));
                    st.refresh_udp_active(this.id);
                    wait(lua)
                }
                Recv::Failed(e) => io_error_values(lua, &e),
            }
        });
        methods.add_method("set_broadcast", |lua, this, on: bool| {
            with_socket(lua, this.handle(), "udp_set_broadcast", |s| {
                s.set_broadcast(on)
            })
        });
        methods.add_method("set_ttl", |lua, this, ttl: u32| {
            with_socket(lua, this.handle(), "udp_set_ttl", |s| s.set_ttl_v4(ttl))
        });
        methods.add_method("set_multicast_ttl", |lua, this, ttl: u32| {
            with_socket(lua, this.handle(), "udp_set_multicast_ttl", |s| {
                s.set_multicast_ttl_v4(ttl)
            })
        });
        methods.add_method("set_multicast_loop", |lua, this, on: bool| {
            with_socket(lua, this.handle(), "udp_set_multicast_loop", |s| {
                s.set_multicast_loop_v4(on)
            })
        });
        methods.add_method("set_multicast_interface", |lua, this, iface: String| {
            let ip: std::net::Ipv4Addr = iface.parse().map_err(|_| {
                mlua::Error::runtime(format!(
                    "udp_set_multicast_interface: bad address {iface:?}"
                ))
            })?;
            with_socket(lua, this.handle(), "udp_set_multicast_interface", |s| {
                s.set_multicast_if_v4(&ip)
            })
        });
        methods.add_method(
            "set_membership",
            |lua, this, (group, iface, what): (String, Option<String>, String)| {
                let group: IpAddr = group.parse().map_err(|_| {
                    mlua::Error::runtime(format!("udp_set_membership: bad group {group:?}"))
                })?;
                let join = match what.as_str() {
                    "join" => true,
                    "leave" => false,
                    _ => {
                        return Err(mlua::Error::runtime(
                            "udp_set_membership: expected \"join\" or \"leave\"",
                        ))
                    }
                };
                with_socket(lua, this.handle(), "udp_set_membership", |s| match group {
                    IpAddr::V4(g) => {
                        let i: std::net::Ipv4Addr = iface
                            .as_deref()
                            .and_then(|i| i.parse().ok())
                            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                        if join {
                            s.join_multicast_v4(&g, &i)
                        } else {
                            s.leave_multicast_v4(&g, &i)
                        }
                    }
                    IpAddr::V6(g) => {
                        if join {
                            s.join_multicast_v6(&g, 0)
                        } else {
                            s.leave_multicast_v6(&g, 0)
                        }
                    }
                })
            },
        );
        methods.add_method("getsockname", |lua, this, ()| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            let u = udp(&mut st, this, "udp_getsockname")?;
            match &u.socket {
                Some(s) => addr_table(lua, s.local_addr()),
                None => error_values(lua, "EBADF", "socket is not bound"),
            }
        });
        methods.add_method("getpeername", |lua, this, ()| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            let u = udp(&mut st, this, "udp_getpeername")?;
            match &u.socket {
                Some(s) => addr_table(lua, s.peer_addr()),
                None => error_values(lua, "ENOTCONN", "socket is not connected"),
            }
        });
        methods.add_method("get_send_queue_size", |_, this, ()| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            Ok(udp(&mut st, this, "udp_get_send_queue_size")?.queued_bytes())
        });
        methods.add_method("get_send_queue_count", |_, this, ()| {
            let this = this.handle();
            let mut st = this.state.borrow_mut();
            Ok(udp(&mut st, this, "udp_get_send_queue_count")?.sends.len())
        });
    }
}

//! `uv.getaddrinfo` and `uv.getnameinfo`: the C library's resolver, on the thread
//! pool (with a callback or a coroutine) or at once (with neither), as luv has them.
//!
//!   uv.getaddrinfo(host, service, { family = "inet", socktype = "stream" }, cb)
//!     cb(err, { { addr = "127.0.0.1", family = "inet", port = 80,
//!                 socktype = "stream", protocol = "tcp" }, ... })
//!   uv.getnameinfo({ ip = "127.0.0.1", port = 80 }, cb)  -- cb(err, host, service)

use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use super::req::{self, Outcome};
use crate::event_loop::errors::Failure;
use crate::event_loop::SharedState;

/// One address getaddrinfo found.
struct Found {
    addr: SocketAddr,
    socktype: i32,
    protocol: i32,
    canonname: Option<String>,
}

/// libuv's name and message for a getaddrinfo error.
fn eai_failure(code: i32) -> Failure {
    let name = match code {
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_BADFLAGS => "EAI_BADFLAGS",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_NONAME => "EAI_NONAME",
        libc::EAI_SERVICE => "EAI_SERVICE",
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE",
        libc::EAI_OVERFLOW => "EAI_OVERFLOW",
        _ => "EAI_FAIL",
    };
    // SAFETY: gai_strerror returns a static string.
    let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
        .to_string_lossy()
        .to_lowercase();
    Failure {
        code: name,
        message,
    }
}

fn family_number(name: &str) -> Option<i32> {
    Some(match name {
        "inet" | "ipv4" => libc::AF_INET,
        "inet6" | "ipv6" => libc::AF_INET6,
        "unix" => libc::AF_UNIX,
        "unspec" | "" => libc::AF_UNSPEC,
        _ => return None,
    })
}

fn socktype_number(name: &str) -> Option<i32> {
    Some(match name {
        "stream" => libc::SOCK_STREAM,
        "dgram" => libc::SOCK_DGRAM,
        "raw" => libc::SOCK_RAW,
        _ => return None,
    })
}

fn socktype_name(n: i32) -> &'static str {
    match n {
        libc::SOCK_STREAM => "stream",
        libc::SOCK_DGRAM => "dgram",
        libc::SOCK_RAW => "raw",
        _ => "unknown",
    }
}

fn protocol_name(n: i32) -> Option<&'static str> {
    match n {
        libc::IPPROTO_TCP => Some("tcp"),
        libc::IPPROTO_UDP => Some("udp"),
        _ => None,
    }
}

/// The hints luv takes: { family, socktype, protocol, addrconfig, v4mapped, all,
/// numerichost, passive, numericserv, canonname }.
fn hints(t: Option<Table>) -> Result<libc::addrinfo> {
    // SAFETY: an all-zero addrinfo is the "no hints" value.
    let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
    let Some(t) = t else { return Ok(h) };
    match t.get::<Value>("family")? {
        Value::Nil => {}
        Value::String(s) => {
            let name = s.to_str()?.to_string();
            h.ai_family = family_number(&name).ok_or_else(|| {
                mlua::Error::runtime(format!("getaddrinfo: unknown family {name:?}"))
            })?;
        }
        Value::Integer(n) => h.ai_family = n as i32,
        other => {
            return Err(mlua::Error::runtime(format!(
                "getaddrinfo: family must be a string, got {}",
                other.type_name()
            )))
        }
    }
    if let Some(s) = t.get::<Option<String>>("socktype")? {
        h.ai_socktype = socktype_number(&s)
            .ok_or_else(|| mlua::Error::runtime(format!("getaddrinfo: unknown socktype {s:?}")))?;
    }
    if let Some(p) = t.get::<Option<String>>("protocol")? {
        h.ai_protocol = match p.as_str() {
            "tcp" => libc::IPPROTO_TCP,
            "udp" => libc::IPPROTO_UDP,
            _ => {
                return Err(mlua::Error::runtime(format!(
                    "getaddrinfo: unknown protocol {p:?}"
                )))
            }
        };
    }
    for (key, flag) in [
        ("addrconfig", libc::AI_ADDRCONFIG),
        ("v4mapped", libc::AI_V4MAPPED),
        ("all", libc::AI_ALL),
        ("numerichost", libc::AI_NUMERICHOST),
        ("passive", libc::AI_PASSIVE),
        ("numericserv", libc::AI_NUMERICSERV),
        ("canonname", libc::AI_CANONNAME),
    ] {
        if t.get::<Option<bool>>(key)?.unwrap_or(false) {
            h.ai_flags |= flag;
        }
    }
    Ok(h)
}

/// getaddrinfo(3), on whichever thread calls it.
fn lookup(
    host: Option<CString>,
    service: Option<CString>,
    hints: libc::addrinfo,
) -> std::result::Result<Vec<Found>, Failure> {
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: the strings and hints outlive the call; the list is walked read-only
    // and freed once.
    unsafe {
        let rc = libc::getaddrinfo(
            host.as_ref().map_or(std::ptr::null(), |h| h.as_ptr()),
            service.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            &hints,
            &mut res,
        );
        if rc != 0 {
            return Err(if rc == libc::EAI_SYSTEM {
                Failure::from_io(&std::io::Error::last_os_error())
            } else {
                eai_failure(rc)
            });
        }
        let mut found = Vec::new();
        let mut cur = res;
        while !cur.is_null() {
            let ai = &*cur;
            cur = ai.ai_next;
            let addr = match ai.ai_family {
                libc::AF_INET => {
                    let a = &*(ai.ai_addr as *const libc::sockaddr_in);
                    SocketAddr::new(
                        IpAddr::V4(u32::from_be(a.sin_addr.s_addr).into()),
                        u16::from_be(a.sin_port),
                    )
                }
                libc::AF_INET6 => {
                    let a = &*(ai.ai_addr as *const libc::sockaddr_in6);
                    SocketAddr::new(
                        IpAddr::V6(a.sin6_addr.s6_addr.into()),
                        u16::from_be(a.sin6_port),
                    )
                }
                _ => continue,
            };
            let canonname = (!ai.ai_canonname.is_null()).then(|| {
                CStr::from_ptr(ai.ai_canonname)
                    .to_string_lossy()
                    .into_owned()
            });
            found.push(Found {
                addr,
                socktype: ai.ai_socktype,
                protocol: ai.ai_protocol,
                canonname,
            });
        }
        libc::freeaddrinfo(res);
        Ok(found)
    }
}

fn found_table(lua: &Lua, found: Vec<Found>) -> Result<Outcome> {
    let list = lua.create_table()?;
    for (i, f) in found.into_iter().enumerate() {
        let t = lua.create_table()?;
        t.set("addr", f.addr.ip().to_string())?;
        t.set("family", if f.addr.is_ipv4() { "inet" } else { "inet6" })?;
        t.set("port", f.addr.port())?;
        t.set("socktype", socktype_name(f.socktype))?;
        if let Some(p) = protocol_name(f.protocol) {
            t.set("protocol", p)?;
        }
        if let Some(c) = f.canonname {
            t.set("canonname", c)?;
        }
        list.raw_set(i + 1, t)?;
    }
    Ok(Ok(list.into_lua_multi(lua)?))
}

fn c_arg(what: &str, v: Value) -> Result<Option<CString>> {
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => CString::new(s.as_bytes().to_vec())
            .map(Some)
            .map_err(|_| mlua::Error::runtime(format!("getaddrinfo: {what} contains a NUL byte"))),
        Value::Integer(n) => Ok(Some(CString::new(n.to_string()).expect("digits"))),
        Value::Number(n) => Ok(Some(CString::new((n as i64).to_string()).expect("digits"))),
        other => Err(mlua::Error::runtime(format!(
            "getaddrinfo: {what} must be a string, got {}",
            other.type_name()
        ))),
    }
}

/// `uv.getaddrinfo(host, service, hints, [callback])`.
pub fn getaddrinfo(lua: &Lua, state: &SharedState, args: MultiValue) -> Result<MultiValue> {
    let (args, waker) = req::split_callback(lua, "getaddrinfo", args)?;
    let mut args = args.into_iter();
    let host = c_arg("host", args.next().unwrap_or(Value::Nil))?;
    let service = c_arg("service", args.next().unwrap_or(Value::Nil))?;
    if host.is_none() && service.is_none() {
        return Err(mlua::Error::runtime(
            "getaddrinfo: a host or a service is required",
        ));
    }
    let hints = hints(match args.next() {
        Some(Value::Table(t)) => Some(t),
        Some(Value::Nil) | None => None,
        Some(other) => {
            return Err(mlua::Error::runtime(format!(
                "getaddrinfo: hints must be a table, got {}",
                other.type_name()
            )))
        }
    })?;
    // (addrinfo holds raw pointers, so it is not Send: the work gets its fields.)
    let (flags, family, socktype, protocol) = (
        hints.ai_flags,
        hints.ai_family,
        hints.ai_socktype,
        hints.ai_protocol,
    );
    req::run(
        lua,
        state,
        waker,
        move || {
            // SAFETY: an all-zero addrinfo, then the four fields hints may set.
            let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
            (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol) =
                (flags, family, socktype, protocol);
            lookup(host, service, h)
        },
        |lua, found| match found {
            Ok(found) => found_table(lua, found),
            Err(f) => Ok(Err(f)),
        },
    )
}

/// `uv.getnameinfo({ ip, port, family }, [callback])`: host, service.
pub fn getnameinfo(lua: &Lua, state: &SharedState, args: MultiValue) -> Result<MultiValue> {
    let (args, waker) = req::split_callback(lua, "getnameinfo", args)?;
    let Some(Value::Table(t)) = args.into_iter().next() else {
        return Err(mlua::Error::runtime(
            "getnameinfo: expected an address table { ip, port }",
        ));
    };
    let ip: String = t
        .get::<Option<String>>("ip")?
        .unwrap_or_else(|| "0.0.0.0".into());
    let port: u16 = t.get::<Option<u16>>("port")?.unwrap_or(0);
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| mlua::Error::runtime(format!("getnameinfo: bad ip {ip:?}")))?;
    let addr = SocketAddr::new(ip, port);
    req::run(
        lua,
        state,
        waker,
        move || {
            let sa = socket2::SockAddr::from(addr);
            let mut host = [0 as libc::c_char; 1025];
            let mut serv = [0 as libc::c_char; 32];
            // SAFETY: the buffers' lengths are passed with them.
            let rc = unsafe {
                libc::getnameinfo(
                    sa.as_ptr().cast(),
                    sa.len(),
                    host.as_mut_ptr(),
                    host.len() as u32,
                    serv.as_mut_ptr(),
                    serv.len() as u32,
                    0,
                )
            };
            if rc != 0 {
                return Err(eai_failure(rc));
            }
            // SAFETY: getnameinfo NUL-terminates both on success.
            unsafe {
                Ok((
                    CStr::from_ptr(host.as_ptr()).to_string_lossy().into_owned(),
                    CStr::from_ptr(serv.as_ptr()).to_string_lossy().into_owned(),
                ))
            }
        },
        |lua, res| match res {
            Ok((host, serv)) => Ok(Ok((host, serv).into_lua_multi(lua)?)),
            Err(f) => Ok(Err(f)),
        },
    )
}

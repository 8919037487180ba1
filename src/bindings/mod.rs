//! What Lua sees of the loop: the `native` table handed to lua_lib/init.lua.
//!
//! lua_lib/uv.lua turns it into the public `uv` module (luv's names); the other
//! entries serve lua_lib's own modules (process, json, the loader).
//!
//! No binding here ever calls Lua: a binding that has to report something later queues
//! a `Task` and returns.

pub mod dns;
pub mod fast;
pub mod fs;
pub mod handle;
pub mod http;
pub mod json;
pub mod os;
pub mod phase;
pub mod pipe;
pub mod process;
pub mod req;
pub mod signal;
pub mod stream;
pub mod tcp;
pub mod thread;
pub mod timer;
pub mod tls;
pub mod tty;
pub mod udp;
pub mod watch;
pub mod zlib;

use mlua::{Function, IntoLuaMulti, LightUserData, Lua, Result, Table, Value};

use crate::event_loop::errors;
use crate::event_loop::phases::Phase;
use crate::event_loop::scheduler::{done_marker, run_marker, tick_marker, wait_marker};
use crate::event_loop::{SharedState, Task};
use handle::Luv;

pub fn native_table(lua: &Lua, state: &SharedState) -> Result<Table> {
    let n = lua.create_table()?;
    n.set("WAIT", Value::LightUserData(wait_marker()))?;
    n.set("DONE", Value::LightUserData(done_marker()))?;
    n.set("RUN", Value::LightUserData(run_marker()))?;
    n.set("TICK", Value::LightUserData(tick_marker()))?;
    n.set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;

    let st = state.clone();
    n.set(
        "new_timer",
        lua.create_function(move |lua, ()| timer::new_timer(lua, &st))?,
    )?;
    let st = state.clone();
    n.set(
        "new_tcp",
        lua.create_function(move |lua, _family: Option<String>| tcp::new_tcp(lua, &st))?,
    )?;
    n.set(
        "tty_reset_mode",
        lua.create_function(|_, ()| {
            tty::reset_mode();
            Ok(())
        })?,
    )?;
    let st = state.clone();
    n.set(
        "new_tty",
        lua.create_function(move |lua, (fd, _readable): (i32, Option<bool>)| {
            tty::new_tty(lua, &st, fd)
        })?,
    )?;
    n.set(
        "guess_handle",
        lua.create_function(|_, fd: i32| Ok(tty::guess_handle(fd)))?,
    )?;

    os::install_core(lua, &n)?;
    let st = state.clone();
    n.set(
        "load",
        lua.create_function(move |lua, (n, group): (Table, String)| {
            install_group(lua, &n, &st, &group)
        })?,
    )?;
    // now, tcp_queue_write, http_next: raw C functions for the hot path.
    fast::install(lua, &n, state)?;
    let st = state.clone();
    n.set(
        "update_time",
        lua.create_function(move |_, ()| {
            st.borrow_mut().update_time();
            Ok(())
        })?,
    )?;
    let st = state.clone();
    n.set(
        "stop",
        lua.create_function(move |_, ()| {
            st.borrow_mut().stop();
            Ok(())
        })?,
    )?;
    let st = state.clone();
    n.set(
        "handles",
        lua.create_function(move |lua, ()| {
            let list: Vec<_> = {
                let s = st.borrow();
                s.handles()
                    .ids()
                    .into_iter()
                    .filter_map(|id| s.handles().get_any(id).map(|h| (id, h.kind.name())))
                    .collect()
            };
            let t = lua.create_table()?;
            for (i, (id, kind)) in list.into_iter().enumerate() {
                let ud = match kind {
                    "tcp" => tcp::Tcp::create(lua, &st, id)?,
                    "pipe" => pipe::Pipe::create(lua, &st, id)?,
                    "tty" => tty::Tty::create(lua, &st, id)?,
                    "idle" => phase::Idle::create(lua, &st, id)?,
                    "prepare" => phase::Prepare::create(lua, &st, id)?,
                    "check" => phase::Check::create(lua, &st, id)?,
                    "signal" => signal::Signal::create(lua, &st, id)?,
                    "udp" => udp::UdpHandle::create(lua, &st, id)?,
                    "async" => thread::Async::create(lua, &st, id)?,
                    "poll" => watch::Poll::create(lua, &st, id)?,
                    "fs_event" => watch::FsEvent::create(lua, &st, id)?,
                    "process" => process::Process::create(lua, &st, id)?,
                    _ => timer::Timer::create(lua, &st, id)?,
                };
                t.raw_set(i + 1, ud)?;
            }
            Ok(t)
        })?,
    )?;
    // Both keep the callback and its one argument in the registry (see LuaRef): a
    // script may queue a million of them.
    let st = state.clone();
    n.set(
        "set_immediate",
        lua.create_function(move |lua, (f, arg): (Function, Value)| {
            let task = call_ref(lua, f, arg)?;
            st.borrow_mut().set_immediate(task);
            Ok(())
        })?,
    )?;
    let st = state.clone();
    n.set(
        "next_tick",
        lua.create_function(move |lua, (f, arg): (Function, Value)| {
            let task = call_ref(lua, f, arg)?;
            st.borrow_mut().next_tick(task);
            Ok(())
        })?,
    )?;
    // Resumes a suspended coroutine once the running task is done (from the loop, so
    // it does not nest inside the caller's coroutine).
    let st = state.clone();
    n.set(
        "wake",
        lua.create_function(move |_, (thread, arg): (mlua::Thread, Value)| {
            st.borrow_mut()
                .next_tick(Task::Resume(thread, mlua::MultiValue::from_vec(vec![arg])));
            Ok(())
        })?,
    )?;
    let st = state.clone();
    n.set(
        "wait_idle",
        lua.create_function(move |lua, ()| {
            st.borrow_mut().wait_idle(lua.current_thread());
            Ok(Value::LightUserData(wait_marker()))
        })?,
    )?;
    let st = state.clone();
    n.set(
        "cancel_idle",
        lua.create_function(move |lua, ()| {
            let me = lua.current_thread();
            st.borrow_mut().cancel_idle(&me);
            Ok(())
        })?,
    )?;
    let st = state.clone();
    n.set(
        "active_refs",
        lua.create_function(move |_, ()| Ok(st.borrow().handles().active_refs()))?,
    )?;

    // Name resolution for hosts that are not IP literals. getaddrinfo blocks; the
    // common cases (localhost, /etc/hosts) answer at once.
    n.set(
        "resolve",
        lua.create_function(|lua, host: String| {
            use std::net::ToSocketAddrs;
            match (host.as_str(), 0).to_socket_addrs() {
                Ok(mut addrs) => match addrs.next() {
                    Some(a) => a.ip().to_string().into_lua_multi(lua),
                    None => {
                        errors::error_values(lua, "ENOTFOUND", &format!("no address for {host}"))
                    }
                },
                Err(_) => errors::error_values(lua, "ENOTFOUND", &format!("cannot resolve {host}")),
            }
        })?,
    )?;
    // Logging through the `log` crate when RUST_LOG installed env_logger; otherwise
    // straight to stderr, so a server's access log shows without any set-up.
    n.set(
        "log",
        lua.create_function(
            |_, (level, target, msg): (String, String, mlua::LuaString)| {
                let lvl = match level.as_str() {
                    "error" => log::Level::Error,
                    "warn" => log::Level::Warn,
                    "info" | "access" => log::Level::Info,
                    "debug" => log::Level::Debug,
                    _ => log::Level::Trace,
                };
                let msg = msg.to_string_lossy();
                if os::logger_installed() {
                    log::log!(target: target.as_str(), lvl, "{msg}");
                } else {
                    eprintln!("[{level} {target}] {msg}");
                }
                Ok(())
            },
        )?,
    )?;
    n.set(
        "tls_server_config",
        lua.create_function(tls::server_config)?,
    )?;
    n.set(
        "tls_client_config",
        lua.create_function(tls::client_config)?,
    )?;
    n.set("zlib_oneshot", lua.create_function(zlib::oneshot)?)?;
    n.set("zlib_stream", lua.create_function(zlib::stream)?)?;
    n.set("http_decoder", http::constructor(lua)?)?;
    // SAFETY: a C function that checks its arguments and uses only the stack space
    // Lua guarantees a C function.
    n.set("http_headers", unsafe {
        lua.create_c_function(http::headers)?
    })?;
    // SAFETY: as http_headers.
    n.set("http_check_field", unsafe {
        lua.create_c_function(http::check_field)?
    })?;

    let st = state.clone();
    n.set(
        "exit",
        lua.create_function(move |_, code: Option<i32>| -> Result<()> {
            // Writes queued by the running callback leave when it ends, and an exit
            // ends it first: send what the sockets take now, as node's writes would
            // have gone out already.
            if let Ok(mut s) = st.try_borrow_mut() {
                s.flush_dirty_now();
            }
            os::exit(code.unwrap_or(0))
        })?,
    )?;
    n.set(
        "lua_lib",
        lua.create_function(|lua, (path, prefix): (String, Option<String>)| {
            crate::lua_lib::compile(lua, &path, prefix.as_deref().unwrap_or(""))
        })?,
    )?;
    n.set("version", env!("CARGO_PKG_VERSION"))?;
    n.set("mio_version", env!("STARDUST_MIO_VERSION"))?;
    let object_mt = lua.create_table()?;
    object_mt.set("__jsontype", "object")?;
    let array_mt = lua.create_table()?;
    array_mt.set("__jsontype", "array")?;
    n.set("json_object_mt", object_mt.clone())?;
    n.set("json_array_mt", array_mt.clone())?;
    let omt = object_mt.clone();
    n.set(
        "json_parse",
        lua.create_function(move |lua, text: mlua::LuaString| {
            let bytes = text.as_bytes();
            match std::str::from_utf8(&bytes) {
                Ok(text) => json::parse(lua, text, &omt),
                // As any other bad input: nil and where it is (the documented form).
                Err(e) => {
                    let before = &bytes[..e.valid_up_to()];
                    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                    let column = before.len()
                        - before
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |i| i + 1)
                        + 1;
                    (
                        Value::Nil,
                        format!("invalid UTF-8 at line {line} column {column}"),
                    )
                        .into_lua_multi(lua)
                }
            }
        })?,
    )?;
    n.set(
        "json_stringify",
        lua.create_function(move |lua, (v, indent): (Value, Option<mlua::LuaString>)| {
            let indent_bytes = indent.as_ref().map(|s| s.as_bytes().to_vec());
            let style = json::Style {
                indent: indent_bytes.as_deref(),
            };
            match json::stringify(lua, v, &style, &object_mt, &array_mt)? {
                Some(text) => lua.create_string(text)?.into_lua_multi(lua),
                None => (Value::Nil, "ENOMEM: not enough memory", "ENOMEM").into_lua_multi(lua),
            }
        })?,
    )?;
    Ok(n)
}

/// The groups of natives `uv` installs on first use (`native.load(native, group)`),
/// so that a process pays for making the functions it calls only: a server that
/// never spawns a process makes no process functions.
fn install_group(lua: &Lua, n: &Table, state: &SharedState, group: &str) -> Result<()> {
    match group {
        "pipe" => {
            let st = state.clone();
            n.set(
                "new_pipe",
                lua.create_function(move |lua, ipc: Option<bool>| pipe::new_pipe(lua, &st, ipc))?,
            )?;
            n.set("pipe", lua.create_function(pipe::pipe_fds)?)?;
        }
        "watch" => {
            let st = state.clone();
            n.set(
                "new_poll",
                lua.create_function(move |lua, fd: i32| watch::new_poll(lua, &st, fd))?,
            )?;
            let st = state.clone();
            n.set(
                "new_fs_event",
                lua.create_function(move |lua, ()| watch::new_fs_event(lua, &st))?,
            )?;
        }
        "thread" => {
            let st = state.clone();
            n.set(
                "new_async",
                lua.create_function(move |lua, cb: Value| thread::new_async(lua, &st, cb))?,
            )?;
            let st = state.clone();
            n.set(
                "new_work",
                lua.create_function(move |lua, args| thread::new_work(lua, &st, args))?,
            )?;
            n.set("queue_work", lua.create_function(thread::queue_work_fn)?)?;
            let st = state.clone();
            n.set(
                "new_thread",
                lua.create_function(move |lua, args| thread::new_thread(lua, &st, args))?,
            )?;
            n.set("thread_join", lua.create_function(thread::thread_join)?)?;
            n.set(
                "thread_join_async",
                lua.create_function(thread::thread_join_async)?,
            )?;
        }
        "udp" => {
            let st = state.clone();
            n.set(
                "new_udp",
                lua.create_function(move |lua, _family: Value| udp::new_udp(lua, &st))?,
            )?;
        }
        "signal" => {
            let st = state.clone();
            n.set(
                "new_signal",
                lua.create_function(move |lua, ()| signal::new_signal(lua, &st))?,
            )?;
        }
        "process" => {
            let st = state.clone();
            n.set(
                "spawn",
                lua.create_function(move |lua, args| process::spawn(lua, &st, args))?,
            )?;
            n.set("process_kill", lua.create_function(process::process_kill)?)?;
        }
        "phase" => {
            for (name, p) in [
                ("new_idle", Phase::Idle),
                ("new_prepare", Phase::Prepare),
                ("new_check", Phase::Check),
            ] {
                let st = state.clone();
                n.set(
                    name,
                    lua.create_function(move |lua, ()| phase::new(lua, &st, p))?,
                )?;
            }
        }
        "fs" => fs::install(lua, n, state)?,
        "dns" => {
            let st = state.clone();
            n.set(
                "getaddrinfo",
                lua.create_function(move |lua, args| dns::getaddrinfo(lua, &st, args))?,
            )?;
            let st = state.clone();
            n.set(
                "getnameinfo",
                lua.create_function(move |lua, args| dns::getnameinfo(lua, &st, args))?,
            )?;
        }
        "os" => os::install(lua, n)?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "native.load: no group {other:?}"
            )))
        }
    }
    Ok(())
}

/// A task that calls `f(arg)`, both kept in the registry.
fn call_ref(lua: &Lua, f: Function, arg: Value) -> Result<Task> {
    let arg = if arg.is_nil() {
        None
    } else {
        Some(lua.create_registry_value(arg)?)
    };
    Ok(Task::CallRef(lua.create_registry_value(f)?, arg))
}

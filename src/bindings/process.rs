//! Process handles: `uv.spawn(path, options, on_exit)`, as luv has it.
//!
//!   local stdout = uv.new_pipe()
//!   local handle, pid = uv.spawn("ls", { args = { "-l" }, stdio = { nil, stdout, 2 } },
//!     function(code, signal) print("exited", code, signal) end)
//!   stdout:read_start(function(err, data) ... end)
//!
//! options: `args` (list), `env` (list of "NAME=value": the whole environment),
//! `cwd`, `uid`, `gid`, `detached` (a session of its own), `stdio` (index 1 to 3:
//! nil for /dev/null, a descriptor number to share, a new pipe handle for a pipe, or
//! another stream handle to share its descriptor). The exit is watched by the loop
//! (event_loop/process.rs); `on_exit(code, signal)`, or a coroutine resumed with them.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use mlua::{
    AnyUserData, IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, UserDataMethods, Value,
};

use super::handle::{luv_kind, Luv};
use super::pipe::Pipe;
use crate::event_loop::errors::{error_values, io_error_values};
use crate::event_loop::io::waker_from;
use crate::event_loop::process::ProcessHandle;
use crate::event_loop::stream::Transport;
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_process_t`.
    Process,
    "process"
);

impl UserData for Process {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        methods.add_method("kill", |lua, this, sig: Value| {
            let h = this.handle();
            let pid = pid_of(&h.state.borrow(), h)?;
            kill(lua, pid, sig)
        });
        methods.add_method("get_pid", |_, this, ()| {
            let h = this.handle();
            pid_of(&h.state.borrow(), h)
        });
    }
}

fn pid_of(st: &crate::event_loop::LoopState, h: &super::handle::LuvHandle) -> Result<i32> {
    match st.handles().get_any(h.id).map(|x| &x.kind) {
        Some(Kind::Process(p)) => Ok(p.pid),
        _ => Err(h.closed("get_pid")),
    }
}

/// `process_kill(sig)`: a signal by name or number (SIGTERM without one).
fn kill(lua: &Lua, pid: i32, sig: Value) -> Result<MultiValue> {
    let signum = if sig.is_nil() {
        libc::SIGTERM
    } else {
        super::os::signal_number(&sig)
            .ok_or_else(|| mlua::Error::runtime(format!("process_kill: unknown signal {sig:?}")))?
    };
    // SAFETY: kill has no memory preconditions.
    if unsafe { libc::kill(pid, signum) } != 0 {
        return io_error_values(lua, &std::io::Error::last_os_error());
    }
    0.into_lua_multi(lua)
}

/// A copy of descriptor `fd`, for a child's stdio (the Command closes what it takes).
fn dup(fd: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: `fd` is open for the length of this call.
    unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
}

/// What one stdio entry asks for; a pipe handle also gets the parent's end.
fn stdio_entry(
    st: &mut crate::event_loop::LoopState,
    v: &Value,
    pipes: &mut Vec<(crate::event_loop::handle::HandleId, Transport)>,
) -> Result<std::io::Result<Stdio>> {
    Ok(match v {
        Value::Nil => Ok(Stdio::null()),
        Value::Integer(fd) => dup(*fd as i32).map(Stdio::from),
        Value::Number(fd) => dup(*fd as i32).map(Stdio::from),
        Value::UserData(ud) => {
            if let Ok(pipe) = ud.borrow::<Pipe>() {
                let id = pipe.handle().id;
                match st.stream(id).map(|s| s.transport.raw_fd()) {
                    // A new pipe: a socket pair, one end for each side.
                    Some(None) => match std::os::unix::net::UnixStream::pair() {
                        Ok((ours, theirs)) => {
                            if let Err(e) = ours.set_nonblocking(true) {
                                return Ok(Err(e));
                            }
                            pipes.push((id, Transport::Unix(mio::net::UnixStream::from_std(ours))));
                            Ok(Stdio::from(OwnedFd::from(theirs)))
                        }
                        Err(e) => Err(e),
                    },
                    Some(Some(fd)) => dup(fd).map(Stdio::from),
                    None => return Err(pipe.handle().closed("spawn")),
                }
            } else if let Some(fd) = stream_fd(st, ud) {
                dup(fd).map(Stdio::from)
            } else {
                return Err(mlua::Error::runtime(
                    "spawn: stdio entries must be nil, a descriptor or a stream handle",
                ));
            }
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "spawn: stdio entries must be nil, a descriptor or a stream handle, got {}",
                other.type_name()
            )))
        }
    })
}

/// The descriptor of a tcp or tty handle, to share with a child.
fn stream_fd(st: &mut crate::event_loop::LoopState, ud: &AnyUserData) -> Option<i32> {
    let id = ud
        .borrow::<super::tcp::Tcp>()
        .map(|h| h.handle().id)
        .or_else(|_| ud.borrow::<super::tty::Tty>().map(|h| h.handle().id))
        .ok()?;
    st.stream(id).and_then(|s| s.transport.raw_fd())
}

/// `uv.spawn(path, options, [on_exit])`: handle, pid, or nil, err, code.
pub fn spawn(
    lua: &Lua,
    state: &SharedState,
    (path, options, on_exit): (String, Option<Table>, Value),
) -> Result<MultiValue> {
    let waker = waker_from(lua, on_exit, "spawn")?;
    let options = match options {
        Some(t) => t,
        None => lua.create_table()?,
    };
    let mut cmd = Command::new(&path);
    if let Some(args) = options.get::<Option<Table>>("args")? {
        for a in args.sequence_values::<mlua::LuaString>() {
            cmd.arg(std::ffi::OsStr::from_bytes(&a?.as_bytes()));
        }
    }
    if let Some(env) = options.get::<Option<Table>>("env")? {
        cmd.env_clear();
        for pair in env.sequence_values::<String>() {
            let pair = pair?;
            match pair.split_once('=') {
                Some((k, v)) => cmd.env(k, v),
                None => {
                    return Err(mlua::Error::runtime(format!(
                        "spawn: env entries must be \"NAME=value\", got {pair:?}"
                    )))
                }
            };
        }
    }
    if let Some(cwd) = options.get::<Option<String>>("cwd")? {
        cmd.current_dir(cwd);
    }
    if let Some(uid) = options.get::<Option<u32>>("uid")? {
        cmd.uid(uid);
    }
    if let Some(gid) = options.get::<Option<u32>>("gid")? {
        cmd.gid(gid);
    }
    if options.get::<Option<bool>>("detached")?.unwrap_or(false) {
        // SAFETY: setsid is async-signal-safe, the only call between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut st = state.borrow_mut();
    let mut pipes = Vec::new();
    if let Some(stdio) = options.get::<Option<Table>>("stdio")? {
        if stdio.raw_len() > 3 {
            return Err(mlua::Error::runtime(
                "spawn: only stdio[1] to stdio[3] (stdin, stdout, stderr) are supported",
            ));
        }
        for i in 1..=3 {
            let v: Value = stdio.raw_get(i)?;
            let entry = match stdio_entry(&mut st, &v, &mut pipes)? {
                Ok(s) => s,
                Err(e) => return io_error_values(lua, &e),
            };
            match i {
                1 => cmd.stdin(entry),
                2 => cmd.stdout(entry),
                _ => cmd.stderr(entry),
            };
        }
    } else {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return io_error_values(lua, &e),
    };
    drop(cmd); // (closes the child's ends of the pipes)
    let pid = child.id() as i32;
    for (id, transport) in pipes {
        if let Err(e) = super::stream::adopt(&mut st, id, transport) {
            return io_error_values(lua, &e);
        }
    }
    let id = st
        .handles_mut()
        .insert(Kind::Process(ProcessHandle::new(pid)));
    if let Err(e) = st.watch_process(id, waker) {
        st.close(id, None);
        return error_values(lua, "EIO", &format!("cannot watch process {pid}: {e}"));
    }
    drop(st);
    (Process::create(lua, state, id)?, pid).into_lua_multi(lua)
}

/// `uv.process_kill(handle, [signal])`.
pub fn process_kill(
    lua: &Lua,
    (ud, sig): (mlua::UserDataRef<Process>, Value),
) -> Result<MultiValue> {
    let h = ud.handle();
    let pid = pid_of(&h.state.borrow(), h)?;
    kill(lua, pid, sig)
}

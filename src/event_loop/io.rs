//! Dispatch: what a ready token means for each kind of handle.
//!
//! mio is edge-triggered: a readiness event is reported once, and another comes only
//! after the socket has returned WouldBlock. So every reader here drains: accept until
//! WouldBlock, read until WouldBlock (or until the reader stops), write until the queue
//! is empty or WouldBlock.

use std::io;
use std::rc::Rc;

use mlua::{IntoLuaMulti, MultiValue, Result, Value};

use super::errors::{callback_error, Failure};
use super::handle::{HandleId, Kind, Waker};
use super::stream::{read_once, ReadOnce, Socket};
use super::{EventLoop, LoopState, Task};

impl EventLoop {
    pub(super) fn on_ready(&self, id: HandleId, readable: bool, writable: bool) -> Result<()> {
        let kind = match self.state.borrow().handles.get(id).map(|h| &h.kind) {
            Some(Kind::Tcp(_)) => 1,
            Some(Kind::Fd(_)) => 2,
            _ => return Ok(()),
        };
        if kind == 2 {
            return self.fd_ready(id);
        }
        if writable {
            self.tcp_connected(id)?;
            let done = self.state.borrow_mut().flush_writes(id);
            for task in done {
                self.run_task(task)?;
            }
        }
        if readable {
            self.tcp_readable(id)?;
            // Through TLS, the reads just made may have finished a handshake, and rustls
            // takes the plaintext it refused before it: send what is queued.
            let queued_tls = matches!(
                self.state.borrow().handles.get(id).map(|h| &h.kind),
                Some(Kind::Tcp(t)) if t.tls.is_some() && !t.writes.is_empty()
            );
            if queued_tls {
                let done = self.state.borrow_mut().flush_writes(id);
                for task in done {
                    self.run_task(task)?;
                }
            }
        }
        Ok(())
    }

    /// A connecting socket turned writable: the connect either succeeded or failed.
    fn tcp_connected(&self, id: HandleId) -> Result<()> {
        let task = {
            let mut st = self.state.borrow_mut();
            let Some(Kind::Tcp(tcp)) = st.handles.get_mut(id).map(|h| &mut h.kind) else {
                return Ok(());
            };
            let Socket::Stream(s) = &tcp.socket else {
                return Ok(());
            };
            if tcp.connect_waker.is_none() {
                return Ok(());
            }
            let result = match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    // Not connected yet: a spurious wake-up; keep waiting.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                    Err(e) => Err(e),
                },
            };
            let waker = tcp.connect_waker.take().expect("checked above");
            st.refresh_tcp_active(id);
            match result {
                Ok(()) => Task::Wake(waker, MultiValue::new()),
                Err(e) => Task::Fail(waker, Failure::from_io(&e)),
            }
        };
        self.run_task(task)
    }

    fn tcp_readable(&self, id: HandleId) -> Result<()> {
        // A listener: accept everything that is queued, then tell the Lua side once per
        // connection.
        let accepted = {
            let mut st = self.state.borrow_mut();
            let Some(Kind::Tcp(tcp)) = st.handles.get(id).map(|h| &h.kind) else {
                return Ok(());
            };
            if matches!(tcp.socket, Socket::Listener(_)) {
                let n = st.accept_all(id);
                let Some(Kind::Tcp(tcp)) = st.handles.get_mut(id).map(|h| &mut h.kind) else {
                    return Ok(());
                };
                let cb = match &tcp.listen_cb {
                    Some(k) => Some(self.lua.registry_value::<mlua::Function>(k)?),
                    None => None,
                };
                Some((n, cb, tcp.accept_waiter.take()))
            } else {
                None
            }
        };
        if let Some((n, cb, waiter)) = accepted {
            if let Some(t) = waiter {
                self.run_task(Task::Wake(Waker::Thread(t), MultiValue::new()))?;
            }
            if let Some(cb) = cb {
                for _ in 0..n {
                    self.run_task(Task::Call(cb.clone(), MultiValue::new()))?;
                }
            }
            self.state.borrow_mut().refresh_tcp_active(id);
            return Ok(());
        }

        // A stream: wake a blocking-style reader (it retries its read), then feed a
        // read_start callback until the socket runs dry or the reader stops.
        let waiter = {
            let mut st = self.state.borrow_mut();
            match st.handles.get_mut(id).map(|h| &mut h.kind) {
                Some(Kind::Tcp(tcp)) => {
                    tcp.drained = false;
                    tcp.read_waiter.take()
                }
                _ => None,
            }
        };
        if let Some(w) = waiter {
            self.state.borrow_mut().refresh_tcp_active(id);
            self.run_task(Task::Wake(w, MultiValue::new()))?;
        }
        loop {
            let task = {
                let mut st = self.state.borrow_mut();
                let LoopState {
                    handles, read_buf, ..
                } = &mut *st;
                let Some(Kind::Tcp(tcp)) = handles.get_mut(id).map(|h| &mut h.kind) else {
                    break;
                };
                let Some(cb) = &tcp.read_cb else { break };
                let cb: mlua::Function = self.lua.registry_value(cb)?;
                if !matches!(tcp.socket, Socket::Stream(_)) {
                    break;
                }
                // (The same read as the coroutine-style bindings: no syscall once a
                // short read has left the socket dry.)
                let args = match read_once(tcp, read_buf) {
                    ReadOnce::Eof => {
                        tcp.read_cb = None;
                        (Value::Nil, Value::Nil).into_lua_multi(&self.lua)?
                    }
                    ReadOnce::Data(n) => (Value::Nil, self.lua.create_string(&read_buf[..n])?)
                        .into_lua_multi(&self.lua)?,
                    ReadOnce::WouldBlock => break,
                    ReadOnce::Failed(e) => {
                        tcp.read_cb = None;
                        callback_error(&self.lua, &e)?
                    }
                };
                st.refresh_tcp_active(id);
                Task::Call(cb, args)
            };
            self.run_task(task)?;
        }
        Ok(())
    }

    fn fd_ready(&self, id: HandleId) -> Result<()> {
        let waiter = {
            let mut st = self.state.borrow_mut();
            let waiter = match st.handles.get_mut(id).map(|h| &mut h.kind) {
                Some(Kind::Fd(fd)) => fd.read_waiter.take(),
                _ => None,
            };
            st.handles.set_active(id, false);
            waiter
        };
        match waiter {
            Some(t) => self.run_task(Task::Wake(Waker::Thread(t), MultiValue::new())),
            None => Ok(()),
        }
    }
}

/// Turns a Lua waker argument (function or coroutine) into a [`Waker`].
pub fn waker_from(lua: &mlua::Lua, v: Value, what: &str) -> Result<Option<Waker>> {
    match v {
        Value::Nil => Ok(None),
        Value::Function(f) => Ok(Some(Waker::Callback(Rc::new(
            lua.create_registry_value(f)?,
        )))),
        Value::Thread(t) => Ok(Some(Waker::Thread(lua.create_registry_value(t)?))),
        other => Err(mlua::Error::runtime(format!(
            "{what}: expected a function or coroutine as callback, got {}",
            other.type_name()
        ))),
    }
}

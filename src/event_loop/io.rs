//! Dispatch: what a ready token means for each kind of handle, and the loop's side of
//! a stream's requests (looking the stream up, queueing the wake-ups it returns).
//!
//! mio is edge-triggered: a readiness event is reported once, and another comes only
//! after the descriptor has returned WouldBlock. So every reader here drains: accept
//! until WouldBlock, read until WouldBlock (or until the reader stops), write until the
//! queue is empty or WouldBlock.

use std::io;
use std::rc::Rc;

use mlua::{IntoLuaMulti, MultiValue, Result, Value};

use super::errors::{callback_error, Failure};
use super::handle::HandleId;
use super::stream::{Completion, ReadOnce, Stream, Transport, Written};
use super::udp::{Recv, Udp};
use super::waker::Waker;
use super::Kind;
use super::{EventLoop, LoopState, Task};

impl EventLoop {
    pub(super) fn on_ready(&self, id: HandleId, readable: bool, writable: bool) -> Result<()> {
        // (The kind is read, and the borrow dropped, before anything runs.)
        let kind = match self.state.borrow().handles.get(id).map(|h| &h.kind) {
            Some(Kind::Stream(_)) => 0,
            Some(Kind::Process(_)) => 1,
            Some(Kind::Udp(_)) => 2,
            Some(Kind::Poll(_)) => 3,
            Some(Kind::FsEvent(_)) => 4,
            _ => return Ok(()),
        };
        match kind {
            1 => return self.process_exited(id),
            2 => return self.udp_ready(id, readable, writable),
            3 => return self.poll_ready(id),
            4 => return self.fs_event_ready(id),
            _ => {}
        }
        if writable {
            self.stream_connected(id)?;
            let done = self.state.borrow_mut().flush_writes(id);
            for task in done {
                self.run_task(task)?;
            }
        }
        if readable {
            self.stream_readable(id)?;
            // Through TLS, the reads just made may have finished a handshake, and rustls
            // takes the plaintext it refused before it: send what is queued.
            let queued_tls = self
                .state
                .borrow_mut()
                .stream(id)
                .is_some_and(|t| t.tls.is_some() && !t.writes.is_empty());
            if queued_tls {
                let done = self.state.borrow_mut().flush_writes(id);
                for task in done {
                    self.run_task(task)?;
                }
            }
        }
        Ok(())
    }

    /// A UDP socket turned readable (wake the waiting coroutine, then hand every
    /// datagram to the recv_start callback) or writable (send the queue).
    fn udp_ready(&self, id: HandleId, readable: bool, writable: bool) -> Result<()> {
        if writable {
            let done = {
                let mut st = self.state.borrow_mut();
                let done = st.udp(id).map(|u| u.flush()).unwrap_or_default();
                st.refresh_udp_active(id);
                done
            };
            for c in done {
                self.run_task(completion_task(c))?;
            }
        }
        if !readable {
            return Ok(());
        }
        let waiter = self
            .state
            .borrow_mut()
            .udp(id)
            .and_then(|u| u.recv_waiter.take());
        if let Some(w) = waiter {
            self.state.borrow_mut().refresh_udp_active(id);
            self.run_task(Task::Wake(w, MultiValue::new()))?;
        }
        loop {
            let task = {
                let mut st = self.state.borrow_mut();
                let Some((Kind::Udp(udp), read_buf)) = st.kind_and_read_buf(id) else {
                    break;
                };
                let Some(cb) = &udp.recv_cb else { break };
                let cb: mlua::Function = self.lua.registry_value(cb)?;
                let args = match udp.recv_once(read_buf) {
                    Recv::Datagram(n, from) => (
                        Value::Nil,
                        self.lua.create_string(&read_buf[..n])?,
                        addr_table(&self.lua, from)?,
                        0,
                    )
                        .into_lua_multi(&self.lua)?,
                    Recv::WouldBlock => break,
                    Recv::Failed(e) => callback_error(&self.lua, &e)?,
                };
                Task::Call(cb, args)
            };
            self.run_task(task)?;
        }
        Ok(())
    }

    /// A poll handle's descriptor is ready: cb(nil, "r" | "w" | "rw"); then, as
    /// libuv's poll is level-triggered, fed again next turn while still ready.
    fn poll_ready(&self, id: HandleId) -> Result<()> {
        let task = {
            let st = self.state.borrow();
            let Some(Kind::Poll(p)) = st.handles.get(id).map(|h| &h.kind) else {
                return Ok(());
            };
            let (Some(events), Some(w)) = (p.ready_now(), p.cb.as_ref().and_then(Waker::share))
            else {
                return Ok(());
            };
            Task::Wake(w, (Value::Nil, events).into_lua_multi(&self.lua)?)
        };
        self.run_task(task)?;
        let mut st = self.state.borrow_mut();
        let still = match st.handles.get(id).map(|h| &h.kind) {
            Some(Kind::Poll(p)) => p.cb.is_some() && p.ready_now().is_some(),
            _ => false,
        };
        if still {
            st.defer(Task::Feed(id));
        }
        Ok(())
    }

    /// An fs_event handle's inotify descriptor is readable: cb(nil, filename,
    /// { change = true } or { rename = true }) for each change.
    fn fs_event_ready(&self, id: HandleId) -> Result<()> {
        let changes = self.state.borrow_mut().fs_changes(id);
        for c in changes {
            let waker = match self.state.borrow().handles.get(id).map(|h| &h.kind) {
                Some(Kind::FsEvent(f)) => f.cb.as_ref().and_then(Waker::share),
                _ => None,
            };
            let Some(w) = waker else { break };
            let events = self.lua.create_table()?;
            events.set(if c.rename { "rename" } else { "change" }, true)?;
            let args =
                (Value::Nil, self.lua.create_string(&c.name)?, events).into_lua_multi(&self.lua)?;
            self.run_task(Task::Wake(w, args))?;
        }
        Ok(())
    }

    /// A process handle's pidfd turned readable: its child exited.
    fn process_exited(&self, id: HandleId) -> Result<()> {
        let reaped = self.state.borrow_mut().reap(id);
        if let Some((Some(waker), code, signal)) = reaped {
            let args = (code, signal).into_lua_multi(&self.lua)?;
            self.run_task(Task::Wake(waker, args))?;
        }
        Ok(())
    }

    /// A connecting socket turned writable: the connect either succeeded or failed.
    fn stream_connected(&self, id: HandleId) -> Result<()> {
        let task = {
            let mut st = self.state.borrow_mut();
            let Some(stream) = st.stream(id).filter(|s| s.connect_waker.is_some()) else {
                return Ok(());
            };
            let result = match &stream.transport {
                Transport::Tcp(s) => match s.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => s.peer_addr().map(drop),
                },
                Transport::Unix(s) => match s.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => s.peer_addr().map(drop),
                },
                _ => return Ok(()),
            };
            let result = match result {
                // Not connected yet: a spurious wake-up; keep waiting.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                other => other,
            };
            let waker = stream.connect_waker.take().expect("checked above");
            st.refresh_stream_active(id);
            match result {
                Ok(()) => Task::Wake(waker, MultiValue::new()),
                Err(e) => Task::Fail(waker, Failure::from_io(&e)),
            }
        };
        self.run_task(task)
    }

    fn stream_readable(&self, id: HandleId) -> Result<()> {
        // A listener: accept everything that is queued, then tell the Lua side once per
        // connection.
        let accepted = {
            let mut st = self.state.borrow_mut();
            if st.stream(id).is_some_and(|s| s.transport.is_listener()) {
                let n = st.accept_all(id);
                let stream = st.stream(id).expect("checked above");
                let cb = match &stream.listen_cb {
                    Some(k) => Some(self.lua.registry_value::<mlua::Function>(k)?),
                    None => None,
                };
                Some((n, cb, stream.accept_waiter.take()))
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
            self.state.borrow_mut().refresh_stream_active(id);
            return Ok(());
        }

        // A stream: wake a blocking-style reader (it retries its read), then feed a
        // read_start callback until the stream runs dry or the reader stops.
        let waiter = {
            let mut st = self.state.borrow_mut();
            st.stream(id).and_then(|s| {
                s.drained = false;
                s.read_waiter.take()
            })
        };
        if let Some(w) = waiter {
            self.state.borrow_mut().refresh_stream_active(id);
            self.run_task(Task::Wake(w, MultiValue::new()))?;
        }
        loop {
            let task = {
                let mut st = self.state.borrow_mut();
                let Some((Kind::Stream(stream), read_buf)) = st.kind_and_read_buf(id) else {
                    break;
                };
                let Some(cb) = &stream.read_cb else { break };
                let cb: mlua::Function = self.lua.registry_value(cb)?;
                if !stream.transport.is_connected() {
                    break;
                }
                // (The same read as the coroutine-style bindings: no syscall once a
                // short read has left the descriptor dry.)
                let args = match stream.read_once(read_buf) {
                    ReadOnce::Eof => {
                        stream.read_cb = None;
                        (Value::Nil, Value::Nil).into_lua_multi(&self.lua)?
                    }
                    ReadOnce::Data(n) => (Value::Nil, self.lua.create_string(&read_buf[..n])?)
                        .into_lua_multi(&self.lua)?,
                    ReadOnce::WouldBlock => break,
                    ReadOnce::Failed(e) => {
                        stream.read_cb = None;
                        callback_error(&self.lua, &e)?
                    }
                };
                st.refresh_stream_active(id);
                Task::Call(cb, args)
            };
            self.run_task(task)?;
        }
        Ok(())
    }
}

/// `{ ip, port, family }`, as luv gives an address.
pub fn addr_table(lua: &mlua::Lua, a: std::net::SocketAddr) -> Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("ip", a.ip().to_string())?;
    t.set("port", a.port())?;
    t.set("family", if a.is_ipv4() { "inet" } else { "inet6" })?;
    Ok(t)
}

impl LoopState {
    /// The live UDP handle with this id.
    pub fn udp(&mut self, id: HandleId) -> Option<&mut Udp> {
        match self.handles.get_mut(id).map(|h| &mut h.kind) {
            Some(Kind::Udp(u)) => Some(u),
            _ => None,
        }
    }

    /// A UDP handle is active while receiving or sending.
    pub fn refresh_udp_active(&mut self, id: HandleId) {
        if let Some(wants) = self.udp(id).map(|u| u.wants_events()) {
            self.handles.set_active(id, wants);
        }
    }

    /// The live stream handle (tcp, pipe, tty) with this id.
    pub fn stream(&mut self, id: HandleId) -> Option<&mut Stream> {
        match self.handles.get_mut(id).map(|h| &mut h.kind) {
            Some(Kind::Stream(s)) => Some(s),
            _ => None,
        }
    }

    /// A stream handle is active while anybody waits on it (libuv's `uv__handle_start`).
    pub fn refresh_stream_active(&mut self, id: HandleId) {
        if let Some(wants) = self.stream(id).map(|s| s.wants_events()) {
            self.handles.set_active(id, wants);
        }
    }

    /// Writes `parts` to stream `id` (see `Stream::write`): Ok(None) when all of it
    /// reached the kernel now (a callback waker then runs later, from the pending
    /// phase), Ok(Some(queued)) when some waits in the queue. `defer` holds the bytes
    /// for the flush at the end of the running task, so that one task's writes leave
    /// in one syscall.
    pub fn stream_write<B: AsRef<[u8]>>(
        &mut self,
        id: HandleId,
        parts: &[B],
        waker: Option<Waker>,
        defer: bool,
    ) -> io::Result<Option<usize>> {
        let Some(stream) = self.stream(id) else {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        };
        match stream.write(parts, waker, defer)? {
            Written::Done(waker) => {
                if let Some(w @ Waker::Callback(_)) = waker {
                    // Callbacks always run later, never inside the caller's call.
                    self.pending.push_back(Task::Wake(w, MultiValue::new()));
                }
                Ok(None)
            }
            Written::Queued(queued) => {
                if defer {
                    self.mark_dirty(id);
                }
                self.refresh_stream_active(id);
                Ok(Some(queued))
            }
        }
    }

    /// Queues `parts` on stream `id` for the flush at the end of the running task (the
    /// hot path's write: no callback). Returns the bytes now queued.
    pub fn queue_write(&mut self, id: HandleId, parts: &[&[u8]]) -> io::Result<usize> {
        let Some(stream) = self.stream(id) else {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        };
        if !stream.transport.is_connected() {
            return Err(io::Error::from_raw_os_error(libc::ENOTCONN));
        }
        let queued = stream.enqueue(parts, 0, None)?;
        self.mark_dirty(id);
        self.refresh_stream_active(id);
        Ok(queued)
    }

    /// Writes as much of stream `id`'s queue as it takes. Returns the wake-ups of the
    /// requests that finished (or failed); the caller decides when to run them.
    pub fn flush_writes(&mut self, id: HandleId) -> Vec<Task> {
        let Some(stream) = self.stream(id) else {
            return Vec::new();
        };
        let done = stream.flush();
        if stream.close_when_flushed && stream.flushed() {
            self.finish_close(id);
        } else {
            self.refresh_stream_active(id);
        }
        done.into_iter().map(completion_task).collect()
    }

    /// Closes stream `id` once its queued writes are out, at once if none are (a
    /// server's last response). The close sends the FIN, so there is no shutdown
    /// syscall and no callback to Lua in between; through TLS, the close_notify goes
    /// first. Harmless on a handle that is closing or closed.
    pub fn close_after_flush(&mut self, id: HandleId) {
        let Some(stream) = self.stream(id) else {
            return;
        };
        // Not connected: there is nothing it could send.
        if !stream.transport.is_connected() || stream.flushed() {
            self.finish_close(id);
        } else {
            stream.close_when_flushed = true;
            self.refresh_stream_active(id);
        }
    }

    fn finish_close(&mut self, id: HandleId) {
        if let Some(stream) = self.stream(id) {
            if stream.tls.is_some() && stream.transport.is_connected() {
                let _ = stream.shutdown_now();
            }
        }
        self.close(id, None);
    }

    /// Keeps a spare file descriptor for `accept_all` to give up when the process runs
    /// out of them (done when a server starts listening).
    pub fn reserve_spare_fd(&mut self) {
        if self.spare_fd.is_none() {
            self.spare_fd = std::fs::File::open("/dev/null").ok();
        }
    }

    /// Accepts every connection waiting on listener `id` (see `Stream::accept_all`).
    pub fn accept_all(&mut self, id: HandleId) -> usize {
        let LoopState {
            handles, spare_fd, ..
        } = self;
        match handles.get_mut(id).map(|h| &mut h.kind) {
            Some(Kind::Stream(s)) => s.accept_all(spare_fd),
            _ => 0,
        }
    }
}

/// The wake-up for a finished request.
pub fn completion_task((waker, failure): Completion) -> Task {
    match failure {
        None => Task::Wake(waker, MultiValue::new()),
        Some(f) => Task::Fail(waker, f),
    }
}

/// A waker that fires again and again (a handle's repeating callback): a function, or
/// a coroutine resumed each time.
pub fn repeating_waker_from(lua: &mlua::Lua, v: Value, what: &str) -> Result<Waker> {
    match v {
        Value::Function(f) => Ok(Waker::Callback(Rc::new(lua.create_registry_value(f)?))),
        Value::Thread(t) => Ok(Waker::SharedThread(Rc::new(lua.create_registry_value(t)?))),
        other => Err(mlua::Error::runtime(format!(
            "{what}: expected a function or a coroutine, got {}",
            other.type_name()
        ))),
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

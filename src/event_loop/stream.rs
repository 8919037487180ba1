//! Streams: a connected socket with one read path and one write queue.
//!
//! A stream handle owns its transport: a TCP socket, with TLS over it when the handle
//! was switched to TLS (`tls.rs`). Everything that reads or writes a stream comes
//! through here:
//!
//! - **Reading** is [`read_once`]: one non-blocking read into the loop's buffer. The
//!   callback readers (`read_start`), the coroutine readers (`try_read`) and the raw
//!   HTTP reader (bindings/fast.rs) all call it.
//! - **Writing** is [`LoopState::stream_write`]: bytes go to the kernel at once when
//!   nothing is queued before them, and the rest waits in the handle's queue, which
//!   [`LoopState::flush_writes`] drains when the socket turns writable (or when the
//!   running task ends, for `queue_write`). A write request completes when its last
//!   byte has reached the kernel, in order: an empty write completes when everything
//!   queued before it has, which is how a writer waits for the queue to drain.
//! - **Accepting** is [`LoopState::accept_all`]: into the listener's queue, until
//!   WouldBlock. When the process is out of file descriptors it sheds the waiting
//!   connections through a spare descriptor (libuv's trick) rather than stall.
//! - **Closing** takes every waiter ([`Tcp::take_waiters`]); the loop wakes each with
//!   ECANCELED (`LoopState::close`).
//!
//! mio is edge-triggered: a readiness event comes once, and another only after the
//! socket has said WouldBlock. So accepting and flushing go on until WouldBlock, and a
//! reader that stops early is fed again from the loop (`Task::Feed`).

use std::collections::VecDeque;
use std::io::{self, Write};

use super::errors::Failure;
use super::handle::{HandleId, Kind, LuaRef, Waker};
use super::{LoopState, Task};

/// The states of a TCP handle, as in libuv: made, bound, then listening or connected.
pub enum Socket {
    New,
    Bound(socket2::Socket),
    Listener(mio::net::TcpListener),
    Stream(mio::net::TcpStream),
}

/// One write request: its bytes, how many have gone out, and who to tell when all have.
pub struct WriteReq {
    pub data: Vec<u8>,
    pub written: usize,
    pub waker: Option<Waker>,
}

pub struct Tcp {
    pub socket: Socket,
    pub connect_waker: Option<Waker>,
    pub read_cb: Option<LuaRef>,
    /// Who waits for the socket to turn readable: a blocking-style reader's coroutine,
    /// or a callback (an idle HTTP connection).
    pub read_waiter: Option<Waker>,
    /// The callback (or coroutine) a connection waits with, set once
    /// (`handle:set_on_readable`) so that waiting again costs no new registry entry.
    pub on_readable: Option<Waker>,
    pub listen_cb: Option<LuaRef>,
    pub accept_waiter: Option<LuaRef>,
    pub accepted: VecDeque<mio::net::TcpStream>,
    pub writes: VecDeque<WriteReq>,
    pub shutdown: Option<Option<Waker>>,
    pub eof: bool,
    /// The last read came back short, so the socket had nothing more at that moment and
    /// the next read would only say WouldBlock. Cleared by the next readable event
    /// (edge-triggered epoll reports every arrival after that read).
    pub drained: bool,
    /// The peer's FIN (or an error) has been reported: reads must go on to see it, so
    /// a short read no longer means "nothing more".
    pub hup: bool,
    /// TLS state when the handle speaks TLS (see tls.rs).
    pub tls: Option<Box<rustls::Connection>>,
}

impl Default for Tcp {
    fn default() -> Self {
        Self::new()
    }
}

impl Tcp {
    pub fn new() -> Self {
        Tcp {
            socket: Socket::New,
            connect_waker: None,
            read_cb: None,
            read_waiter: None,
            on_readable: None,
            listen_cb: None,
            accept_waiter: None,
            accepted: VecDeque::new(),
            writes: VecDeque::new(),
            shutdown: None,
            eof: false,
            drained: false,
            hup: false,
            tls: None,
        }
    }

    /// libuv's notion of an active stream: somebody is waiting on it.
    pub fn wants_events(&self) -> bool {
        self.connect_waker.is_some()
            || self.read_cb.is_some()
            || self.read_waiter.is_some()
            || self.listen_cb.is_some()
            || self.accept_waiter.is_some()
            || !self.writes.is_empty()
            || self.tls.as_ref().is_some_and(|c| c.wants_write())
            || self.shutdown.is_some()
    }

    /// Closing: stops watching the socket and hands over everybody waiting on it, the
    /// pending requests (connect, writes, shutdown) and the waiting readers, for the
    /// loop to tell them ECANCELED. A read_start callback is just dropped, as libuv
    /// stops reading on close without a last call.
    pub fn take_waiters(&mut self, registry: &mio::Registry, out: &mut Vec<Waker>) {
        let _ = match &mut self.socket {
            Socket::Listener(l) => registry.deregister(l),
            Socket::Stream(s) => registry.deregister(s),
            _ => Ok(()),
        };
        self.read_cb = None;
        out.extend(self.connect_waker.take());
        out.extend(self.writes.drain(..).filter_map(|w| w.waker));
        out.extend(self.shutdown.take().flatten());
        out.extend(self.read_waiter.take());
        out.extend(self.accept_waiter.take().map(Waker::Thread));
    }

    /// Bytes queued and not yet handed to the kernel (`uv.stream_get_write_queue_size`).
    pub fn queued_bytes(&self) -> usize {
        self.writes.iter().map(|w| w.data.len() - w.written).sum()
    }
}

/// What one read of a socket, without waiting, gave.
pub enum ReadOnce {
    /// This many bytes, in the loop's read buffer.
    Data(usize),
    Eof,
    WouldBlock,
    Failed(io::Error),
}

/// Reads a stream socket once, without waiting (and without a syscall when the last
/// read left it dry). The bytes land in `read_buf`.
pub fn read_once(t: &mut Tcp, read_buf: &mut [u8]) -> ReadOnce {
    if t.eof {
        return ReadOnce::Eof;
    }
    let Socket::Stream(s) = &mut t.socket else {
        return ReadOnce::Failed(io::Error::from_raw_os_error(libc::ENOTCONN));
    };
    // Nothing new since a short read: skip the syscall that would say WouldBlock.
    if t.drained {
        return ReadOnce::WouldBlock;
    }
    loop {
        match super::tls::read_plain(s, t.tls.as_deref_mut(), read_buf) {
            Ok((0, _)) => {
                t.eof = true;
                return ReadOnce::Eof;
            }
            Ok((n, dry)) => {
                t.drained = dry && !t.hup;
                return ReadOnce::Data(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOnce::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return ReadOnce::Failed(e),
        }
    }
}

/// How a write request left `stream_write`.
pub enum Written {
    /// All of it reached the kernel now. A callback waker has been queued to run
    /// later; a coroutine waker was dropped (the caller need not wait).
    Done,
    /// Some or all of it is queued, with its waker: this many bytes are queued now.
    Queued(usize),
}

impl LoopState {
    /// Writes `parts` to stream `id`: to the kernel now if nothing is queued before them
    /// (one syscall, writev for several parts, no copy) unless `defer`, and into the
    /// queue otherwise (flushed when the running task ends, with `defer`, or when the
    /// socket turns writable). `waker` hears when the last byte has gone out.
    pub fn stream_write<B: AsRef<[u8]>>(
        &mut self,
        id: HandleId,
        parts: &[B],
        waker: Option<Waker>,
        defer: bool,
    ) -> io::Result<Written> {
        let t = match self.handles.get_mut(id).map(|h| &mut h.kind) {
            Some(Kind::Tcp(t)) => t,
            Some(_) => return Err(io::Error::from_raw_os_error(libc::ENOTSUP)),
            None => return Err(io::Error::from_raw_os_error(libc::EBADF)),
        };
        let Socket::Stream(s) = &mut t.socket else {
            return Err(io::Error::from_raw_os_error(libc::ENOTCONN));
        };
        let total: usize = parts.iter().map(|b| b.as_ref().len()).sum();
        // Through TLS, writes always go through the queue, which the flush feeds to
        // rustls as it takes it (rustls buffers only so much).
        let direct = !defer && t.tls.is_none();
        let idle = t.writes.is_empty() && t.connect_waker.is_none();
        let mut written = 0;
        let done = idle
            && (total == 0 || direct && {
                written = write_all_now(s, parts)?;
                written == total
            });
        // (An empty write is done at once only with nothing queued before it.)
        if done {
            if let Some(w @ Waker::Callback(_)) = waker {
                // Callbacks always run later, never inside the caller's call.
                self.pending.push_back(Task::Wake(w, mlua::MultiValue::new()));
            }
            return Ok(Written::Done);
        }
        Ok(Written::Queued(enqueue(self, id, parts, written, waker, defer)))
    }

    /// A stream handle is active while anybody waits on it (libuv's `uv__handle_start`).
    pub fn refresh_tcp_active(&mut self, id: HandleId) {
        let wants = match self.handles.get(id).map(|h| &h.kind) {
            Some(Kind::Tcp(tcp)) => tcp.wants_events(),
            _ => return,
        };
        self.handles.set_active(id, wants);
    }

    /// Writes as much of the queue as the socket takes. Returns the wake-ups of the
    /// requests that finished (or failed); the caller decides when to run them.
    pub fn flush_writes(&mut self, id: HandleId) -> Vec<Task> {
        let mut done = Vec::new();
        let Some(Kind::Tcp(tcp)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return done;
        };
        let Socket::Stream(s) = &mut tcp.socket else {
            return done;
        };
        if tcp.connect_waker.is_some() {
            return done; // not connected yet; the writable event will come
        }
        let mut failure: Option<io::Error> = None;
        while let Some(req) = tcp.writes.front_mut() {
            if req.written < req.data.len() {
                let rest = &req.data[req.written..];
                let res = match tcp.tls.as_deref_mut() {
                    // Through TLS: feed rustls as much as it takes (it buffers up to a
                    // limit), sending its records as its buffer fills.
                    Some(conn) => super::tls::write_plain(s, conn, rest),
                    None => s.write(rest),
                };
                match res {
                    Ok(n) => req.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
                if req.written < req.data.len() {
                    // The kernel (or rustls) took only part: the rest waits.
                    if tcp.tls.is_some() {
                        break;
                    }
                    continue;
                }
            }
            let req = tcp.writes.pop_front().expect("front exists");
            done.extend(req.waker.map(|w| Task::Wake(w, mlua::MultiValue::new())));
        }
        if failure.is_none() {
            if let Some(conn) = tcp.tls.as_deref_mut() {
                if let Err(e) = super::tls::flush_tls(s, conn) {
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            let failure = Failure::from_io(&e);
            for req in tcp.writes.drain(..) {
                if let Some(w) = req.waker {
                    done.push(Task::Fail(w, failure.clone()));
                }
            }
        }
        if tcp.writes.is_empty() {
            // (Through TLS, shut down only once rustls has sent all it holds.)
            let tls_pending = tcp.tls.as_ref().is_some_and(|c| c.wants_write());
            if let Some(waker) = tcp.shutdown.take_if(|_| !tls_pending) {
                if let Some(conn) = tcp.tls.as_deref_mut() {
                    conn.send_close_notify();
                    let _ = super::tls::flush_tls(s, conn);
                }
                let res = s.shutdown(std::net::Shutdown::Write);
                if let Some(w) = waker {
                    done.push(match res {
                        Ok(()) => Task::Wake(w, mlua::MultiValue::new()),
                        Err(e) => Task::Fail(w, Failure::from_io(&e)),
                    });
                }
            }
        }
        self.refresh_tcp_active(id);
        done
    }

    /// Keeps a spare file descriptor for `accept_all` to give up when the process runs
    /// out of them (done when a server starts listening).
    pub fn reserve_spare_fd(&mut self) {
        if self.spare_fd.is_none() {
            self.spare_fd = std::fs::File::open("/dev/null").ok();
        }
    }

    /// Accepts every connection waiting on listener `id` into its queue, until
    /// WouldBlock (edge-triggered). Returns how many it queued.
    ///
    /// Out of file descriptors (EMFILE, ENFILE), the connections would wait in the
    /// kernel's queue, which no further readiness event announces once it is full: the
    /// listener would never accept again. As libuv does, it closes the spare
    /// descriptor, accepts each waiting connection and closes it at once (the client
    /// sees its connection reset rather than hang), and takes the spare back.
    pub fn accept_all(&mut self, id: HandleId) -> usize {
        let LoopState {
            handles, spare_fd, ..
        } = self;
        let Some(Kind::Tcp(tcp)) = handles.get_mut(id).map(|h| &mut h.kind) else {
            return 0;
        };
        let Socket::Listener(l) = &tcp.socket else {
            return 0;
        };
        let mut n = 0;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    tcp.accepted.push_back(s);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if retry_accept(&e) => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    let shed = shed_connections(l, spare_fd);
                    log::warn!("accept: {e}; {shed} waiting connections closed");
                    break;
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    break;
                }
            }
        }
        n
    }
}

/// Errors after which the next accept may succeed at once.
fn retry_accept(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
        || matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EPROTO))
}

/// Frees the spare descriptor, accepts and closes every waiting connection, then
/// reserves the spare again. Returns how many it closed.
fn shed_connections(l: &mio::net::TcpListener, spare: &mut Option<std::fs::File>) -> usize {
    let Some(file) = spare.take() else {
        return 0;
    };
    drop(file);
    let mut shed = 0;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                drop(s);
                shed += 1;
            }
            Err(e) if retry_accept(&e) => continue,
            Err(_) => break,
        }
    }
    *spare = std::fs::File::open("/dev/null").ok();
    shed
}

/// Queues `parts` (from byte `skip` on) on socket `id` as one write request, with an
/// optional waker for when it has gone out; `flush_later` marks the socket for the
/// flush that runs when the current task ends. Returns how much is queued now.
pub fn enqueue<B: AsRef<[u8]>>(
    st: &mut LoopState,
    id: HandleId,
    parts: &[B],
    skip: usize,
    waker: Option<Waker>,
    flush_later: bool,
) -> usize {
    let Some(Kind::Tcp(t)) = st.handles.get_mut(id).map(|h| &mut h.kind) else {
        return 0;
    };
    let total: usize = parts.iter().map(|b| b.as_ref().len()).sum();
    let mut rest = Vec::with_capacity(total.saturating_sub(skip));
    let mut skip = skip;
    for b in parts {
        let b = b.as_ref();
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        rest.extend_from_slice(&b[skip..]);
        skip = 0;
    }
    t.writes.push_back(WriteReq {
        data: rest,
        written: 0,
        waker,
    });
    let queued = t.queued_bytes();
    if flush_later {
        st.mark_dirty(id);
    }
    st.refresh_tcp_active(id);
    queued
}

/// Writes the slices until done or WouldBlock; returns how much went out.
fn write_all_now<B: AsRef<[u8]>>(s: &mut mio::net::TcpStream, bufs: &[B]) -> io::Result<usize> {
    let total: usize = bufs.iter().map(|b| b.as_ref().len()).sum();
    let mut written = 0;
    while written < total {
        // Build the slices still to go (usually all of them, once).
        let mut skip = written;
        let mut slices = Vec::with_capacity(bufs.len());
        for b in bufs {
            let b = b.as_ref();
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            slices.push(io::IoSlice::new(&b[skip..]));
            skip = 0;
        }
        let res = if slices.len() == 1 {
            s.write(&slices[0])
        } else {
            s.write_vectored(&slices)
        };
        match res {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

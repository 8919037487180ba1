//! Streams: tcp, pipe and tty handles share one core, with one read path and one
//! write queue.
//!
//! A stream owns its [`Transport`]: a TCP socket, a Unix domain socket, or a plain
//! descriptor (a pipe, a terminal), with TLS over a socket when the handle was
//! switched to TLS (`tls.rs`). Everything that reads or writes a stream comes through
//! here:
//!
//! - **Reading** is [`Stream::read_once`]: one non-blocking read into the loop's
//!   buffer. The callback readers (`read_start`), the coroutine readers (`try_read`)
//!   and the raw HTTP reader (bindings/fast.rs) all call it.
//! - **Writing** is [`Stream::write`]: bytes go to the kernel at once when nothing is
//!   queued before them, and the rest waits in the queue, which [`Stream::flush`]
//!   drains when the descriptor turns writable (or when the running task ends, for
//!   `queue_write`). A write request completes when its last byte has reached the
//!   kernel, in order: an empty write completes when everything queued before it has,
//!   which is how a writer waits for the queue to drain.
//! - **Accepting** is [`Stream::accept_all`]: into the listener's queue, until
//!   WouldBlock. When the process is out of file descriptors it sheds the waiting
//!   connections through a spare descriptor (libuv's trick) rather than stall.
//! - **Closing** takes every waiter ([`Stream::take_waiters`]); the loop wakes each
//!   with ECANCELED.
//!
//! This file knows nothing of the slab or the loop's queues: `io.rs` looks a stream up
//! by its id and turns what these functions return into wake-ups.
//!
//! mio is edge-triggered: a readiness event comes once, and another only after the
//! descriptor has said WouldBlock. So accepting and flushing go on until WouldBlock,
//! and a reader that stops early is fed again from the loop (`Task::Feed`).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

use super::errors::Failure;
use super::waker::{LuaRef, Waker};

/// What a stream handle carries its bytes over, through its life: made, bound, then
/// listening or connected (libuv's states for tcp and pipe handles).
pub enum Transport {
    /// Made, not yet bound or connected.
    New,
    /// A TCP socket bound to an address, not yet listening or connecting.
    Bound(socket2::Socket),
    TcpListener(mio::net::TcpListener),
    Tcp(mio::net::TcpStream),
    UnixListener(mio::net::UnixListener),
    Unix(mio::net::UnixStream),
    /// A pipe's or terminal's descriptor (`pipe_open`, `new_tty`).
    Fd(Fd),
}

/// A descriptor read and written with plain read(2)/write(2).
pub struct Fd {
    pub fd: RawFd,
    /// epoll refuses regular files: those are never registered, and always "ready".
    pub registered: bool,
}

impl Drop for Fd {
    fn drop(&mut self) {
        // As libuv: the standard descriptors are never closed with their handle.
        if self.fd > 2 {
            // SAFETY: the handle owns this descriptor (pipe_open, spawn's pipes).
            unsafe { libc::close(self.fd) };
        }
    }
}

fn fd_result(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Unix(s) => s.read(buf),
            // SAFETY: reads into `buf`, within its length.
            Transport::Fd(f) => {
                fd_result(unsafe { libc::read(f.fd, buf.as_mut_ptr().cast(), buf.len()) })
            }
            _ => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write(buf),
            Transport::Unix(s) => s.write(buf),
            // SAFETY: writes from `buf`, within its length.
            Transport::Fd(f) => {
                fd_result(unsafe { libc::write(f.fd, buf.as_ptr().cast(), buf.len()) })
            }
            _ => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write_vectored(bufs),
            Transport::Unix(s) => s.write_vectored(bufs),
            // SAFETY: IoSlice is ABI-compatible with iovec.
            Transport::Fd(f) => fd_result(unsafe {
                libc::writev(f.fd, bufs.as_ptr().cast(), bufs.len().min(1024) as i32)
            }),
            _ => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport {
    /// Connected (or a descriptor): bytes can be read and written.
    pub fn is_connected(&self) -> bool {
        matches!(
            self,
            Transport::Tcp(_) | Transport::Unix(_) | Transport::Fd(_)
        )
    }

    pub fn is_listener(&self) -> bool {
        matches!(self, Transport::TcpListener(_) | Transport::UnixListener(_))
    }

    /// The descriptor, for registering with mio and for socket options.
    pub fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Transport::New => None,
            Transport::Bound(s) => Some(s.as_raw_fd()),
            Transport::TcpListener(l) => Some(l.as_raw_fd()),
            Transport::Tcp(s) => Some(s.as_raw_fd()),
            Transport::UnixListener(l) => Some(l.as_raw_fd()),
            Transport::Unix(s) => Some(s.as_raw_fd()),
            Transport::Fd(f) => Some(f.fd),
        }
    }

    /// Ends the writing side (shutdown(2); a pipe's descriptor is closed instead, which
    /// is how its reader sees the end).
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Transport::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Transport::Fd(f) if f.fd > 2 => {
                // SAFETY: our own descriptor; -1 marks it closed for Drop.
                unsafe { libc::close(f.fd) };
                f.fd = -1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// One accept on a listener: the connection's transport.
    fn accept(&self) -> io::Result<Transport> {
        match self {
            Transport::TcpListener(l) => l.accept().map(|(s, _)| Transport::Tcp(s)),
            Transport::UnixListener(l) => l.accept().map(|(s, _)| Transport::Unix(s)),
            _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
    }
}

/// One write request: its bytes, how many have gone out, and who to tell when all have.
pub struct WriteReq {
    pub data: Vec<u8>,
    pub written: usize,
    pub waker: Option<Waker>,
}

pub struct Stream {
    /// "tcp", "pipe" or "tty": what `handle_get_type` says.
    kind: &'static str,
    pub transport: Transport,
    pub connect_waker: Option<Waker>,
    pub read_cb: Option<LuaRef>,
    /// Who waits for the stream to turn readable: a blocking-style reader's coroutine,
    /// or a callback (an idle HTTP connection).
    pub read_waiter: Option<Waker>,
    /// The callback (or coroutine) a connection waits with, set once
    /// (`handle:set_on_readable`) so that waiting again costs no new registry entry.
    pub on_readable: Option<Waker>,
    pub listen_cb: Option<LuaRef>,
    pub accept_waiter: Option<LuaRef>,
    pub accepted: VecDeque<Transport>,
    pub writes: VecDeque<WriteReq>,
    pub shutdown: Option<Option<Waker>>,
    /// Close the handle once the write queue is empty (`close_after_flush`).
    pub close_when_flushed: bool,
    pub eof: bool,
    /// The last read came back short, so the descriptor had nothing more at that moment
    /// and the next read would only say WouldBlock. Cleared by the next readable event
    /// (edge-triggered epoll reports every arrival after that read).
    pub drained: bool,
    /// The peer's FIN (or an error) has been reported: reads must go on to see it, so
    /// a short read no longer means "nothing more".
    pub hup: bool,
    /// TLS state when the handle speaks TLS (see tls.rs).
    pub tls: Option<Box<rustls::Connection>>,
}

/// What one read of a stream, without waiting, gave.
pub enum ReadOnce {
    /// This many bytes, in the loop's read buffer.
    Data(usize),
    Eof,
    WouldBlock,
    Failed(io::Error),
}

/// How a write request left [`Stream::write`].
pub enum Written {
    /// All of it reached the kernel now; the waker is handed back for the caller to
    /// wake later (a callback) or drop (a coroutine need not wait).
    Done(Option<Waker>),
    /// Some or all of it is queued, with its waker: this many bytes are queued now.
    Queued(usize),
}

/// A finished request's waker, and its failure if it failed.
pub type Completion = (Waker, Option<Failure>);

impl Stream {
    pub fn new(kind: &'static str) -> Self {
        Stream {
            kind,
            transport: Transport::New,
            connect_waker: None,
            read_cb: None,
            read_waiter: None,
            on_readable: None,
            listen_cb: None,
            accept_waiter: None,
            accepted: VecDeque::new(),
            writes: VecDeque::new(),
            shutdown: None,
            close_when_flushed: false,
            eof: false,
            drained: false,
            hup: false,
            tls: None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        self.kind
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
            || self.close_when_flushed
    }

    /// Nothing is left to send: the write queue and, through TLS, rustls's buffer.
    pub fn flushed(&self) -> bool {
        self.writes.is_empty() && !self.tls.as_ref().is_some_and(|c| c.wants_write())
    }

    /// Closing: stops watching the descriptor and hands over everybody waiting on it,
    /// the pending requests (connect, writes, shutdown) and the waiting readers, for
    /// the loop to tell them ECANCELED. A read_start callback is just dropped, as
    /// libuv stops reading on close without a last call.
    pub fn take_waiters(&mut self, registry: &mio::Registry, out: &mut Vec<Waker>) {
        let registered = match &self.transport {
            Transport::Fd(f) => f.registered,
            Transport::New | Transport::Bound(_) => false,
            _ => true,
        };
        if let (true, Some(fd)) = (registered, self.transport.raw_fd()) {
            let _ = registry.deregister(&mut mio::unix::SourceFd(&fd));
        }
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

    /// Reads once, without waiting (and without a syscall when the last read left the
    /// descriptor dry). The bytes land in `read_buf`.
    pub fn read_once(&mut self, read_buf: &mut [u8]) -> ReadOnce {
        if self.eof {
            return ReadOnce::Eof;
        }
        if !self.transport.is_connected() {
            return ReadOnce::Failed(io::Error::from_raw_os_error(libc::ENOTCONN));
        }
        // Nothing new since a short read: skip the syscall that would say WouldBlock.
        if self.drained {
            return ReadOnce::WouldBlock;
        }
        loop {
            match super::tls::read_plain(&mut self.transport, self.tls.as_deref_mut(), read_buf) {
                Ok((0, _)) => {
                    self.eof = true;
                    return ReadOnce::Eof;
                }
                Ok((n, dry)) => {
                    // (A descriptor epoll refused, a regular file, is never "dry": no
                    // readiness event would come to say it has more.)
                    let pollable = !matches!(&self.transport, Transport::Fd(f) if !f.registered);
                    self.drained = dry && !self.hup && pollable;
                    return ReadOnce::Data(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOnce::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOnce::Failed(e),
            }
        }
    }

    /// Writes `parts`: to the kernel now if nothing is queued before them (one syscall,
    /// writev for several parts, no copy) unless `defer`, into the queue otherwise.
    /// `waker` hears when the last byte has gone out.
    pub fn write<B: AsRef<[u8]>>(
        &mut self,
        parts: &[B],
        waker: Option<Waker>,
        defer: bool,
    ) -> io::Result<Written> {
        if !self.transport.is_connected() {
            return Err(io::Error::from_raw_os_error(libc::ENOTCONN));
        }
        let total: usize = parts.iter().map(|b| b.as_ref().len()).sum();
        // Through TLS, writes always go through the queue, which the flush feeds to
        // rustls as it takes it (rustls buffers only so much).
        let direct = !defer && self.tls.is_none();
        let idle = self.writes.is_empty() && self.connect_waker.is_none();
        let mut written = 0;
        // (An empty write is done at once only with nothing queued before it.)
        let done = idle
            && (total == 0
                || direct && {
                    written = write_all_now(&mut self.transport, parts)?;
                    written == total
                });
        if done {
            return Ok(Written::Done(waker));
        }
        Ok(Written::Queued(self.enqueue(parts, written, waker)?))
    }

    /// Queues `parts` (from byte `skip` on) as one write request, with an optional
    /// waker for when it has gone out. Returns how much is queued now, or ENOMEM when
    /// there is no memory for the copy (an error value, not an abort).
    pub fn enqueue<B: AsRef<[u8]>>(
        &mut self,
        parts: &[B],
        skip: usize,
        waker: Option<Waker>,
    ) -> io::Result<usize> {
        let total: usize = parts.iter().map(|b| b.as_ref().len()).sum();
        let mut rest = Vec::new();
        rest.try_reserve_exact(total.saturating_sub(skip))
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
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
        self.writes.push_back(WriteReq {
            data: rest,
            written: 0,
            waker,
        });
        Ok(self.queued_bytes())
    }

    /// Writes as much of the queue as the descriptor takes, then the shutdown that
    /// waits for it. Returns the requests that finished (or failed).
    pub fn flush(&mut self) -> Vec<Completion> {
        let mut done = Vec::new();
        if !self.transport.is_connected() || self.connect_waker.is_some() {
            return done; // not connected yet; the writable event will come
        }
        let mut failure: Option<io::Error> = None;
        while let Some(req) = self.writes.front_mut() {
            if req.written < req.data.len() {
                let rest = &req.data[req.written..];
                let res = match self.tls.as_deref_mut() {
                    // Through TLS: feed rustls as much as it takes (it buffers up to a
                    // limit), sending its records as its buffer fills.
                    Some(conn) => super::tls::write_plain(&mut self.transport, conn, rest),
                    None => self.transport.write(rest),
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
                    // Through TLS, rustls took only part: the rest waits for writable.
                    if self.tls.is_some() {
                        break;
                    }
                    continue;
                }
            }
            let req = self.writes.pop_front().expect("front exists");
            done.extend(req.waker.map(|w| (w, None)));
        }
        if failure.is_none() {
            if let Some(conn) = self.tls.as_deref_mut() {
                if let Err(e) = super::tls::flush_tls(&mut self.transport, conn) {
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            let failure = Failure::from_io(&e);
            for req in self.writes.drain(..) {
                done.extend(req.waker.map(|w| (w, Some(failure.clone()))));
            }
        }
        if self.writes.is_empty() {
            // (Through TLS, shut down only once rustls has sent all it holds.)
            let tls_pending = self.tls.as_ref().is_some_and(|c| c.wants_write());
            if let Some(waker) = self.shutdown.take_if(|_| !tls_pending) {
                let res = self.shutdown_now();
                done.extend(waker.map(|w| (w, res.err().map(|e| Failure::from_io(&e)))));
            }
        }
        done
    }

    /// Ends the writing side now (after TLS's close_notify).
    pub fn shutdown_now(&mut self) -> io::Result<()> {
        if let Some(conn) = self.tls.as_deref_mut() {
            conn.send_close_notify();
            let _ = super::tls::flush_tls(&mut self.transport, conn);
        }
        self.transport.shutdown_write()
    }

    /// Accepts every connection waiting on this listener into its queue, until
    /// WouldBlock (edge-triggered). Returns how many it queued.
    ///
    /// Out of file descriptors (EMFILE, ENFILE), the connections would wait in the
    /// kernel's queue, which no further readiness event announces once it is full: the
    /// listener would never accept again. As libuv does, it closes the spare
    /// descriptor, accepts each waiting connection and closes it at once (the client
    /// sees its connection reset rather than hang), and takes the spare back.
    pub fn accept_all(&mut self, spare_fd: &mut Option<std::fs::File>) -> usize {
        let mut n = 0;
        loop {
            match self.transport.accept() {
                Ok(t) => {
                    self.accepted.push_back(t);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if retry_accept(&e) => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    let shed = self.shed_connections(spare_fd);
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

    /// Frees the spare descriptor, accepts and closes every waiting connection, then
    /// reserves the spare again. Returns how many it closed.
    fn shed_connections(&mut self, spare: &mut Option<std::fs::File>) -> usize {
        let Some(file) = spare.take() else {
            return 0;
        };
        drop(file);
        let mut shed = 0;
        loop {
            match self.transport.accept() {
                Ok(t) => {
                    drop(t);
                    shed += 1;
                }
                Err(e) if retry_accept(&e) => continue,
                Err(_) => break,
            }
        }
        *spare = std::fs::File::open("/dev/null").ok();
        shed
    }
}

/// Errors after which the next accept may succeed at once.
fn retry_accept(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
        || matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EPROTO))
}

/// Writes the slices until done or WouldBlock; returns how much went out.
fn write_all_now<B: AsRef<[u8]>>(t: &mut Transport, bufs: &[B]) -> io::Result<usize> {
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
            slices.push(IoSlice::new(&b[skip..]));
            skip = 0;
        }
        let res = if slices.len() == 1 {
            t.write(&slices[0])
        } else {
            t.write_vectored(&slices)
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

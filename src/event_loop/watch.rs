//! Watching descriptors the loop does not own: poll handles (`uv.new_poll(fd)`, an fd
//! of the user's, from ffi say) and fs_event handles (`uv.new_fs_event()`, a path
//! watched through inotify).
//!
//! mio is edge-triggered, libuv's poll handles are level-triggered: after a poll
//! callback, the loop asks poll(2) whether the descriptor is still ready, and if so
//! feeds the handle again next turn, so a callback that does not drain the
//! descriptor is called again, as with libuv.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::handle::HandleId;
use super::waker::Waker;
use super::Kind;
use super::LoopState;

/// A poll handle: the user's descriptor, the events watched ("r", "w"), the callback.
pub struct PollHandle {
    pub fd: RawFd,
    pub readable: bool,
    pub writable: bool,
    pub cb: Option<Waker>,
    registered: bool,
}

impl PollHandle {
    pub fn new(fd: RawFd) -> Self {
        PollHandle {
            fd,
            readable: false,
            writable: false,
            cb: None,
            registered: false,
        }
    }

    /// Is the descriptor still ready for what is watched (poll(2), no wait)? Returns
    /// the events as luv names them ("r", "w", "rw"), or None.
    pub fn ready_now(&self) -> Option<&'static str> {
        let mut events = 0;
        if self.readable {
            events |= libc::POLLIN;
        }
        if self.writable {
            events |= libc::POLLOUT;
        }
        let mut p = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        // SAFETY: one pollfd of ours, no wait.
        if unsafe { libc::poll(&mut p, 1, 0) } <= 0 {
            return None;
        }
        let r = p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && self.readable;
        let w = p.revents & libc::POLLOUT != 0 && self.writable;
        events_name(r, w)
    }
}

/// luv's names for readiness.
pub fn events_name(r: bool, w: bool) -> Option<&'static str> {
    match (r, w) {
        (true, true) => Some("rw"),
        (true, false) => Some("r"),
        (false, true) => Some("w"),
        (false, false) => None,
    }
}

/// An fs_event handle: the inotify descriptor watching one path.
pub struct FsEventHandle {
    inotify: Option<OwnedFd>,
    pub path: String,
    pub cb: Option<Waker>,
}

impl FsEventHandle {
    pub fn new() -> Self {
        FsEventHandle {
            inotify: None,
            path: String::new(),
            cb: None,
        }
    }
}

impl Default for FsEventHandle {
    fn default() -> Self {
        Self::new()
    }
}

/// One change inotify reported: the file's name (relative to a watched directory,
/// or the watched path's own name), and whether it was a rename (else a change).
pub struct FsChange {
    pub name: Vec<u8>,
    pub rename: bool,
}

impl LoopState {
    /// Starts (or changes) poll handle `id`: watch `readable`/`writable`, wake `cb`.
    pub fn poll_start(
        &mut self,
        id: HandleId,
        readable: bool,
        writable: bool,
        cb: Waker,
    ) -> std::io::Result<()> {
        let registry = self.poll.registry();
        let Some(Kind::Poll(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return Err(std::io::Error::from_raw_os_error(libc::EBADF));
        };
        let interest = match (readable, writable) {
            (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
            (false, true) => mio::Interest::WRITABLE,
            _ => mio::Interest::READABLE,
        };
        let mut source = mio::unix::SourceFd(&p.fd);
        if p.registered {
            registry.reregister(&mut source, mio::Token(id.key), interest)?;
        } else {
            registry.register(&mut source, mio::Token(id.key), interest)?;
            p.registered = true;
        }
        p.readable = readable;
        p.writable = writable;
        p.cb = Some(cb);
        self.handles.set_active(id, true);
        // Already ready (an edge that came before): look from the loop.
        self.defer(super::Task::Feed(id));
        Ok(())
    }

    /// Stops poll handle `id` (also when it closes).
    pub fn poll_stop(&mut self, id: HandleId) {
        let registry = self.poll.registry();
        if let Some(Kind::Poll(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) {
            if p.registered {
                let _ = registry.deregister(&mut mio::unix::SourceFd(&p.fd));
                p.registered = false;
            }
            p.cb = None;
        }
        self.handles.set_active(id, false);
    }

    /// Starts fs_event handle `id` on `path`.
    pub fn fs_event_start(&mut self, id: HandleId, path: &str, cb: Waker) -> std::io::Result<()> {
        self.fs_event_stop(id);
        let c_path = std::ffi::CString::new(path)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: inotify calls with a NUL-terminated path; the descriptor is ours.
        let fd = unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mask = libc::IN_MODIFY
                | libc::IN_ATTRIB
                | libc::IN_CREATE
                | libc::IN_DELETE
                | libc::IN_MOVED_FROM
                | libc::IN_MOVED_TO
                | libc::IN_DELETE_SELF
                | libc::IN_MOVE_SELF;
            if libc::inotify_add_watch(fd.as_raw_fd(), c_path.as_ptr(), mask) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            fd
        };
        self.poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            mio::Token(id.key),
            mio::Interest::READABLE,
        )?;
        if let Some(Kind::FsEvent(f)) = self.handles.get_mut(id).map(|h| &mut h.kind) {
            f.inotify = Some(fd);
            f.path = path.to_string();
            f.cb = Some(cb);
        }
        self.handles.set_active(id, true);
        Ok(())
    }

    /// Stops fs_event handle `id` (also when it closes).
    pub fn fs_event_stop(&mut self, id: HandleId) {
        let registry = self.poll.registry();
        if let Some(Kind::FsEvent(f)) = self.handles.get_mut(id).map(|h| &mut h.kind) {
            if let Some(fd) = f.inotify.take() {
                let _ = registry.deregister(&mut mio::unix::SourceFd(&fd.as_raw_fd()));
            }
            f.cb = None;
        }
        self.handles.set_active(id, false);
    }

    /// Reads what inotify reported for fs_event handle `id` (until WouldBlock).
    pub fn fs_changes(&mut self, id: HandleId) -> Vec<FsChange> {
        let Some(Kind::FsEvent(f)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return Vec::new();
        };
        let Some(fd) = &f.inotify else {
            return Vec::new();
        };
        let own_name = std::path::Path::new(&f.path)
            .file_name()
            .map(|n| n.as_encoded_bytes().to_vec())
            .unwrap_or_default();
        let mut changes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into our own buffer, within its length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let mut at = 0;
            let header = std::mem::size_of::<libc::inotify_event>();
            while at + header <= n as usize {
                // SAFETY: the kernel wrote whole events; read_unaligned copes with
                // the byte buffer's alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
                let name_bytes = &buf[at + header..at + header + ev.len as usize];
                let name: Vec<u8> = name_bytes.iter().copied().take_while(|&b| b != 0).collect();
                let rename = ev.mask
                    & (libc::IN_CREATE
                        | libc::IN_DELETE
                        | libc::IN_MOVED_FROM
                        | libc::IN_MOVED_TO
                        | libc::IN_DELETE_SELF
                        | libc::IN_MOVE_SELF)
                    != 0;
                changes.push(FsChange {
                    name: if name.is_empty() {
                        own_name.clone()
                    } else {
                        name
                    },
                    rename,
                });
                at += header + ev.len as usize;
            }
        }
        changes
    }
}

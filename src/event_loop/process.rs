//! Child processes: a process handle watches its child's exit through a pidfd.
//!
//! `pidfd_open(2)` gives a descriptor that turns readable when the child exits; it is
//! registered with mio under the handle's token like a socket, so an exit is one more
//! readiness event: the dispatch reaps the child (`waitpid`, which cannot block then)
//! and wakes the exit callback with (exit code, terminating signal). No SIGCHLD
//! handler is involved, and children spawned by other code are left alone.
//!
//! Spawning itself (the command, its stdio) is the binding's (bindings/process.rs).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::handle::HandleId;
use super::waker::Waker;
use super::Kind;
use super::LoopState;

pub struct ProcessHandle {
    pub pid: i32,
    pidfd: Option<OwnedFd>,
    pub exit_waker: Option<Waker>,
    /// (exit code, signal) once reaped.
    pub status: Option<(i64, i32)>,
}

impl ProcessHandle {
    pub fn new(pid: i32) -> Self {
        ProcessHandle {
            pid,
            pidfd: None,
            exit_waker: None,
            status: None,
        }
    }
}

/// A pidfd for `pid`.
fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor it returns is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl LoopState {
    /// Watches process handle `id`'s child for its exit; `waker` hears (code, signal).
    pub fn watch_process(&mut self, id: HandleId, waker: Option<Waker>) -> std::io::Result<()> {
        let Some(Kind::Process(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return Err(std::io::Error::from_raw_os_error(libc::EBADF));
        };
        let pidfd = pidfd_open(p.pid)?;
        self.poll.registry().register(
            &mut mio::unix::SourceFd(&pidfd.as_raw_fd()),
            mio::Token(id.key),
            mio::Interest::READABLE,
        )?;
        p.pidfd = Some(pidfd);
        p.exit_waker = waker;
        self.handles.set_active(id, true);
        Ok(())
    }

    /// The child of process handle `id` may have exited: reap it. Returns its waker
    /// with (code, signal), once.
    pub fn reap(&mut self, id: HandleId) -> Option<(Option<Waker>, i64, i32)> {
        let Some(Kind::Process(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return None;
        };
        if p.status.is_some() {
            return None;
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child, without blocking.
        let rc = unsafe { libc::waitpid(p.pid, &mut status, libc::WNOHANG) };
        if rc == 0 {
            return None; // a spurious wake-up: still running
        }
        let (code, signal) = if rc < 0 {
            (-1, 0) // reaped elsewhere (ECHILD): the status is lost
        } else if libc::WIFEXITED(status) {
            (libc::WEXITSTATUS(status) as i64, 0)
        } else if libc::WIFSIGNALED(status) {
            (0, libc::WTERMSIG(status))
        } else {
            return None; // stopped or continued: not an exit
        };
        p.status = Some((code, signal));
        if let Some(fd) = p.pidfd.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut mio::unix::SourceFd(&fd.as_raw_fd()));
        }
        let waker = p.exit_waker.take();
        self.handles.set_active(id, false);
        Some((waker, code, signal))
    }

    /// Closing a process handle: stop watching (the child runs on, as in libuv).
    pub fn unwatch_process(&mut self, id: HandleId) -> Option<Waker> {
        let Some(Kind::Process(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return None;
        };
        if let Some(fd) = p.pidfd.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut mio::unix::SourceFd(&fd.as_raw_fd()));
        }
        p.exit_waker.take()
    }
}

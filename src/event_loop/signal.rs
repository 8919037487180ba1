//! Signals: signal handles (`uv.new_signal`) through a self-pipe.
//!
//! ```text
//!   a signal arrives (any thread)      the loop thread
//!   ─────────────────────────────      ───────────────
//!   handler(): write(pipe, signum) ──> poll: the pipe's read end is readable
//!                                      dispatch: read the numbers, and wake every
//!                                      started signal handle watching each one
//! ```
//!
//! The handler does nothing but the one write(2), which is async-signal-safe. The
//! pipe is made, and registered with mio, when the first signal handle starts. While
//! any started handle watches a signal, Stardust's handler replaces the signal's
//! default action (SIGINT no longer ends the process); when the last stops, the
//! default is put back.

use std::sync::atomic::{AtomicI32, Ordering};

use super::handle::HandleId;
use super::waker::Waker;
use super::Kind;
use super::{LoopState, Task};

/// The mio token the self-pipe's read end is registered under.
pub const SIGNAL_TOKEN: mio::Token = mio::Token(usize::MAX - 2);

/// The self-pipe's write end, for the handler (-1 until made).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signum: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signum as u8;
        // SAFETY: write(2) is async-signal-safe; errno is saved and restored around
        // it, as a handler must. (A full pipe drops the byte: signals coalesce.)
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// A signal handle: the signal it watches while started, and who it wakes.
#[derive(Default)]
pub struct SignalHandle {
    pub signum: Option<i32>,
    pub waker: Option<Waker>,
    /// Stop after the first delivery (`start_oneshot`).
    pub oneshot: bool,
}

/// The loop's side of signals: the self-pipe's read end, once made, and the started
/// signal handles.
#[derive(Default)]
pub struct Signals {
    read_fd: Option<std::os::fd::OwnedFd>,
    started: Vec<(HandleId, i32)>,
}

/// The signals by their names, without "SIG".
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// luv's lower-case name of a signal ("sigint").
pub fn signal_name(signum: i32) -> String {
    match NAMES.iter().find(|(_, n)| *n == signum) {
        Some((name, _)) => format!("sig{}", name.to_lowercase()),
        None => format!("sig{signum}"),
    }
}

/// A signal's number from its name, any case, with or without "SIG" ("sigint",
/// "SIGINT", "int").
pub fn signal_number(name: &str) -> Option<i32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES.iter().find(|(n, _)| *n == bare).map(|(_, n)| *n)
}

fn set_handler(signum: i32, handler: libc::sighandler_t) -> std::io::Result<()> {
    // SAFETY: installs a handler that only writes to the self-pipe (or the default).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(signum, &sa, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl LoopState {
    /// Starts signal handle `id` watching `signum`.
    pub fn signal_start(
        &mut self,
        id: HandleId,
        signum: i32,
        waker: Waker,
        oneshot: bool,
    ) -> std::io::Result<()> {
        if self.signals.read_fd.is_none() {
            let mut fds = [0; 2];
            // SAFETY: pipe2 fills the two descriptors.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            self.poll.registry().register(
                &mut mio::unix::SourceFd(&fds[0]),
                SIGNAL_TOKEN,
                mio::Interest::READABLE,
            )?;
            PIPE_WRITE.store(fds[1], Ordering::Relaxed);
            // SAFETY: a descriptor pipe2 just made, now owned here.
            self.signals.read_fd = Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[0]) });
        }
        self.signal_stop(id);
        set_handler(signum, on_signal as *const () as libc::sighandler_t)?;
        if let Some(Kind::Signal(s)) = self.handles.get_mut(id).map(|h| &mut h.kind) {
            s.signum = Some(signum);
            s.waker = Some(waker);
            s.oneshot = oneshot;
        }
        self.signals.started.push((id, signum));
        self.handles.set_active(id, true);
        Ok(())
    }

    /// Stops signal handle `id` (also when it closes); the last handle of a signal
    /// puts its default action back.
    pub fn signal_stop(&mut self, id: HandleId) {
        let Some(Kind::Signal(s)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return;
        };
        s.waker = None;
        let Some(signum) = s.signum.take() else {
            return;
        };
        self.handles.set_active(id, false);
        self.signals.started.retain(|&(h, _)| h != id);
        if !self.signals.started.iter().any(|&(_, n)| n == signum) {
            let _ = set_handler(signum, libc::SIG_DFL);
        }
    }

    /// The self-pipe turned readable: the wake-ups of the handles watching each
    /// signal that came, with its name.
    pub fn signals_arrived(&mut self) -> Vec<(Waker, i32)> {
        let Some(fd) = &self.signals.read_fd else {
            return Vec::new();
        };
        let mut buf = [0u8; 64];
        let mut came = Vec::new();
        loop {
            // SAFETY: reads into our own buffer, within its length.
            let n = unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(fd),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n <= 0 {
                break; // drained (EAGAIN): edge-triggered, read until then
            }
            for &b in &buf[..n as usize] {
                if !came.contains(&(b as i32)) {
                    came.push(b as i32);
                }
            }
        }
        let mut wakes = Vec::new();
        let watching: Vec<(HandleId, i32)> = self.signals.started.clone();
        for (id, signum) in watching {
            if !came.contains(&signum) {
                continue;
            }
            let Some(Kind::Signal(s)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
                continue;
            };
            let waker = if s.oneshot {
                s.waker.take()
            } else {
                s.waker.as_ref().and_then(Waker::share)
            };
            if s.oneshot {
                self.signal_stop(id);
            }
            wakes.extend(waker.map(|w| (w, signum)));
        }
        wakes
    }
}

/// The task that tells a signal handle's waker that `signum` came.
pub fn signal_task(lua: &mlua::Lua, waker: Waker, signum: i32) -> mlua::Result<Task> {
    let args = mlua::IntoLuaMulti::into_lua_multi(signal_name(signum), lua)?;
    Ok(Task::Wake(waker, args))
}

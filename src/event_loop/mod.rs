//! The event loop: one thread, one mio `Poll`, one timer wheel, one slab of handles.
//!
//! It follows the pseudo-code from the luvit talk,
//!
//! ```text
//! for (;;) {
//!   nfds = poll(fds, maxfd, next_timer());
//!   if (nfds == 0) timer_callback();
//!   for (n = 0; n < nfds; ++n) callbacks[fd]();
//! }
//! ```
//!
//! spelled out in libuv's phases. One turn of [`EventLoop::run`]:
//!
//! ```text
//!        ┌─────────────────────────────┐
//!   ┌───>│ 1. timers    (due by now)   │  run_timers
//!   │    ├─────────────────────────────┤
//!   │    │ 2. pending   (deferred)     │  run_pending
//!   │    ├─────────────────────────────┤
//!   │    │ 2b. idle, 2c. prepare       │  run_phase: idle and prepare handles
//!   │    ├─────────────────────────────┤
//!   │    │ 3. poll      (wait for I/O) │  poll_io: timeout = 0 if work is queued
//!   │    │                             │           (or an idle handle is active),
//!   │    │                             │           else time to next timer, else forever
//!   │    ├─────────────────────────────┤
//!   │    │ 4. dispatch  (ready tokens) │  dispatch_ready
//!   │    ├─────────────────────────────┤
//!   │    │ 4b. pool     (done work)    │  run_completions
//!   │    ├─────────────────────────────┤
//!   │    │ 5. check     (setImmediate) │  run_check (then the check handles)
//!   │    ├─────────────────────────────┤
//!   │    │ 6. closing   (free handles) │  run_closing
//!   │    └──────────────┬──────────────┘
//!   └── alive? ─────────┘  (a referenced active handle, or queued work)
//! ```
//!
//! Why this order:
//! - Timers run first so a timer that fell due while the previous turn's callbacks ran
//!   is not delayed by a whole poll.
//! - Pending work (callbacks that a binding promised to call "later", such as a write
//!   that finished at once) runs before poll, so poll never sleeps while one is queued.
//! - The thread pool's finished work runs right after the ready tokens: its wake-up
//!   came through poll like any I/O (libuv delivers it as an async handle's I/O).
//! - setImmediate runs right after I/O, as in node: "after this round of I/O".
//! - Closing runs last, so a handle closed by any callback in this turn is freed only
//!   once nothing in the turn can still see its events; its slot is reused only after.
//!
//! Lua never runs while this module holds a borrow of [`LoopState`]: every phase takes
//! what it needs out of the state, drops the borrow, then resumes coroutines (see
//! `scheduler.rs`). That is what lets a callback call straight back into `uv`.

pub mod errors;
pub mod handle;
pub mod inbox;
pub mod io;
pub mod phases;
pub mod pool;
pub mod process;
pub mod scheduler;
pub mod signal;
pub mod stream;
#[cfg(test)]
mod tests;
pub mod timer_wheel;
pub mod tls;
pub mod udp;
pub mod waker;
pub mod watch;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Function, Lua, MultiValue, Result, Thread};

use handle::HandleId;
use timer_wheel::{EntryKey, TimerWheel};
use waker::Waker;

pub use scheduler::Hooks;

/// What a handle is: one variant per kind, each kind's state in its own file.
pub enum Kind {
    Timer(Timer),
    /// tcp, pipe and tty handles: one stream core (stream.rs).
    Stream(Box<stream::Stream>),
    /// idle, prepare and check handles (phases.rs).
    Phase(phases::PhaseHandle),
    Signal(signal::SignalHandle),
    Process(process::ProcessHandle),
    Udp(Box<udp::Udp>),
    Async(inbox::AsyncHandle),
    Poll(watch::PollHandle),
    FsEvent(watch::FsEventHandle),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Timer(_) => "timer",
            Kind::Stream(s) => s.kind_name(),
            Kind::Phase(p) => p.phase.name(),
            Kind::Signal(_) => "signal",
            Kind::Process(_) => "process",
            Kind::Udp(_) => "udp",
            Kind::Async(_) => "async",
            Kind::Poll(_) => "poll",
            Kind::FsEvent(_) => "fs_event",
        }
    }
}

#[derive(Default)]
pub struct Timer {
    pub repeat: u64,
    /// The wheel entry while armed. Its sequence number tells a firing that belongs to
    /// this arming from one left over from before a stop/start in the same batch.
    pub entry: Option<(EntryKey, u64)>,
    pub waker: Option<Waker>,
}

/// The slab of handles, holding the loop's kinds.
pub type Handles = handle::Handles<Kind>;

/// Work queued for the loop to do with no borrow held.
pub enum Task {
    /// Run a callback in a pooled coroutine.
    Call(Function, MultiValue),
    /// Resume a suspended coroutine.
    Resume(Thread, MultiValue),
    /// Wake whoever a binding registered (looked up in the registry when run).
    Wake(Waker, MultiValue),
    /// Wake a waker with a failure: a callback gets luv's error name, a coroutine is
    /// resumed with `("ECODE: message", code)` for its `co_*` form to return as `nil,
    /// err, code` (a closed handle's pending requests get ECANCELED).
    Fail(Waker, errors::Failure),
    /// Run a callback kept in the registry with one argument (setImmediate, nextTick).
    CallRef(waker::LuaRef, Option<waker::LuaRef>),
    /// Act as if the handle had been reported ready (libuv's `uv__io_feed`): used when a
    /// reader starts on a socket whose edge was already consumed.
    Feed(HandleId),
}

/// Everything the loop owns. Bindings borrow it briefly; the loop never holds the borrow
/// while Lua runs.
pub struct LoopState {
    poll: mio::Poll,
    events: mio::Events,
    handles: Handles,
    timers: TimerWheel<(HandleId, u64)>,
    timer_seq: u64,
    start: Instant,
    /// The cached clock (ms since the loop started), as libuv's `loop->time`: read once
    /// per turn so every timer started in the turn measures from the same instant.
    now: u64,
    pending: VecDeque<Task>,
    /// setImmediate callbacks for the check phase.
    immediates: VecDeque<Task>,
    /// process.nextTick callbacks: drained after every callback or resume returns.
    ticks: VecDeque<Task>,
    closing: Vec<HandleId>,
    /// A descriptor kept in reserve, given up to shed connections when accept runs out
    /// of descriptors (see `stream.rs`, `accept_all`).
    spare_fd: Option<std::fs::File>,
    /// Handles with writes queued by `queue_write`, flushed when the running task returns.
    dirty: Vec<HandleId>,
    /// Coroutines waiting for the loop to run out of work (tap waits here between tests).
    idle: VecDeque<Thread>,
    /// One read buffer for every socket: a read copies straight into a Lua string.
    read_buf: Vec<u8>,
    pool: Vec<Thread>,
    /// The started idle, prepare and check handles, by phase (phases.rs).
    phases: [Vec<HandleId>; 3],
    /// The self-pipe signals arrive on (signal.rs).
    signals: signal::Signals,
    /// The thread pool (pool.rs), for fs requests, getaddrinfo and queue_work.
    threadpool: pool::Pool,
    /// Where other threads post to the loop (inbox.rs); made on first use.
    inbox: Option<std::sync::Arc<inbox::Inbox>>,
    stop_flag: bool,
    trace: bool,
}

pub type SharedState = Rc<RefCell<LoopState>>;

impl LoopState {
    pub fn new() -> std::io::Result<Self> {
        Ok(LoopState {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(256),
            handles: Handles::default(),
            timers: TimerWheel::new(),
            timer_seq: 0,
            start: Instant::now(),
            now: 0,
            pending: VecDeque::new(),
            immediates: VecDeque::new(),
            ticks: VecDeque::new(),
            closing: Vec::new(),
            idle: VecDeque::new(),
            dirty: Vec::new(),
            spare_fd: None,
            read_buf: vec![0; 64 * 1024],
            pool: Vec::new(),
            phases: Default::default(),
            signals: Default::default(),
            threadpool: pool::Pool::default(),
            inbox: None,
            stop_flag: false,
            trace: std::env::var("STARDUST_TRACE").is_ok_and(|v| v.split(',').any(|p| p == "loop")),
        })
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn update_time(&mut self) {
        self.now = self.start.elapsed().as_millis() as u64;
    }

    pub fn stop(&mut self) {
        self.stop_flag = true;
    }

    /// The slab of handles.
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    pub fn handles_mut(&mut self) -> &mut Handles {
        &mut self.handles
    }

    /// The registry descriptors are watched in (their token: the handle's slab key).
    pub fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// Handle `id`'s kind, with the loop's read buffer (a read lands in the buffer
    /// while the handle is borrowed).
    pub fn kind_and_read_buf(&mut self, id: HandleId) -> Option<(&mut Kind, &mut [u8])> {
        let kind = self.handles.get_mut(id).map(|h| &mut h.kind)?;
        Some((kind, &mut self.read_buf))
    }

    /// The deadline (loop time, ms) of a timer's wheel entry.
    pub fn timer_deadline(&self, key: timer_wheel::EntryKey) -> Option<u64> {
        self.timers.deadline(key)
    }

    /// Queues a setImmediate callback for the check phase.
    pub fn set_immediate(&mut self, task: Task) {
        self.immediates.push_back(task);
    }

    /// Queues work to run as soon as the running callback returns (process.nextTick).
    pub fn next_tick(&mut self, task: Task) {
        self.ticks.push_back(task);
    }

    /// Resumes `co` once the loop has nothing else to do (tap, between tests).
    pub fn wait_idle(&mut self, co: Thread) {
        self.idle.push_back(co);
    }

    pub fn cancel_idle(&mut self, co: &Thread) {
        self.idle.retain(|t| t != co);
    }

    /// Queues work for the pending phase: a callback a binding promised to run later.
    pub fn defer(&mut self, task: Task) {
        self.pending.push_back(task);
    }

    /// Flushes this handle's queued writes when the running task returns.
    pub fn mark_dirty(&mut self, id: HandleId) {
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
    }

    /// Sends now what the sockets take of the writes queued for the end of the running
    /// task, without waiting: for an exit, which ends the task before its end.
    pub fn flush_dirty_now(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            // (What a socket does not take, or fails to send, is lost with the process.)
            let _ = self.flush_writes(id);
        }
    }

    /// (Re)arms a timer handle to fire `timeout` ms from the cached clock.
    pub fn arm_timer(&mut self, id: HandleId, timeout: u64) {
        self.disarm_timer(id);
        self.timer_seq += 1;
        let seq = self.timer_seq;
        let key = self
            .timers
            .insert(self.now.saturating_add(timeout), (id, seq));
        if let Some(Kind::Timer(t)) = self.handles.get_mut(id).map(|h| &mut h.kind) {
            t.entry = Some((key, seq));
        }
        self.handles.set_active(id, true);
    }

    pub fn disarm_timer(&mut self, id: HandleId) {
        if let Some(Kind::Timer(t)) = self.handles.get_mut(id).map(|h| &mut h.kind) {
            if let Some((key, _)) = t.entry.take() {
                self.timers.cancel(key);
            }
        }
        self.handles.set_active(id, false);
    }

    /// `uv.close`: deregister now, free in the closing phase. Returns false if the
    /// handle was already closing.
    pub fn close(&mut self, id: HandleId, cb: Option<waker::LuaRef>) -> bool {
        let Some(h) = self.handles.get_mut(id) else {
            return false;
        };
        let mut cancelled: Vec<Waker> = Vec::new();
        match &mut h.kind {
            Kind::Timer(t) => {
                // A coroutine sleeping on an armed timer is woken, so it cannot hang.
                if let Some((key, _)) = t.entry.take() {
                    self.timers.cancel(key);
                    cancelled.extend(t.waker.take().filter(|w| matches!(w, Waker::Thread(_))));
                }
            }
            Kind::Stream(stream) => stream.take_waiters(self.poll.registry(), &mut cancelled),
            Kind::Phase(_) => self.phase_stop(id),
            Kind::Signal(_) => self.signal_stop(id),
            Kind::Udp(udp) => udp.take_waiters(self.poll.registry(), &mut cancelled),
            Kind::Async(a) => drop(a.cb.take()),
            Kind::Poll(_) => self.poll_stop(id),
            Kind::FsEvent(_) => self.fs_event_stop(id),
            // As libuv, a process closed before its exit never calls its exit callback;
            // a coroutine waiting for the exit is woken (ECANCELED), so it cannot hang.
            Kind::Process(_) => cancelled.extend(
                self.unwatch_process(id)
                    .filter(|w| matches!(w, Waker::Thread(_))),
            ),
        }
        // Whoever waits on the handle hears ECANCELED, as libuv's requests do.
        for w in cancelled {
            self.pending
                .push_back(Task::Fail(w, errors::Failure::canceled()));
        }
        self.handles.mark_closing(id, cb);
        self.closing.push(id);
        true
    }

    /// Runs `work` on the thread pool; `finish` makes the values `waker` gets from its
    /// output, on the loop thread, in the completions phase (see pool.rs).
    pub fn submit<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
        finish: impl FnOnce(&Lua, T) -> Result<MultiValue> + 'static,
        waker: Waker,
    ) -> std::io::Result<()> {
        let inbox = self.inbox()?;
        self.threadpool.submit(&inbox, work, finish, waker)
    }

    /// The loop's inbox, made on first use.
    pub fn inbox(&mut self) -> std::io::Result<std::sync::Arc<inbox::Inbox>> {
        if self.inbox.is_none() {
            self.inbox = Some(inbox::Inbox::new(self.poll.registry())?);
        }
        Ok(self.inbox.clone().expect("made above"))
    }

    /// Is there anything left that could ever run? (libuv's `uv__loop_alive`.)
    fn alive(&self) -> bool {
        self.handles.active_refs() > 0 || self.has_queued_work() || self.threadpool.pending() > 0
    }

    fn has_queued_work(&self) -> bool {
        !self.pending.is_empty()
            || !self.immediates.is_empty()
            || !self.ticks.is_empty()
            || !self.closing.is_empty()
    }
}

/// The runner: the Lua state plus the loop state it drives.
pub struct EventLoop {
    pub lua: Lua,
    pub state: SharedState,
    hooks: Hooks,
    /// A coroutine that never runs: its stack is where the loop reads the registry
    /// through the raw C API (see `resume_key`).
    reader: mlua::Thread,
}

impl EventLoop {
    pub fn new(lua: Lua, state: SharedState, hooks: Hooks) -> Result<Self> {
        let reader = lua.create_thread(hooks.worker.clone())?;
        Ok(EventLoop {
            lua,
            state,
            hooks,
            reader,
        })
    }

    /// Runs until nothing is left to do (or `uv.stop()`).
    pub fn run(&self) -> Result<()> {
        loop {
            self.update_time();
            self.run_timers()?;
            self.run_pending()?;
            self.run_phase(phases::Phase::Idle)?;
            self.run_phase(phases::Phase::Prepare)?;
            self.poll_io()?;
            self.dispatch_ready()?;
            self.run_completions()?;
            self.run_check()?;
            self.run_closing()?;
            let (stop, alive) = {
                let st = self.state.borrow();
                (st.stop_flag, st.alive())
            };
            if stop {
                // As libuv: the flag is spent once it has stopped one run.
                self.state.borrow_mut().stop_flag = false;
                return Ok(());
            }
            if !alive {
                // Out of work: wake one coroutine that asked to be told (`native.wait_idle`),
                // or end the loop.
                let waiter = self.state.borrow_mut().idle.pop_front();
                match waiter {
                    Some(t) => self.run_task(Task::Resume(t, MultiValue::new()))?,
                    None => return Ok(()),
                }
            }
        }
    }

    fn update_time(&self) {
        self.state.borrow_mut().update_time();
    }

    /// Phase 1: fire every timer whose deadline is at or before the cached clock.
    /// Timers started by these callbacks land in the wheel and wait for the next turn,
    /// even with a 0 ms timeout, so a timer loop cannot starve I/O.
    fn run_timers(&self) -> Result<()> {
        let mut due = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            let now = st.now;
            st.timers.poll_expired(now, &mut due);
        }
        for (id, seq) in due {
            let task = {
                let mut st = self.state.borrow_mut();
                let now = st.now;
                let Some(Kind::Timer(t)) = st.handles.get_mut(id).map(|h| &mut h.kind) else {
                    continue;
                };
                // A timer stopped or restarted by an earlier callback in this batch has a
                // different (or no) sequence number now: this firing is stale.
                if t.entry.map(|(_, s)| s) != Some(seq) {
                    continue;
                }
                t.entry = None;
                let repeat = t.repeat;
                // The waker stays with the timer (it may repeat): fetch what it names.
                let task = match &t.waker {
                    Some(Waker::Callback(k)) => {
                        Some(Task::Call(self.lua.registry_value(k)?, MultiValue::new()))
                    }
                    Some(Waker::Thread(k)) => {
                        Some(Task::Resume(self.lua.registry_value(k)?, MultiValue::new()))
                    }
                    Some(Waker::SharedThread(k)) => {
                        Some(Task::Resume(self.lua.registry_value(k)?, MultiValue::new()))
                    }
                    None => None,
                };
                if repeat > 0 {
                    // Re-arm before the callback, as libuv does, so the callback may stop it.
                    st.timer_seq += 1;
                    let seq = st.timer_seq;
                    let key = st.timers.insert(now + repeat, (id, seq));
                    if let Some(Kind::Timer(t)) = st.handles.get_mut(id).map(|h| &mut h.kind) {
                        t.entry = Some((key, seq));
                    }
                } else {
                    st.handles.set_active(id, false);
                }
                if st.trace {
                    eprintln!("[loop] timer {}:{} fired at {now} ms", id.key, id.gen);
                }
                task
            };
            if let Some(task) = task {
                self.run_task(task)?;
            }
        }
        Ok(())
    }

    /// Phase 2: work deferred by bindings. Work queued while this runs waits for the next
    /// turn, so the phase always ends.
    fn run_pending(&self) -> Result<()> {
        let queued = self.state.borrow().pending.len();
        for _ in 0..queued {
            let task = self.state.borrow_mut().pending.pop_front();
            match task {
                Some(task) => self.run_task(task)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Phase 3: wait for I/O, no longer than until the next timer.
    fn poll_io(&self) -> Result<()> {
        let mut st = self.state.borrow_mut();
        let timeout = if st.stop_flag || st.has_queued_work() || st.idling() {
            Some(Duration::ZERO)
        } else if !st.alive() {
            // Nothing can wake us: don't block (the alive check ends the loop).
            Some(Duration::ZERO)
        } else {
            st.timers
                .next_expiration()
                .map(|at| Duration::from_millis(at.saturating_sub(st.now)))
        };
        if st.trace {
            eprintln!(
                "[loop] poll, timeout {:?}, {} handles",
                timeout,
                st.handles.len()
            );
        }
        let LoopState { poll, events, .. } = &mut *st;
        match poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(mlua::Error::external(e)),
        }
        // Poll may have slept: refresh the clock before anything looks at it.
        st.update_time();
        Ok(())
    }

    /// Phase 4: run the callbacks of the ready tokens.
    fn dispatch_ready(&self) -> Result<()> {
        let ready: Vec<(usize, bool, bool, bool)> = {
            let st = self.state.borrow();
            st.events
                .iter()
                .map(|e| {
                    // Errors and hang-ups are surfaced by the next read or write syscall.
                    let broken = e.is_error() || e.is_read_closed() || e.is_write_closed();
                    (
                        e.token().0,
                        e.is_readable() || broken,
                        e.is_writable() || broken,
                        broken,
                    )
                })
                .collect()
        };
        for (key, readable, writable, hup) in ready {
            if key == signal::SIGNAL_TOKEN.0 {
                self.signals_ready()?;
                continue;
            }
            // A callback earlier in this batch may have closed the handle.
            let Some(id) = self.state.borrow().handles.by_token(key) else {
                continue;
            };
            if self.state.borrow().trace {
                eprintln!("[loop] token {key} ready (r={readable} w={writable})");
            }
            if hup {
                if let Some(stream) = self.state.borrow_mut().stream(id) {
                    stream.hup = true;
                }
            }
            self.on_ready(id, readable, writable)?;
        }
        Ok(())
    }

    /// Signals came (the self-pipe is readable): wake their handles, with each
    /// signal's name.
    fn signals_ready(&self) -> Result<()> {
        let wakes = self.state.borrow_mut().signals_arrived();
        for (waker, signum) in wakes {
            self.run_task(signal::signal_task(&self.lua, waker, signum)?)?;
        }
        Ok(())
    }

    /// Phase 4b: the requests the thread pool finished (fs, getaddrinfo, queue_work):
    /// their outputs become Lua values here, on the loop thread, and their callbacks
    /// run (or coroutines resume) in the order the work finished.
    /// (Then the async handles' sends, from any thread, in the order they came.)
    fn run_completions(&self) -> Result<()> {
        let done = self.state.borrow_mut().threadpool.take_done();
        for (finish, output, waker) in done {
            if self.state.borrow().trace {
                eprintln!("[loop] pool request done");
            }
            let args = finish(&self.lua, output)?;
            self.run_task(Task::Wake(waker, args))?;
        }
        let sends = match &self.state.borrow().inbox {
            Some(inbox) => inbox.take_sends(),
            None => return Ok(()),
        };
        for (id, values) in sends {
            let waker = match self.state.borrow().handles.get(id).map(|h| &h.kind) {
                Some(Kind::Async(a)) => a.cb.as_ref().and_then(Waker::share),
                _ => None, // closed meanwhile
            };
            if let Some(w) = waker {
                let args = inbox::plain_values(&self.lua, values)?;
                self.run_task(Task::Wake(w, args))?;
            }
        }
        Ok(())
    }

    /// Phase 5: setImmediate callbacks queued before this phase began.
    /// (Then the check handles, as libuv's check phase.)
    fn run_check(&self) -> Result<()> {
        let batch = std::mem::take(&mut self.state.borrow_mut().immediates);
        for task in batch {
            self.run_task(task)?;
        }
        self.run_phase(phases::Phase::Check)
    }

    /// Phases 2b, 2c and 5's check handles: the callbacks of the started idle,
    /// prepare or check handles. One started by a callback of the phase waits for the
    /// next turn; one stopped by an earlier callback of the phase does not run.
    fn run_phase(&self, phase: phases::Phase) -> Result<()> {
        let ids = self.state.borrow().phase_ids(phase);
        for id in ids {
            let task = self.state.borrow().phase_task(id);
            if let Some(task) = task {
                self.run_task(task)?;
            }
        }
        Ok(())
    }

    /// Phase 6: free the slots of closed handles, then run their close callbacks.
    fn run_closing(&self) -> Result<()> {
        let closing = std::mem::take(&mut self.state.borrow_mut().closing);
        for id in closing {
            let cb = {
                let mut st = self.state.borrow_mut();
                if st.trace {
                    eprintln!("[loop] handle {}:{} closed", id.key, id.gen);
                }
                // Dropping the handle closes its socket.
                st.handles.remove(id).and_then(|h| h.close_cb)
            };
            if let Some(cb) = cb {
                self.run_task(Task::Wake(Waker::Callback(Rc::new(cb)), MultiValue::new()))?;
            }
        }
        Ok(())
    }
}

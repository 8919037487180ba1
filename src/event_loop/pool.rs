//! The thread pool: blocking work (fs requests, getaddrinfo, `uv.queue_work`) runs
//! here, off the loop thread.
//!
//! ```text
//!   loop thread                          pool threads (UV_THREADPOOL_SIZE, 4)
//!   ───────────                          ────────────
//!   binding: submit(work, finish, waker)
//!     work ──── jobs channel ──────────> a thread takes it, runs work()
//!                                        (plain Rust: no Lua state of the loop's)
//!     poll wakes  <── the inbox (inbox.rs) ──── the result, boxed
//!   run(): the completions step takes each result, `finish` turns it into Lua
//!   values, and the request's waker runs (a callback) or resumes (a coroutine).
//! ```
//!
//! The threads start on the first submission, so a process that never blocks pays
//! nothing for them. A pool thread never touches the loop's Lua state: `work` returns
//! plain Rust values, and only `finish`, on the loop thread, makes Lua values of them.
//! A pending request keeps the loop alive, as libuv's do.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use mlua::{Lua, MultiValue};

use super::inbox::{Inbox, Output};
use super::waker::Waker;

type Job = (u64, Box<dyn FnOnce() -> Output + Send>);
/// Turns a job's output into the values its waker gets, on the loop thread.
pub type Finish = Box<dyn FnOnce(&Lua, Output) -> mlua::Result<MultiValue>>;

/// The output of work that panicked.
struct Panicked;

/// A request whose work is running (or queued) on the pool.
struct Pending {
    finish: Finish,
    waker: Waker,
}

/// What the pool's threads share: the jobs to take, and the inbox for their outputs.
struct Shared {
    jobs: Mutex<Receiver<Job>>,
    inbox: Arc<Inbox>,
}

#[derive(Default)]
pub struct Pool {
    /// None until the first submission starts the threads.
    jobs: Option<Sender<Job>>,
    shared: Option<Arc<Shared>>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
}

/// The pool's size: UV_THREADPOOL_SIZE (1 to 1024), or 4.
pub fn size() -> usize {
    std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(4, |n| n.clamp(1, 1024))
}

impl Pool {
    /// Requests submitted and not yet finished.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Runs `work` on a pool thread; when it is done, `finish` makes the Lua values
    /// `waker` gets, on the loop thread.
    pub fn submit<T: Send + 'static>(
        &mut self,
        inbox: &Arc<Inbox>,
        work: impl FnOnce() -> T + Send + 'static,
        finish: impl FnOnce(&Lua, T) -> mlua::Result<MultiValue> + 'static,
        waker: Waker,
    ) -> std::io::Result<()> {
        if self.jobs.is_none() {
            self.start(inbox)?;
        }
        let id = self.next_id;
        self.next_id += 1;
        // (A panic in `work` is caught, and its request fails with EIO, rather than
        // take a pool thread down and leave the request waiting forever.)
        let job: Box<dyn FnOnce() -> Output + Send> =
            Box::new(
                move || match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
                    Ok(v) => Box::new(v) as Output,
                    Err(_) => Box::new(Panicked) as Output,
                },
            );
        let finish: Finish = Box::new(move |lua, out| match out.downcast::<T>() {
            Ok(v) => finish(lua, *v),
            Err(_) => mlua::IntoLuaMulti::into_lua_multi(
                ("EIO: the work failed (it panicked)", "EIO"),
                lua,
            ),
        });
        self.jobs
            .as_ref()
            .expect("started above")
            .send((id, job))
            .map_err(|_| std::io::Error::other("the thread pool has stopped"))?;
        self.pending.insert(id, Pending { finish, waker });
        Ok(())
    }

    fn start(&mut self, inbox: &Arc<Inbox>) -> std::io::Result<()> {
        let (tx, rx) = channel::<Job>();
        let shared = Arc::new(Shared {
            jobs: Mutex::new(rx),
            inbox: inbox.clone(),
        });
        for i in 0..size() {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("stardust-pool-{i}"))
                // Enough for a LuaJIT state (queue_work) and getaddrinfo.
                .stack_size(512 * 1024)
                .spawn(move || worker(&shared))?;
        }
        self.jobs = Some(tx);
        self.shared = Some(shared);
        Ok(())
    }

    /// Takes the finished requests: each one's finish and waker, in the order they
    /// finished.
    pub fn take_done(&mut self) -> Vec<(Finish, Output, Waker)> {
        let Some(shared) = &self.shared else {
            return Vec::new();
        };
        let done = shared.inbox.take_done();
        done.into_iter()
            .filter_map(|(id, out)| self.pending.remove(&id).map(|p| (p.finish, out, p.waker)))
            .collect()
    }
}

/// A pool thread: take a job, run it, hand the output back and wake the loop.
fn worker(shared: &Shared) {
    loop {
        let job = {
            let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.recv()
        };
        let Ok((id, work)) = job else {
            return; // the loop is gone
        };
        shared.inbox.post_done(id, work());
    }
}

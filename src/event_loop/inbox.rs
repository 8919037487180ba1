//! The inbox: what other threads hand the loop thread, under its one `mio::Waker`
//! (mio allows one per Poll).
//!
//! Two kinds of mail come in: the outputs of the thread pool's work (pool.rs), and
//! the values of `async:send(...)` from any thread (an async handle). A sender
//! pushes its mail and wakes poll; the loop takes it all in its completions step.
//! The inbox is made on first use, so a process with no other thread has none.

use std::any::Any;
use std::sync::{Arc, Mutex};

use super::handle::HandleId;

/// The mio token the inbox's wake-ups come on (slab keys never get this high).
pub const INBOX_TOKEN: mio::Token = mio::Token(usize::MAX - 1);

/// A Lua value that can cross threads: what async sends, work and threads pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Plain {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Vec<u8>),
    /// An async handle, sent to a thread so that it can call `send` (luv's way).
    Async(AsyncRef),
}

/// An async handle as another thread holds it: where to post, and which handle.
#[derive(Clone, Debug)]
pub struct AsyncRef {
    pub inbox: Arc<Inbox>,
    pub id: HandleId,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

impl PartialEq for AsyncRef {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.inbox, &other.inbox)
    }
}

impl AsyncRef {
    /// `async:send(...)`, from any thread.
    pub fn send(&self, values: Vec<Plain>) -> std::io::Result<()> {
        self.inbox.post_send(self.id, values)
    }
}

pub type Output = Box<dyn Any + Send>;

/// An async handle (`uv.new_async(cb)`): who its sends wake. It is active from the
/// start, as libuv's: it keeps the loop alive until closed (or unref'd).
#[derive(Default)]
pub struct AsyncHandle {
    pub cb: Option<super::waker::Waker>,
}

impl Plain {
    /// The Lua value, on the loop thread (an async handle sent back becomes nil).
    pub fn into_lua(self, lua: &mlua::Lua) -> mlua::Result<mlua::Value> {
        Ok(match self {
            Plain::Nil | Plain::Async(_) => mlua::Value::Nil,
            Plain::Bool(b) => mlua::Value::Boolean(b),
            Plain::Int(n) => mlua::Value::Integer(n as _),
            Plain::Num(n) => mlua::Value::Number(n),
            Plain::Str(s) => mlua::Value::String(lua.create_string(s)?),
        })
    }
}

/// The Lua values of a list of plain ones.
pub fn plain_values(lua: &mlua::Lua, values: Vec<Plain>) -> mlua::Result<mlua::MultiValue> {
    values.into_iter().map(|v| v.into_lua(lua)).collect()
}

pub struct Inbox {
    done: Mutex<Vec<(u64, Output)>>,
    sends: Mutex<Vec<(HandleId, Vec<Plain>)>>,
    waker: mio::Waker,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inbox {
    pub fn new(registry: &mio::Registry) -> std::io::Result<Arc<Inbox>> {
        Ok(Arc::new(Inbox {
            done: Mutex::new(Vec::new()),
            sends: Mutex::new(Vec::new()),
            waker: mio::Waker::new(registry, INBOX_TOKEN)?,
        }))
    }

    /// A pool thread finished job `id`.
    pub fn post_done(&self, id: u64, out: Output) {
        lock(&self.done).push((id, out));
        let _ = self.waker.wake();
    }

    /// Async handle `id` was sent `values`.
    pub fn post_send(&self, id: HandleId, values: Vec<Plain>) -> std::io::Result<()> {
        lock(&self.sends).push((id, values));
        self.waker.wake()
    }

    pub fn take_done(&self) -> Vec<(u64, Output)> {
        std::mem::take(&mut *lock(&self.done))
    }

    pub fn take_sends(&self) -> Vec<(HandleId, Vec<Plain>)> {
        std::mem::take(&mut *lock(&self.sends))
    }
}

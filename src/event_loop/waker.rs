//! Who the loop wakes when something finishes, and how it keeps them across turns.

use std::rc::Rc;

use mlua::RegistryKey;

/// A Lua value the loop keeps across turns (a callback, a waiting coroutine). It lives
/// in the Lua registry rather than on mlua's reference stack, which LuaJIT caps at about
/// 65,000 slots: a million pending timers would overflow it.
pub type LuaRef = RegistryKey;

/// Who to tell when something finishes: a callback to run in a pooled coroutine, or a
/// suspended coroutine to resume.
#[derive(Debug)]
pub enum Waker {
    /// A callback, run in a coroutine of its own. (Shared: a handle may keep one to
    /// wake with again and again, as an idle HTTP connection's `on_readable`.)
    Callback(Rc<LuaRef>),
    /// A coroutine to resume.
    Thread(LuaRef),
    /// A coroutine a handle keeps to resume again and again (http.server's
    /// connection coroutine, as its `on_readable`).
    SharedThread(Rc<LuaRef>),
}

impl Waker {
    /// Another waker for the same callback or coroutine, if this one is shared.
    pub fn share(&self) -> Option<Waker> {
        match self {
            Waker::Callback(k) => Some(Waker::Callback(k.clone())),
            Waker::SharedThread(k) => Some(Waker::SharedThread(k.clone())),
            Waker::Thread(_) => None,
        }
    }
}

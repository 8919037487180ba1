//! Idle, prepare and check handles: `uv.new_idle()`, `uv.new_prepare()`,
//! `uv.new_check()`, each with `start(cb)` and `stop()`, as luv has them. The loop
//! runs their callbacks at their phase of every turn (event_loop/phases.rs).

use mlua::{Lua, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv, LuvHandle};
use crate::event_loop::io::repeating_waker_from;
use crate::event_loop::phases::{Phase, PhaseHandle};
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_idle_t`: runs before poll, and keeps poll from waiting.
    Idle,
    "idle"
);
luv_kind!(
    /// `uv_prepare_t`: runs right before poll.
    Prepare,
    "prepare"
);
luv_kind!(
    /// `uv_check_t`: runs right after the turn's I/O.
    Check,
    "check"
);

macro_rules! phase_userdata {
    ($name:ident) => {
        impl UserData for $name {
            fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
                super::handle::add_methods(methods);
                methods.add_method("start", |lua, this, cb: Value| {
                    start(lua, this.handle(), cb)
                });
                methods.add_method("stop", |_, this, ()| stop(this.handle()));
            }
        }
    };
}
phase_userdata!(Idle);
phase_userdata!(Prepare);
phase_userdata!(Check);

/// `start(cb)`: cb runs at the phase of every turn; with a coroutine in its place, the
/// coroutine is resumed there each turn (while it is suspended).
fn start(lua: &Lua, this: &LuvHandle, cb: Value) -> Result<i32> {
    let cb = repeating_waker_from(lua, cb, &format!("{}_start", this.kind))?;
    this.ensure_open("start")?;
    let mut st = this.state.borrow_mut();
    st.phase_start(this.id, cb);
    Ok(0)
}

fn stop(this: &LuvHandle) -> Result<i32> {
    this.state.borrow_mut().phase_stop(this.id);
    Ok(0)
}

/// `uv.new_idle()`, `uv.new_prepare()` or `uv.new_check()`.
pub fn new(lua: &Lua, state: &SharedState, phase: Phase) -> Result<mlua::AnyUserData> {
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Phase(PhaseHandle { phase, cb: None }));
    match phase {
        Phase::Idle => Idle::create(lua, state, id),
        Phase::Prepare => Prepare::create(lua, state, id),
        Phase::Check => Check::create(lua, state, id),
    }
}

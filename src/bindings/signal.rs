//! Signal handles: `uv.new_signal()`, then `start(signum, cb)`,
//! `start_oneshot(signum, cb)` and `stop()`, as luv has them. The callback gets the
//! signal's name ("sigint"); a coroutine in its place is resumed with it. The loop's
//! side (the self-pipe, the handler) is event_loop/signal.rs.

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv, LuvHandle};
use crate::event_loop::errors::io_error_values;
use crate::event_loop::io::repeating_waker_from;
use crate::event_loop::waker::Waker;
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_signal_t`.
    Signal,
    "signal"
);

impl UserData for Signal {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        methods.add_method("start", |lua, this, (signum, cb): (Value, Value)| {
            start(lua, this.handle(), signum, cb, false)
        });
        methods.add_method(
            "start_oneshot",
            |lua, this, (signum, cb): (Value, Value)| start(lua, this.handle(), signum, cb, true),
        );
        methods.add_method("stop", |_, this, ()| {
            let h = this.handle();
            h.state.borrow_mut().signal_stop(h.id);
            Ok(0)
        });
    }
}

pub fn new_signal(lua: &Lua, state: &SharedState) -> Result<mlua::AnyUserData> {
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Signal(Default::default()));
    Signal::create(lua, state, id)
}

fn start(
    lua: &Lua,
    this: &LuvHandle,
    signum: Value,
    cb: Value,
    oneshot: bool,
) -> Result<MultiValue> {
    let Some(signum) = super::os::signal_number(&signum) else {
        return Err(mlua::Error::runtime(format!(
            "signal_start: unknown signal {signum:?}"
        )));
    };
    if matches!(signum, libc::SIGKILL | libc::SIGSTOP) || !(1..64).contains(&signum) {
        return Err(mlua::Error::runtime(format!(
            "signal_start: signal {signum} cannot be caught"
        )));
    }
    // (A oneshot's coroutine is woken once: an ordinary coroutine waker.)
    let waker = match cb {
        Value::Thread(t) if oneshot => Waker::Thread(lua.create_registry_value(t)?),
        cb => repeating_waker_from(lua, cb, "signal_start")?,
    };
    this.ensure_open("start")?;
    let mut st = this.state.borrow_mut();
    match st.signal_start(this.id, signum, waker, oneshot) {
        Ok(()) => 0.into_lua_multi(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

//! Timer handles: `uv.new_timer()`, then start / stop / again, as in luv.
//!
//! `t:start(timeout, repeat, cb)` takes a callback (run in a pooled coroutine each time
//! the timer fires) or a coroutine (resumed when it fires: that is how `timer.sleep`
//! suspends the caller without a callback).

use mlua::{Lua, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv, LuvHandle};
use crate::event_loop::io::waker_from;
use crate::event_loop::Kind;
use crate::event_loop::{LoopState, SharedState};

luv_kind!(
    /// `uv_timer_t`.
    Timer,
    "timer"
);

impl UserData for Timer {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        add_methods(methods);
    }
}

pub fn new_timer(lua: &Lua, state: &SharedState) -> Result<mlua::AnyUserData> {
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Timer(Default::default()));
    Timer::create(lua, state, id)
}

fn timer<'a>(
    st: &'a mut LoopState,
    this: &LuvHandle,
    method: &str,
) -> Result<&'a mut crate::event_loop::Timer> {
    match st.handles_mut().get_mut(this.id).map(|h| &mut h.kind) {
        Some(Kind::Timer(t)) => Ok(t),
        Some(_) => Err(mlua::Error::runtime(format!(
            "{method}: expected a timer handle, got {}",
            this.kind
        ))),
        None => Err(this.closed(method)),
    }
}

/// Milliseconds from a Lua number: negative and NaN mean 0, huge values saturate.
fn millis(method: &str, what: &str, v: f64) -> Result<u64> {
    if v.is_nan() || v < 0.0 {
        if v.is_nan() {
            return Err(mlua::Error::runtime(format!(
                "{method}: {what} must be a number of milliseconds, got NaN"
            )));
        }
        return Ok(0);
    }
    Ok(if v >= u64::MAX as f64 / 2.0 {
        u64::MAX / 2
    } else {
        v as u64
    })
}

fn add_methods<M: UserDataMethods<Timer>>(methods: &mut M) {
    methods.add_method(
        "start",
        |lua, this, (timeout, repeat, cb): (f64, f64, Value)| {
            let this = this.handle();
            let timeout = millis("timer_start", "timeout", timeout)?;
            let repeat = millis("timer_start", "repeat", repeat)?;
            let waker = waker_from(lua, cb, "timer_start")?.ok_or_else(|| {
                mlua::Error::runtime("timer_start: a callback (function or coroutine) is required")
            })?;
            let mut st = this.state.borrow_mut();
            let t = timer(&mut st, this, "timer_start")?;
            t.repeat = repeat;
            t.waker = Some(waker);
            st.arm_timer(this.id, timeout);
            Ok(0)
        },
    );
    methods.add_method("stop", |_, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        timer(&mut st, this, "timer_stop")?;
        st.disarm_timer(this.id);
        Ok(0)
    });
    methods.add_method("again", |lua, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let t = timer(&mut st, this, "timer_again")?;
        if t.waker.is_none() {
            return crate::event_loop::errors::error_values(
                lua,
                "EINVAL",
                "timer was never started",
            );
        }
        let repeat = t.repeat;
        if repeat > 0 {
            st.arm_timer(this.id, repeat);
        } else {
            st.disarm_timer(this.id);
        }
        mlua::IntoLuaMulti::into_lua_multi(0, lua)
    });
    methods.add_method("get_repeat", |_, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        Ok(timer(&mut st, this, "timer_get_repeat")?.repeat)
    });
    methods.add_method("set_repeat", |_, this, repeat: f64| {
        let this = this.handle();
        let repeat = millis("timer_set_repeat", "repeat", repeat)?;
        let mut st = this.state.borrow_mut();
        timer(&mut st, this, "timer_set_repeat")?.repeat = repeat;
        Ok(())
    });
    methods.add_method("get_due_in", |_, this, ()| {
        let this = this.handle();
        let mut st = this.state.borrow_mut();
        let now = st.now();
        let entry = timer(&mut st, this, "timer_get_due_in")?.entry;
        Ok(entry
            .and_then(|(key, _)| st.timer_deadline(key))
            .map_or(0, |d| d.saturating_sub(now)))
    });
}

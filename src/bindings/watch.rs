//! Poll handles (`uv.new_poll(fd)`: readiness of a descriptor of the user's) and
//! fs_event handles (`uv.new_fs_event()`: changes to a path), as luv has them. The
//! loop's side is event_loop/watch.rs.
//!
//!   local p = uv.new_poll(fd)
//!   p:start("r", function(err, events) ... end)       -- events: "r", "w" or "rw"
//!   local w = uv.new_fs_event()
//!   w:start("/tmp/dir", {}, function(err, filename, events) end)  -- events.change/rename

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv};
use crate::event_loop::errors::io_error_values;
use crate::event_loop::io::repeating_waker_from;
use crate::event_loop::watch::{FsEventHandle, PollHandle};
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_poll_t`.
    Poll,
    "poll"
);
luv_kind!(
    /// `uv_fs_event_t`.
    FsEvent,
    "fs_event"
);

impl UserData for Poll {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        // poll_start(events, cb): events "r", "w", "rw" (luv also has "d", "p": not
        // supported here).
        methods.add_method(
            "start",
            |lua, this, (events, cb): (Option<String>, Value)| {
                let h = this.handle();
                h.ensure_open("poll_start")?;
                let events = events.unwrap_or_else(|| "r".into());
                let (r, w) = (events.contains('r'), events.contains('w'));
                if !r && !w || events.chars().any(|c| c != 'r' && c != 'w') {
                    return Err(mlua::Error::runtime(format!(
                        "poll_start: events must be \"r\", \"w\" or \"rw\", got {events:?}"
                    )));
                }
                let waker = repeating_waker_from(lua, cb, "poll_start")?;
                match h.state.borrow_mut().poll_start(h.id, r, w, waker) {
                    Ok(()) => 0.into_lua_multi(lua),
                    Err(e) => io_error_values(lua, &e),
                }
            },
        );
        methods.add_method("stop", |_, this, ()| {
            let h = this.handle();
            h.state.borrow_mut().poll_stop(h.id);
            Ok(0)
        });
    }
}

impl UserData for FsEvent {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        methods.add_method(
            "start",
            |lua, this, (path, _flags, cb): (String, Value, Value)| -> Result<MultiValue> {
                let h = this.handle();
                h.ensure_open("fs_event_start")?;
                let waker = repeating_waker_from(lua, cb, "fs_event_start")?;
                match h.state.borrow_mut().fs_event_start(h.id, &path, waker) {
                    Ok(()) => 0.into_lua_multi(lua),
                    Err(e) => io_error_values(lua, &e),
                }
            },
        );
        methods.add_method("stop", |_, this, ()| {
            let h = this.handle();
            h.state.borrow_mut().fs_event_stop(h.id);
            Ok(0)
        });
        methods.add_method("getpath", |_, this, ()| {
            let h = this.handle();
            let st = h.state.borrow();
            Ok(match st.handles().get(h.id).map(|x| &x.kind) {
                Some(Kind::FsEvent(f)) if !f.path.is_empty() => Some(f.path.clone()),
                _ => None,
            })
        });
    }
}

pub fn new_poll(lua: &Lua, state: &SharedState, fd: i32) -> Result<mlua::AnyUserData> {
    if fd < 0 {
        return Err(mlua::Error::runtime(format!(
            "new_poll: bad file descriptor {fd}"
        )));
    }
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::Poll(PollHandle::new(fd)));
    Poll::create(lua, state, id)
}

pub fn new_fs_event(lua: &Lua, state: &SharedState) -> Result<mlua::AnyUserData> {
    let id = state
        .borrow_mut()
        .handles_mut()
        .insert(Kind::FsEvent(FsEventHandle::new()));
    FsEvent::create(lua, state, id)
}

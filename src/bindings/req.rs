//! Requests: luv's three calling forms for work that may block (fs, getaddrinfo,
//! getnameinfo, work), in one place.
//!
//! - With a callback as the last argument, the work runs on the thread pool and the
//!   callback gets `(nil, results...)`, or `(err)` where err is "ECODE: message"
//!   (luv's fs callbacks get the message too, with the path; a handle's callbacks get
//!   the name alone).
//! - With a coroutine in the callback's place (`uv.co_*` passes the running one), the
//!   work runs on the pool and the coroutine is resumed with the same values; the
//!   binding returns `uv.WAIT` for the wrapper to yield.
//! - With no callback, the work runs now, on the loop thread, and returns
//!   `results...`, or `nil, err, code`.
//!
//! The work is plain Rust (`Send`): it never sees a Lua value. `finish` makes the Lua
//! results of its output, on the loop thread.

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Value};

use super::stream::wait;
use crate::event_loop::errors::Failure;
use crate::event_loop::io::waker_from;
use crate::event_loop::waker::Waker;
use crate::event_loop::SharedState;

/// What a request's work gave: its Lua results, or its failure.
pub type Outcome = std::result::Result<MultiValue, Failure>;

/// Splits a trailing callback (a function or a coroutine) off `args`.
pub fn split_callback(
    lua: &Lua,
    what: &str,
    args: MultiValue,
) -> Result<(Vec<Value>, Option<Waker>)> {
    let mut args: Vec<Value> = args.into_iter().collect();
    let waker = match args.last() {
        Some(Value::Function(_) | Value::Thread(_)) => {
            waker_from(lua, args.pop().expect("checked above"), what)?
        }
        _ => None,
    };
    Ok((args, waker))
}

/// Runs `work` in the form `waker` asks for (see the module's header).
pub fn run<T: Send + 'static>(
    lua: &Lua,
    state: &SharedState,
    waker: Option<Waker>,
    work: impl FnOnce() -> T + Send + 'static,
    finish: impl FnOnce(&Lua, T) -> Result<Outcome> + 'static,
) -> Result<MultiValue> {
    let Some(waker) = waker else {
        return match finish(lua, work())? {
            Ok(values) => Ok(values),
            Err(f) => {
                (Value::Nil, format!("{}: {}", f.code, f.message), f.code).into_lua_multi(lua)
            }
        };
    };
    let is_thread = matches!(waker, Waker::Thread(_));
    let submitted = state.borrow_mut().submit(
        work,
        move |lua, out| {
            Ok(match finish(lua, out)? {
                Ok(values) => {
                    let mut args = MultiValue::with_capacity(values.len() + 1);
                    args.push_back(Value::Nil);
                    args.extend(values);
                    args
                }
                Err(f) => format!("{}: {}", f.code, f.message).into_lua_multi(lua)?,
            })
        },
        waker,
    );
    match submitted {
        Err(e) => crate::event_loop::errors::io_error_values(lua, &e),
        Ok(()) if is_thread => wait(lua),
        // luv returns the request; a true stands for it.
        Ok(()) => true.into_lua_multi(lua),
    }
}

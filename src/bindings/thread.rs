//! Lua on other threads, as luv has it: async handles (`uv.new_async`), the work
//! queue (`uv.new_work`, `uv.queue_work`) and threads (`uv.new_thread`,
//! `uv.thread_join`).
//!
//! Another thread never touches the loop's Lua state. It runs its function in a Lua
//! state of its own: the function travels as bytecode (`string.dump`, so it keeps no
//! upvalues, as in luv) or as source text, and its arguments and results as plain
//! values (strings, numbers, booleans, nil; event_loop/inbox.rs). An async handle
//! passed to a thread arrives there as an object with `send(...)`, which posts to the
//! loop's inbox and wakes it; the handle's callback then runs on the loop thread.
//!
//!   local async = uv.new_async(function(msg) print("from the thread:", msg) end)
//!   local t = uv.new_thread(function(a, n) a:send("hello " .. n) end, async, 42)
//!   uv.thread_join(t)
//!
//! A pool thread keeps one Lua state for the work it runs (made on its first work).

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{AnyUserData, IntoLuaMulti, Lua, MultiValue, Result, UserData, UserDataMethods, Value};

use super::handle::{luv_kind, Luv, LuvHandle};
use super::stream::wait;
use crate::event_loop::errors::io_error_values;
use crate::event_loop::inbox::{plain_values, AsyncHandle, AsyncRef, Plain};
use crate::event_loop::io::repeating_waker_from;
use crate::event_loop::waker::Waker;
use crate::event_loop::Kind;
use crate::event_loop::SharedState;

luv_kind!(
    /// `uv_async_t`.
    Async,
    "async"
);

impl UserData for Async {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        super::handle::add_methods(methods);
        methods.add_method("send", |lua, this, args: MultiValue| {
            let h = this.handle();
            let values = to_plain_list(&args)?;
            let posted = async_ref(h).and_then(|r| r.send(values));
            match posted {
                Ok(()) => 0.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            }
        });
    }
}

/// Where another thread posts this async handle's sends.
fn async_ref(h: &LuvHandle) -> std::io::Result<AsyncRef> {
    let mut st = h.state.borrow_mut();
    if st.handles().get(h.id).is_none() {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(AsyncRef {
        inbox: st.inbox()?,
        id: h.id,
    })
}

/// `uv.new_async(cb)`: cb(...) runs on the loop thread for every `send(...)`.
pub fn new_async(lua: &Lua, state: &SharedState, cb: Value) -> Result<AnyUserData> {
    let cb = repeating_waker_from(lua, cb, "new_async")?;
    let id = {
        let mut st = state.borrow_mut();
        let id = st
            .handles_mut()
            .insert(Kind::Async(AsyncHandle { cb: Some(cb) }));
        st.handles_mut().set_active(id, true);
        id
    };
    Async::create(lua, state, id)
}

/// A Lua value as a plain one (misuse for a table, a function, a userdata that is
/// not an async handle).
fn to_plain(v: &Value) -> Result<Plain> {
    Ok(match v {
        Value::Nil => Plain::Nil,
        Value::Boolean(b) => Plain::Bool(*b),
        Value::Integer(n) => Plain::Int(*n),
        Value::Number(n) => Plain::Num(*n),
        Value::String(s) => Plain::Str(s.as_bytes().to_vec()),
        Value::UserData(ud) => {
            if let Ok(a) = ud.borrow::<Async>() {
                Plain::Async(async_ref(a.handle()).map_err(mlua::Error::external)?)
            } else if let Ok(a) = ud.borrow::<ThreadAsync>() {
                Plain::Async(a.0.clone())
            } else {
                return Err(mlua::Error::runtime(
                    "only strings, numbers, booleans, nil and async handles cross threads",
                ));
            }
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "only strings, numbers, booleans, nil and async handles cross threads, got {}",
                other.type_name()
            )))
        }
    })
}

fn to_plain_list(values: &MultiValue) -> Result<Vec<Plain>> {
    values.iter().map(to_plain).collect()
}

/// An async handle inside another thread's Lua state: `send(...)` only.
struct ThreadAsync(AsyncRef);

impl UserData for ThreadAsync {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("send", |lua, this, args: MultiValue| {
            match this.0.send(to_plain_list(&args)?) {
                Ok(()) => 0.into_lua_multi(lua),
                Err(e) => io_error_values(lua, &e),
            }
        });
    }
}

/// The Lua value of a plain one in another thread's state.
fn plain_in_thread(lua: &Lua, v: Plain) -> Result<Value> {
    match v {
        Plain::Async(r) => Ok(Value::UserData(lua.create_userdata(ThreadAsync(r))?)),
        other => other.into_lua(lua),
    }
}

/// A function for another thread: its bytecode, or Lua source text.
fn code_of(what: &str, v: &Value) -> Result<Vec<u8>> {
    match v {
        Value::Function(f) => Ok(f.dump(false)),
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(mlua::Error::runtime(format!(
            "{what}: expected a function or Lua source, got {}",
            other.type_name()
        ))),
    }
}

/// Runs `code(args...)` in `lua` (another thread's state): its results, or the
/// error's text.
fn run_code(lua: &Lua, code: &[u8], args: Vec<Plain>) -> std::result::Result<Vec<Plain>, String> {
    let run = || -> Result<Vec<Plain>> {
        let f = lua.load(code).set_name("=thread").into_function()?;
        let args: MultiValue = args
            .into_iter()
            .map(|v| plain_in_thread(lua, v))
            .collect::<Result<_>>()?;
        let out: MultiValue = f.call(args)?;
        to_plain_list(&out)
    };
    run().map_err(|e| e.to_string())
}

/// A fresh Lua state for another thread, with every standard library (ffi too).
fn thread_state() -> Lua {
    // SAFETY: the state lives and dies on the thread that made it.
    unsafe { Lua::unsafe_new() }
}

thread_local! {
    /// A pool thread's Lua state for work (made on its first work).
    static WORK_STATE: RefCell<Option<Lua>> = const { RefCell::new(None) };
}

/// `uv.new_work(work, after)`: a work context for `queue_work`.
pub struct Work {
    code: Rc<Vec<u8>>,
    after: Option<Rc<mlua::RegistryKey>>,
    state: SharedState,
}

impl UserData for Work {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("queue", |lua, this, args: MultiValue| {
            queue_work(lua, this, args)
        });
    }
}

pub fn new_work(lua: &Lua, state: &SharedState, (work, after): (Value, Value)) -> Result<Work> {
    let code = code_of("new_work", &work)?;
    let after = match after {
        Value::Nil => None,
        Value::Function(f) => Some(Rc::new(lua.create_registry_value(f)?)),
        other => {
            return Err(mlua::Error::runtime(format!(
                "new_work: after_work must be a function, got {}",
                other.type_name()
            )))
        }
    };
    Ok(Work {
        code: Rc::new(code),
        after,
        state: state.clone(),
    })
}

/// `uv.queue_work(work, ...)`: work(...) on a pool thread, then after(results...) on
/// the loop thread. With a coroutine as the last argument (`uv.co_queue_work`), the
/// coroutine is resumed with the results instead.
fn queue_work(lua: &Lua, work: &Work, args: MultiValue) -> Result<MultiValue> {
    let mut args: Vec<Value> = args.into_iter().collect();
    let co = match args.last() {
        Some(Value::Thread(_)) => match args.pop() {
            Some(Value::Thread(t)) => Some(lua.create_registry_value(t)?),
            _ => None,
        },
        _ => None,
    };
    let values: Vec<Plain> = args.iter().map(to_plain).collect::<Result<_>>()?;
    let is_thread = co.is_some();
    let waker = match (co, &work.after) {
        (Some(k), _) => Waker::Thread(k),
        (None, Some(after)) => Waker::Callback(after.clone()),
        // No after_work: the results are dropped, on a callback that does nothing.
        (None, None) => Waker::Callback(Rc::new(
            lua.create_registry_value(lua.create_function(|_, ()| Ok(()))?)?,
        )),
    };
    let code = Vec::clone(&work.code);
    let submitted = work.state.borrow_mut().submit(
        move || {
            WORK_STATE.with(|cell| {
                let mut cell = cell.borrow_mut();
                let lua = cell.get_or_insert_with(thread_state);
                run_code(lua, &code, values)
            })
        },
        |lua, out| match out {
            Ok(values) => plain_values(lua, values),
            Err(e) => {
                eprintln!("Error in uv.queue_work's work function: {e}");
                Ok(MultiValue::new())
            }
        },
        waker,
    );
    match submitted {
        Err(e) => io_error_values(lua, &e),
        Ok(()) if is_thread => wait(lua),
        Ok(()) => true.into_lua_multi(lua),
    }
}

pub fn queue_work_fn(
    lua: &Lua,
    (work, args): (mlua::UserDataRef<Work>, MultiValue),
) -> Result<MultiValue> {
    queue_work(lua, &work, args)
}

/// A thread made by `uv.new_thread`: joined once.
pub struct Thread {
    handle: Option<std::thread::JoinHandle<std::result::Result<Vec<Plain>, String>>>,
    state: SharedState,
}

impl UserData for Thread {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("join", |lua, this, ()| join(lua, this));
    }
}

/// `uv.new_thread([options], entry, ...)`: entry(...) on a new OS thread, in a Lua
/// state of its own. options: { stack_size = bytes }.
pub fn new_thread(lua: &Lua, state: &SharedState, args: MultiValue) -> Result<MultiValue> {
    let mut args: Vec<Value> = args.into_iter().collect();
    let mut stack = None;
    if let Some(Value::Table(opts)) = args.first() {
        stack = opts.get::<Option<usize>>("stack_size")?;
        args.remove(0);
    }
    if args.is_empty() {
        return Err(mlua::Error::runtime(
            "new_thread: an entry function is required",
        ));
    }
    let code = code_of("new_thread", &args.remove(0))?;
    let values: Vec<Plain> = args.iter().map(to_plain).collect::<Result<_>>()?;
    let mut builder = std::thread::Builder::new().name("stardust-thread".into());
    if let Some(size) = stack.filter(|&s| s > 0) {
        builder = builder.stack_size(size.max(64 * 1024));
    }
    let spawned = builder.spawn(move || {
        let lua = thread_state();
        let out = run_code(&lua, &code, values);
        if let Err(e) = &out {
            eprintln!("Error in uv.new_thread's function: {e}");
        }
        out
    });
    match spawned {
        Ok(h) => lua
            .create_userdata(Thread {
                handle: Some(h),
                state: state.clone(),
            })?
            .into_lua_multi(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

/// `uv.thread_join(t)`: waits for the thread (blocking the loop, as luv's does):
/// true and the function's results (or false and the error's text).
fn join(lua: &Lua, t: &mut Thread) -> Result<MultiValue> {
    let Some(h) = t.handle.take() else {
        return Err(mlua::Error::runtime(
            "thread_join: the thread was joined already",
        ));
    };
    join_result(lua, h.join())
}

fn join_result(
    lua: &Lua,
    res: std::thread::Result<std::result::Result<Vec<Plain>, String>>,
) -> Result<MultiValue> {
    match res {
        Ok(Ok(values)) => {
            let mut out = plain_values(lua, values)?;
            out.push_front(Value::Boolean(true));
            Ok(out)
        }
        Ok(Err(e)) => (false, e).into_lua_multi(lua),
        Err(_) => (false, "the thread panicked").into_lua_multi(lua),
    }
}

pub fn thread_join(lua: &Lua, mut t: mlua::UserDataRefMut<Thread>) -> Result<MultiValue> {
    join(lua, &mut t)
}

/// `uv.co_thread_join(t)`'s native half: the join waits on a pool thread, and the
/// coroutine is resumed with what `thread_join` returns; the loop runs meanwhile.
pub fn thread_join_async(
    lua: &Lua,
    (mut t, co): (mlua::UserDataRefMut<Thread>, mlua::Thread),
) -> Result<MultiValue> {
    let Some(h) = t.handle.take() else {
        return Err(mlua::Error::runtime(
            "thread_join: the thread was joined already",
        ));
    };
    let waker = Waker::Thread(lua.create_registry_value(co)?);
    let submitted = t
        .state
        .borrow_mut()
        .submit(move || h.join(), join_result, waker);
    match submitted {
        Ok(()) => wait(lua),
        Err(e) => io_error_values(lua, &e),
    }
}

//! Running Lua from the loop: callbacks in pooled coroutines, and resumes.
//!
//! Every callback the loop runs gets a coroutine of its own, so any callback may call a
//! yielding API (`timer.sleep`, a blocking-style `read`). Starting a coroutine is the
//! costly part, so coroutines are kept in a small pool and reused.
//!
//! Each pooled coroutine runs the Lua `worker` (lua_lib/init.lua), a loop under one
//! `xpcall`: resumed with (RUN, callback, n, args...), it calls the callback, then
//! yields the DONE marker, which is how the loop knows the callback is over and the
//! coroutine may go back to the pool; an error that escapes a callback is reported
//! with its traceback, and the coroutine yields DONE too. The next callback is just
//! another resume: no coroutine is created or reset.
//!
//! A coroutine that runs many callbacks in a row (the timer lists in lua_lib/timer.lua)
//! yields the TICK marker between two of them when `process.nextTick` work is queued:
//! the loop runs that work and resumes it at once, so ticks still run after every
//! callback, as in node.

use mlua::thread::ThreadStatus;
use std::ffi::CStr;

use mlua::{ffi, Function, IntoLuaMulti, LightUserData, MultiValue, Result, Thread, Value};

use super::waker::Waker;
use super::{EventLoop, Task};

/// The DONE marker returned by a trampoline that finished its callback.
static DONE_TAG: u8 = 0;
/// The WAIT marker a binding returns when the caller must yield until woken.
static WAIT_TAG: u8 = 0;
/// The TICK marker: "run the nextTick queue, then resume me".
static TICK_TAG: u8 = 0;
/// The RUN marker a pooled worker is resumed with, before the callback to run.
static RUN_TAG: u8 = 0;

pub fn done_marker() -> LightUserData {
    LightUserData(&DONE_TAG as *const u8 as *mut _)
}

pub fn wait_marker() -> LightUserData {
    LightUserData(&WAIT_TAG as *const u8 as *mut _)
}

pub fn tick_marker() -> LightUserData {
    LightUserData(&TICK_TAG as *const u8 as *mut _)
}

pub fn run_marker() -> LightUserData {
    LightUserData(&RUN_TAG as *const u8 as *mut _)
}

/// How many finished coroutines to keep for reuse.
const POOL_MAX: usize = 128;

/// The Lua functions the loop needs from lua_lib/init.lua.
pub struct Hooks {
    /// `worker(RUN, fn, n, ...)`: the body of pooled coroutines; runs fn with its n
    /// arguments, yields DONE, and waits for the next RUN.
    pub worker: Function,
    /// `uncaught(message)`: reports an error that escaped a non-pooled coroutine.
    pub uncaught: Function,
}

impl EventLoop {
    /// Runs one queued task, then the process.nextTick queue it may have filled, then
    /// sends the writes it queued (one syscall per socket for the whole task).
    pub fn run_task(&self, task: Task) -> Result<()> {
        self.run_one(task)?;
        self.run_ticks()?;
        self.flush_dirty()
    }

    fn run_ticks(&self) -> Result<()> {
        loop {
            let tick = self.state.borrow_mut().ticks.pop_front();
            match tick {
                Some(t) => self.run_one(t)?,
                None => return Ok(()),
            }
        }
    }

    fn flush_dirty(&self) -> Result<()> {
        loop {
            let id = match self.state.borrow_mut().dirty.pop() {
                Some(id) => id,
                None => return Ok(()),
            };
            let done = self.state.borrow_mut().flush_writes(id);
            for task in done {
                // Write callbacks run now: they are completions of this task's writes.
                self.run_task(task)?;
            }
        }
    }

    pub(super) fn run_one(&self, task: Task) -> Result<()> {
        match task {
            Task::Call(f, args) => self.call(f, args),
            Task::Resume(t, args) => self.resume(t, args),
            Task::Wake(Waker::Callback(k), args) if args.is_empty() => self.call_key(&k),
            Task::Wake(Waker::Callback(k), args) => self.call(self.lua.registry_value(&k)?, args),
            Task::Wake(Waker::Thread(k), args) if args.is_empty() => self.resume_key(&k),
            Task::Wake(Waker::SharedThread(k), args) if args.is_empty() => self.resume_key(&k),
            Task::Wake(Waker::Thread(k), args) => self.resume(self.lua.registry_value(&k)?, args),
            Task::Wake(Waker::SharedThread(k), args) => {
                self.resume(self.lua.registry_value(&k)?, args)
            }
            Task::Fail(w, failure) => {
                let args = match w {
                    Waker::Callback(_) => failure.callback_args(&self.lua)?,
                    _ => failure.coroutine_args(&self.lua)?,
                };
                self.run_one(Task::Wake(w, args))
            }
            Task::CallRef(f, arg) => {
                let arg: Value = match arg {
                    Some(k) => self.lua.registry_value(&k)?,
                    None => Value::Nil,
                };
                self.call(
                    self.lua.registry_value(&f)?,
                    MultiValue::from_vec(vec![arg]),
                )
            }
            Task::Feed(id) => self.on_ready(id, true, true),
        }
    }

    /// Runs `f(args...)` in a pooled coroutine, until it returns or first yields.
    pub fn call(&self, f: Function, args: MultiValue) -> Result<()> {
        let pooled = self.state.borrow_mut().pool.pop();
        let thread = match pooled {
            Some(t) => t,
            None => self.lua.create_thread(self.hooks.worker.clone())?,
        };
        // The worker takes the arguments as (n, a, b, c), or (n, list) past three (see
        // `worker` in lua_lib/init.lua: a fixed number of parameters keeps it
        // compilable). (Tuples, pushed as they are: putting RUN and f in front of
        // `args` would reallocate the list for every callback.)
        let n = args.len();
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(Value::Nil);
        match n {
            0 => self.resume(thread, (run_marker(), f, 0)),
            1 => self.resume(thread, (run_marker(), f, 1, next())),
            2 => self.resume(thread, (run_marker(), f, 2, next(), next())),
            3 => self.resume(thread, (run_marker(), f, 3, next(), next(), next())),
            _ => {
                let list = self.lua.create_sequence_from(args)?;
                self.resume(thread, (run_marker(), f, n, list))
            }
        }
    }

    /// `call` for a callback kept in the registry, with no arguments: what an idle HTTP
    /// connection's `on_readable` does for every request. The resume goes through the
    /// raw C API: mlua's glue around `lua_resume` (the registry lookup into a Function,
    /// argument and result conversion) cost about 1.1k instructions per callback, a
    /// sixth of a hello request.
    fn call_key(&self, key: &mlua::RegistryKey) -> Result<()> {
        let pooled = self.state.borrow_mut().pool.pop();
        let thread = match pooled {
            // SAFETY: reading the status of a live coroutine.
            Some(t) if unsafe { ffi::lua_status(t.state()) } == ffi::LUA_YIELD => t,
            // None pooled (or not as expected): the general path makes one.
            _ => return self.call(self.lua.registry_value(key)?, MultiValue::new()),
        };
        let ts = thread.state();
        if self.state.borrow().trace {
            eprintln!("[loop] resume coroutine {:p}", thread.to_pointer());
        }
        // SAFETY: the worker is suspended in awaitWork, with nothing on its stack (see
        // `finish_resume`); no Lua code runs while the loop is here; three values are
        // pushed (RUN, the callback, its 0 arguments), within the LUA_MINSTACK slots a
        // suspended coroutine has free.
        let status = unsafe {
            ffi::lua_pushlightuserdata(ts, run_marker().0);
            ffi::lua_rawgeti(ts, ffi::LUA_REGISTRYINDEX, key.id() as _);
            ffi::lua_pushinteger(ts, 0);
            ffi::lua_resume(ts, std::ptr::null_mut(), 3, std::ptr::null_mut())
        };
        self.finish_resume(ts, || Ok(thread), status)
    }

    /// `resume` with no values for the coroutine kept under `key`, through the raw C
    /// API (a coroutine waiting on I/O: for http.server, every request). mlua's
    /// `registry_value` would make a Thread of it first (~240 instructions per request);
    /// the loop reads the registry on its reader coroutine's stack instead. A
    /// coroutine not suspended in a yield (new, finished, or running) takes the mlua
    /// path, which knows those cases.
    fn resume_key(&self, key: &mlua::RegistryKey) -> Result<()> {
        let reader = self.reader.state();
        // SAFETY: the reader never runs, so its stack is free; one value is pushed and
        // popped. The coroutine stays alive while `key` (the caller's) holds it.
        let ts = unsafe {
            ffi::lua_rawgeti(reader, ffi::LUA_REGISTRYINDEX, key.id() as _);
            let ts = ffi::lua_tothread(reader, -1);
            ffi::lua_settop(reader, 0);
            ts
        };
        // SAFETY: reading the status of a live coroutine.
        if ts.is_null() || unsafe { ffi::lua_status(ts) } != ffi::LUA_YIELD {
            return self.resume(self.lua.registry_value(key)?, ());
        }
        if self.state.borrow().trace {
            eprintln!("[loop] resume coroutine {ts:p}");
        }
        // SAFETY: a suspended coroutine, resumed with nothing pushed; no Lua code runs
        // while the loop is here.
        let status = unsafe {
            ffi::lua_settop(ts, 0);
            ffi::lua_resume(ts, std::ptr::null_mut(), 0, std::ptr::null_mut())
        };
        self.finish_resume(ts, || self.lua.registry_value(key), status)
    }

    /// After a raw resume of coroutine `ts`: run the nextTick work it asks for (TICK)
    /// and resume it again, pool it when it is a worker DONE with its callback (`thread`
    /// gives it as a Thread: only then is one needed), report an error that escaped
    /// it. Leaves its stack empty.
    fn finish_resume(
        &self,
        ts: *mut ffi::lua_State,
        thread: impl FnOnce() -> Result<Thread>,
        mut status: std::ffi::c_int,
    ) -> Result<()> {
        loop {
            // SAFETY: `ts` is a live coroutine (the caller holds it, by a Thread or a
            // registry key); only its own stack is read and reset, and no Lua code
            // runs meanwhile.
            let yielded = unsafe {
                let top = ffi::lua_gettop(ts);
                let marker = (top > 0).then(|| ffi::lua_touserdata(ts, top));
                // (Pooled workers catch their callbacks' errors: this is a coroutine of
                // the user's. The text is as mlua's resume gives it: the error, and the
                // coroutine's traceback.)
                let error = (status != ffi::LUA_OK && status != ffi::LUA_YIELD).then(|| {
                    let mut text = String::from("runtime error: ");
                    if ffi::lua_checkstack(ts, ffi::LUA_MINSTACK) != 0 {
                        if ffi::lua_isstring(ts, -1) == 0 {
                            let kind = CStr::from_ptr(ffi::luaL_typename(ts, -1));
                            let what =
                                format!("(error object is a {} value)\0", kind.to_string_lossy());
                            ffi::lua_pushstring(ts, what.as_ptr().cast());
                        }
                        ffi::luaL_traceback(ts, ts, ffi::lua_tostring(ts, -1), 0);
                        let traceback = CStr::from_ptr(ffi::lua_tostring(ts, -1));
                        text.push_str(&traceback.to_string_lossy());
                    } else {
                        text.push_str("(no room on the coroutine's stack for a traceback)");
                    }
                    text
                });
                ffi::lua_settop(ts, 0);
                if let Some(message) = error {
                    return self.call(
                        self.hooks.uncaught.clone(),
                        MultiValue::from_vec(vec![Value::String(self.lua.create_string(message)?)]),
                    );
                }
                (status == ffi::LUA_YIELD).then_some(marker)
            };
            match yielded {
                Some(Some(m)) if m == tick_marker().0 => {
                    self.run_ticks()?;
                    // SAFETY: as above; a resume with no values.
                    status = unsafe {
                        ffi::lua_resume(ts, std::ptr::null_mut(), 0, std::ptr::null_mut())
                    };
                }
                Some(Some(m)) if m == done_marker().0 => {
                    let thread = thread()?;
                    let mut st = self.state.borrow_mut();
                    if st.pool.len() < POOL_MAX {
                        st.pool.push(thread);
                    }
                    return Ok(());
                }
                // Suspended waiting for something (a waker holds it), or finished.
                _ => return Ok(()),
            }
        }
    }

    /// Resumes a suspended coroutine. A coroutine that is not suspended (it finished, or
    /// was resumed by someone else meanwhile) is left alone: the wake-up is stale.
    pub fn resume(&self, thread: Thread, args: impl IntoLuaMulti) -> Result<()> {
        if thread.status() != ThreadStatus::Resumable {
            return Ok(());
        }
        if self.state.borrow().trace {
            eprintln!("[loop] resume coroutine {:p}", thread.to_pointer());
        }
        let mut result = thread.resume::<Value>(args);
        while matches!(result, Ok(Value::LightUserData(p)) if p == tick_marker()) {
            self.run_ticks()?;
            result = thread.resume::<Value>(());
        }
        match result {
            // A worker finished its callback and waits for the next one. (Only workers
            // yield DONE, and only once per callback: a stale resume yields nothing.)
            Ok(Value::LightUserData(p)) if p == done_marker() => {
                let mut st = self.state.borrow_mut();
                if st.pool.len() < POOL_MAX {
                    st.pool.push(thread);
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            // Only a coroutine the user made (and the loop resumed) gets here: pooled
            // ones catch their own errors. mlua has already appended the traceback.
            Err(e) => self.call(
                self.hooks.uncaught.clone(),
                MultiValue::from_vec(vec![Value::String(self.lua.create_string(e.to_string())?)]),
            ),
        }
    }
}

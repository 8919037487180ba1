//! Starting and ending a Stardust process: the Lua state, the loop, the main coroutine.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Lua, MultiValue, Result, Table, Value};

use crate::bindings;
use crate::event_loop::{EventLoop, Hooks, LoopState, Task};
use crate::lua_lib;

/// What the command line asked for.
#[derive(Default, Debug)]
pub struct Options {
    pub script: Option<String>,
    pub args: Vec<String>,
    pub eval: Option<String>,
    pub interactive: bool,
    pub libs: Vec<String>,
}

/// Runs the program the options describe and returns the process exit code.
pub fn run(opts: Options) -> Result<i32> {
    let lua = new_state();
    let state = Rc::new(RefCell::new(
        LoopState::new().map_err(mlua::Error::external)?,
    ));

    let native = bindings::native_table(&lua, &state)?;
    let argv = lua.create_table()?;
    argv.raw_set(
        0,
        std::env::args().next().unwrap_or_else(|| "stardust".into()),
    )?;
    let mut i = 1;
    if let Some(s) = &opts.script {
        argv.raw_set(i, s.as_str())?;
        i += 1;
    }
    for a in &opts.args {
        argv.raw_set(i, a.as_str())?;
        i += 1;
    }
    native.set("argv", argv)?;

    let init: Table = lua
        .load(lua_lib::source("init", "").expect("lua_lib/init.lua is embedded"))
        .set_name("@lua_lib/init.lua")
        .call(native)?;
    let hooks = Hooks {
        worker: init.get("worker")?,
        uncaught: init.get("uncaught")?,
    };
    let main: mlua::Function = init.get("main")?;
    let finish: mlua::Function = init.get("finish")?;

    let job = lua.create_table()?;
    job.set("script", opts.script.as_deref())?;
    job.set("eval", opts.eval.as_deref())?;
    job.set("libs", opts.libs.clone())?;
    job.set(
        "repl",
        opts.interactive || (opts.script.is_none() && opts.eval.is_none()),
    )?;

    // Timers the main script starts measure from now, not from before the bootstrap.
    state.borrow_mut().update_time();
    let ev = EventLoop::new(lua, state, hooks)?;
    // The main script is just the first callback: it runs in a coroutine like any other.
    ev.run_task(Task::Call(
        main,
        MultiValue::from_vec(vec![Value::Table(job)]),
    ))?;
    ev.run()?;
    // `finish` emits process 'exit' and exits with process.exitCode.
    ev.run_task(Task::Call(finish, MultiValue::new()))?;
    Ok(0)
}

/// The collector's pause: a cycle starts when the heap reaches this percentage of its
/// size after the last one (LuaJIT's default is 200, twice). A server's heap peaks
/// there, so a lower pause is a lower peak RSS, paid for with more frequent cycles.
const GC_PAUSE: i32 = 150;
/// The collector's speed against allocation, in percent (default 200). A faster
/// collector ends each cycle sooner, so the heap grows less past the pause meanwhile;
/// the work per cycle is the same. docs/memory.md has the measurements.
const GC_STEPMUL: i32 = 400;

/// A LuaJIT state with every standard library, `ffi` and `jit` included (Stardust
/// scripts may use the FFI), and the collector set for a server's footprint.
///
/// The state comes from `luaL_newstate`, so LuaJIT uses its own allocator. mlua's
/// constructors install a Rust allocator instead, which sends every Lua allocation
/// through malloc.
pub fn new_state() -> Lua {
    // SAFETY: a fresh state from LuaJIT, opened with its standard libraries, then handed
    // to mlua, which keeps it for the life of the process (the process exits through
    // `exit` without closing it).
    unsafe {
        let state = mlua::ffi::luaL_newstate();
        assert!(
            !state.is_null(),
            "LuaJIT could not create a state (out of memory?)"
        );
        mlua::ffi::luaL_openlibs(state);
        mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCSETPAUSE, GC_PAUSE);
        mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCSETSTEPMUL, GC_STEPMUL);
        Lua::get_or_init_from_ptr(state).clone()
    }
}

pub use crate::bindings::os::{exit, init_logging};

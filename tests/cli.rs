//! The command line, exit codes, the examples and the REPL on piped stdin, driven
//! through the built binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stardust(args: &[&str]) -> Output {
    stardust_with_input(args, None)
}

fn stardust_with_input(args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(args)
        .current_dir(root())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stardust starts");
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("stardust {args:?} did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "a Rust panic is a bug: {stderr}"
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn eval_prints_results_with_dump() {
    let o = stardust(&["-e", "1 + 1"]);
    assert_eq!(stdout(&o), "2\n");
    assert_eq!(o.status.code(), Some(0));
    let o = stardust(&["-e", "return 'a', {1, x = true}"]);
    assert_eq!(stdout(&o), "'a'\t{ 1, x = true }\n");
    let o = stardust(&["-e", "p(1)"]);
    assert_eq!(stdout(&o), "1\n");
    let o = stardust(&["-e", ""]);
    assert_eq!(stdout(&o), "");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn version_and_help() {
    let o = stardust(&["-v"]);
    let s = stdout(&o);
    assert!(
        s.contains("stardust 0.") && s.contains("LuaJIT 2.1") && s.contains("mio 1."),
        "{s}"
    );
    let o = stardust(&["--help"]);
    assert!(stdout(&o).contains("Usage: stardust"));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn unknown_flag_prints_usage_and_exits_1() {
    let o = stardust(&["--frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown option --frobnicate"));
    assert!(stderr(&o).contains("Usage: stardust"));
}

#[test]
fn missing_script_is_a_one_line_error() {
    let o = stardust(&["no/such/script.lua"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("cannot open no/such/script.lua"), "{e}");
}

#[test]
fn syntax_error_names_file_and_line_and_exits_255() {
    let o = stardust(&["tests/lua/fixtures/require/syntax-error.lua"]);
    assert_eq!(o.status.code(), Some(255));
    let e = stderr(&o);
    assert!(e.contains("Uncaught exception:"), "{e}");
    assert!(e.contains("syntax-error.lua:1:"), "{e}");
}

#[test]
fn ground_control_prints_false_then_fails_with_a_traceback() {
    let o = stardust(&["examples/ground-control.lua"]);
    assert_eq!(stdout(&o), "false\n");
    assert_eq!(o.status.code(), Some(255));
    let e = stderr(&o);
    assert!(e.starts_with("Uncaught exception:\n"), "{e}");
    assert!(
        e.contains("ground-control.lua:11: attempt to index local 'self' (a nil value)"),
        "{e}"
    );
    assert!(
        e.contains("stack traceback:") && e.contains("ground-control.lua:17:"),
        "{e}"
    );
}

#[test]
fn uncaught_error_in_a_timer_emits_exit_then_exits_255() {
    let o = stardust(&["tests/fixtures/exit-event.lua"]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(stdout(&o), "exit event\t255\n");
    let e = stderr(&o);
    assert!(e.contains("exit-event.lua:3: boom in a timer"), "{e}");
}

#[test]
fn an_error_in_a_coroutine_the_loop_resumed_is_uncaught_with_its_traceback() {
    let o = stardust(&["tests/fixtures/coroutine-error-after-read.lua"]);
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("Uncaught exception:\nruntime error: ")
            && err.contains("coroutine-error-after-read.lua:12: after read: hi\nstack traceback:")
            && err.contains("in function 'error'"),
        "{err}"
    );
}

#[test]
fn a_coroutine_an_error_escaped_goes_on_serving_callbacks() {
    // nextTick callbacks run in the pooled coroutines themselves (timers go through a
    // batch runner): each error is reported with its value, and the coroutine it
    // escaped runs the callbacks after it.
    let out = stardust(&[
        "-e",
        "process:on('uncaughtException', function(e) print('caught', e.code) end) \
         for i = 1, 3 do process.nextTick(function() error({ code = i }) end) end \
         process.nextTick(function(a, b, c) print('after', a, b, c) end, 'x', nil, 'z')",
    ]);
    assert_eq!(
        stdout(&out),
        "caught\t1\ncaught\t2\ncaught\t3\nafter\tx\tnil\tz\n",
        "{}",
        stderr(&out)
    );
    assert!(out.status.success());
    // Without a listener: the message and its traceback, from where it was raised.
    let out = stardust(&[
        "-e",
        "process.nextTick(function() local x = nil; return x.y end)",
    ]);
    assert_eq!(out.status.code(), Some(255));
    let e = stderr(&out);
    assert!(
        e.starts_with("Uncaught exception:\n(command line):1: attempt to index local 'x'"),
        "{e}"
    );
    assert!(
        e.contains("stack traceback:\n") && e.contains("(command line):1: in function"),
        "{e}"
    );
}

#[test]
fn an_error_in_one_timeout_does_not_drop_the_rest_of_its_list() {
    let out = stardust(&[
        "-e",
        "process:on('uncaughtException', function(e) print('caught', e) end) \
         setTimeout(5, function() error('boom', 0) end) \
         setTimeout(5, function() print('second') end)",
    ]);
    assert_eq!(stdout(&out), "caught\tboom\nsecond\n", "{}", stderr(&out));
    assert!(out.status.success());
}

#[test]
fn process_exit_and_exit_code() {
    let o = stardust(&["tests/fixtures/exit-code.lua", "exit"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "exit\t3\t1\n", "'exit' is emitted exactly once");
    let o = stardust(&["tests/fixtures/exit-code.lua", "exitCode"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stdout(&o), "exit\t4\t1\n");
    let o = stardust(&["tests/fixtures/exit-code.lua"]);
    assert_eq!(o.status.code(), Some(0));
}

// src/main.rs does what Rust's own start-up would (it skips it): these two check it.

#[test]
fn writing_to_a_closed_pipe_is_an_error_not_a_signal() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["-e", "for i = 1, 200000 do print(i) end"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("stardust starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone now: the rest of the prints meet a closed pipe.
    assert_eq!(first, "1\n");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGPIPE is ignored, so the process ends normally: {status:?}"
    );
}

#[test]
fn a_closed_stdout_is_reopened_on_dev_null() {
    use std::os::unix::process::CommandExt;
    let script = "local f = io.popen('readlink /proc/' .. process.pid .. '/fd/1') \
                  io.stderr:write(f:read('*l'), '\\n') f:close()";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stardust"));
    cmd.args(["-e", script])
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: close(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "/dev/null\n",
        "fd 1 is /dev/null, not whatever the process opened first"
    );
}

/// Every shared library costs each process its own resident pages (docs/memory.md):
/// the static build links glibc in and maps none; a dynamic one defines the math
/// functions (no libm) and links libgcc's unwinder statically (no libgcc_s), so it
/// maps glibc's libc and loader only.
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
#[test]
fn no_shared_library_but_libc_and_its_loader() {
    let o = stardust(&[
        "-e",
        "local f = assert(io.open('/proc/self/maps')) io.write(f:read('*a')) f:close()",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut libs: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|path| path.contains(".so"))
        .map(|path| path.rsplit('/').next().unwrap().to_string())
        .collect();
    libs.sort();
    libs.dedup();
    // The static build (.cargo/config.toml) maps none; a dynamic one (RUSTFLAGS=)
    // glibc and its loader only.
    let expected: &[&str] = if cfg!(target_feature = "crt-static") {
        &[]
    } else {
        &["ld-linux-x86-64.so.2", "libc.so.6"]
    };
    assert_eq!(
        libs, expected,
        "a new shared library (built with STARDUST_LIBGCC_S=1? see build.rs)"
    );
}

#[test]
fn seed_examples_run_verbatim() {
    let o = stardust(&["examples/object-system.lua"]);
    assert_eq!(stdout(&o), "12\n");
    let o = stardust(&["examples/modules/run.lua"]);
    assert_eq!(stdout(&o), "Hello World\n");
    let o = stardust(&["examples/json.lua"]);
    assert_eq!(
        stdout(&o),
        "{\n  \"author\": \"Brandon Philips <brandon@ifup.org>\",\n  \"description\": \"a talk about luvit\",\n  \"name\": \"luvit - node's Ziggy Stardust\"\n}\n"
    );
    let o = stardust(&["examples/timers.lua"]);
    assert_eq!(o.status.code(), Some(0));
    let s = stdout(&o);
    for needle in [
        "immediate",
        "interval tick 3",
        "timeout says hello to Ziggy",
        "slept 100 ms",
    ] {
        assert!(s.contains(needle), "{s}");
    }
}

#[test]
fn lib_flag_requires_first() {
    let o = stardust(&["-l", "./tests/fixtures/prints", "-e", "'after'"]);
    assert_eq!(stdout(&o), "loaded prints.lua\n'after'\n");
}

#[test]
fn piped_repl_evaluates_lines_without_banner_or_prompt() {
    let o = stardust_with_input(
        &[],
        Some("print(1+1)\n1 + 2\nfor i = 1, 2 do\nprint('i', i)\nend\nlocal x = \n"),
    );
    assert_eq!(o.status.code(), Some(0));
    let s = stdout(&o);
    assert_eq!(s, "2\n3\ni\t1\ni\t2\n", "{s}");
    assert!(!s.contains("Welcome"));
}

#[test]
fn repl_reads_stdin_from_a_regular_file_to_its_end() {
    // epoll refuses regular files: stdin then is read directly, and its end must
    // still be seen (a short read is not "nothing more for now" there).
    let path = std::env::temp_dir().join(format!("stardust-stdin-{}.lua", std::process::id()));
    std::fs::write(&path, "print(1+1)\nprint(2+2)\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .current_dir(root())
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stardust starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            let _ = std::fs::remove_file(&path);
            panic!("stardust did not see the end of stdin (a regular file) in 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "2\n4\n");
}

#[test]
fn piped_repl_keeps_the_loop_running() {
    let o = stardust_with_input(
        &[],
        Some("setTimeout(20, function() print('fired') end)\nprint('typed')\n"),
    );
    // The first line's value (the Timeout) is printed, then the timer fires after the
    // second line ran.
    let s = stdout(&o);
    assert!(s.starts_with("Timeout (20 ms)\n"), "{s}");
    assert!(s.ends_with("\ntyped\nfired\n"), "{s}");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn repl_errors_are_reported_and_the_repl_goes_on() {
    let o = stardust_with_input(&[], Some("error('oops')\nprint('still here')\n"));
    assert!(stderr(&o).contains("oops"));
    assert_eq!(stdout(&o), "still here\n");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn interactive_flag_opens_the_repl_after_the_script() {
    let o = stardust_with_input(
        &["-i", "examples/object-system.lua"],
        Some("print('repl')\n"),
    );
    assert_eq!(stdout(&o), "12\nrepl\n");
}

#[test]
fn tap_failures_give_not_ok_and_exit_code_1() {
    let o = stardust(&["tests/fixtures/failing-tap.lua"]);
    assert_eq!(o.status.code(), Some(1));
    let s = stdout(&o);
    assert!(
        s.starts_with("1..3\nok 1 - passes\nnot ok 2 - fails\n"),
        "{s}"
    );
    assert!(s.contains("deliberate failure"), "{s}");
    assert!(
        s.contains("not ok 3 - expect not met") && s.contains("ran 0 times, expected 1"),
        "{s}"
    );
    assert!(s.ends_with("1 passed, 2 failed\n"), "{s}");
}

#[test]
fn unrefd_timers_do_not_keep_the_process_alive() {
    let start = Instant::now();
    let o = stardust(&["-e", "require('timer').setTimeout(60000, print):unref()"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn loop_trace_shows_phases() {
    let o = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["-e", "require('timer').setTimeout(1, function() end)"])
        .env("STARDUST_TRACE", "loop")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(
        e.contains("[loop] poll") && e.contains("[loop] timer") && e.contains("closed"),
        "{e}"
    );
}

#[test]
fn hostile_arguments_raise_lua_errors_not_panics() {
    let script = r#"
        local uv, timer, json = require('uv'), require('timer'), require('json')
        local checks = {
          function() local t = uv.new_timer(); t:start(math.huge, 0, print); t:close() end,
          function() local t = uv.new_timer(); t:start(-5, -1, print); t:close() end,
          function() local t = uv.new_timer(); t:start(0/0, 0, print) end,
          function() local t = uv.new_timer(); t:close(); t:close(); t:start(1, 0, print) end,
          function() json.parse("\255\254") end,
          function() json.stringify({ [{}] = 1 }) end,
          function() json.stringify("\255") end,
          function() uv.new_tcp():write({ 1, 2 }) end,
          function() uv.new_tcp():connect("127.0.0.1", -1, print) end,
          function() uv.new_tcp():listen(1) end,
          function() uv.new_tty(-1) end,
          function() timer.sleep("x") end,
          function() require('path').join(nil) end,
        }
        local n = 0
        for _, f in ipairs(checks) do
          pcall(f)
          n = n + 1
        end
        for _, h in ipairs(require('_native').handles()) do if not h:is_closing() then h:close() end end
        print("survived", n)
    "#;
    let o = stardust(&["-e", script]);
    assert_eq!(stdout(&o), "survived\t13\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn uv_stop_ends_the_loop_with_handles_still_active() {
    let start = Instant::now();
    let o = stardust(&[
        "-e",
        "local t = require('timer'); t.setInterval(5, function() end); t.setTimeout(30, function() require('uv').stop() end)",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn an_unheard_bind_error_is_logged_and_dropped_as_in_luvit() {
    // luvit: an 'error' event nobody listens for is not raised; Stardust also logs
    // it at warn level. (node would raise it.)
    let script = "local net = require('net')\n\
        local a = net.createServer()\n\
        a:listen(0, '127.0.0.1', function()\n\
          net.createServer():listen(a:address().port, '127.0.0.1')\n\
          require('timer').setTimeout(50, function() a:close() end)\n\
        end)";
    let o = stardust(&["-e", script]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("unhandled 'error' event") && e.contains("EADDRINUSE"),
        "{e}"
    );
}

#[test]
fn an_error_event_goes_to_process_error_listeners() {
    let script = "local core = require('core')\n\
        process:on('error', function(err, source) print('process got', err, source.tag) end)\n\
        local e = core.Emitter:new()\n\
        e.tag = 'emitter'\n\
        e:emit('error', 'boom')";
    let o = stardust(&["-e", script]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "process got\tboom\temitter\n");
}

#[test]
fn errors_are_reported_after_a_script_replaces_debug_and_io() {
    // luvit's http-keepalive example sets `debug = function() end`.
    let o = stardust(&[
        "-e",
        "debug = function() end; io = nil; require('timer').setTimeout(1, function() error('boom') end)",
    ]);
    assert_eq!(o.status.code(), Some(255));
    let err = stderr(&o);
    assert!(err.contains("Uncaught exception:"), "{err}");
    assert!(err.contains("boom"), "{err}");
    assert!(err.contains("stack traceback:"), "{err}");
}

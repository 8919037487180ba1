//! The `stardust` command line.
//!
//! `main` is the C entry point itself (`no_main`), not Rust's: see `main` below.
#![no_main]

use stardust::runtime::{self, Options};

const USAGE: &str = "\
Usage: stardust [options] [script.lua [arguments...]]

Runs a Lua script on the Stardust event loop; with no script, opens the REPL.

Options:
  -e code        evaluate code and print its result
  -i             open the REPL after running the script or -e code
  -l lib         require lib before anything else (may be repeated)
  -v, --version  print the versions of Stardust, LuaJIT and mio
  -h, --help     print this help
  --             stop reading options

Environment:
  RUST_LOG=level        log through env_logger (error, warn, info, debug, trace)
  STARDUST_TRACE=loop   print each loop phase to stderr (for learning how it works)
";

fn usage_error(msg: &str) -> ! {
    eprintln!("stardust: {msg}\n\n{USAGE}");
    std::process::exit(1);
}

fn parse(args: Vec<String>) -> Options {
    let mut opts = Options::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-e" => opts.eval = Some(it.next().unwrap_or_else(|| usage_error("-e needs code"))),
            "-i" => opts.interactive = true,
            "-l" => opts.libs.push(
                it.next()
                    .unwrap_or_else(|| usage_error("-l needs a library name")),
            ),
            "-v" | "--version" => {
                println!(
                    "stardust {}\nLuaJIT {}\nmio {}",
                    env!("CARGO_PKG_VERSION"),
                    luajit_version(),
                    env!("STARDUST_MIO_VERSION")
                );
                std::process::exit(0);
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--" => {
                if let Some(s) = it.next() {
                    opts.script = Some(s);
                }
                break;
            }
            s if s.starts_with('-') && s.len() > 1 => usage_error(&format!("unknown option {s}")),
            _ => {
                opts.script = Some(a);
                break;
            }
        }
    }
    opts.args = it.collect();
    opts
}

fn luajit_version() -> String {
    // SAFETY: a fresh state used only to read jit.version.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    lua.load("return jit.version")
        .eval::<String>()
        .unwrap_or_default()
        .trim_start_matches("LuaJIT ")
        .to_string()
}

/// The process's entry point, called by the C runtime. Rust's own start-up (std's
/// `lang_start`) is skipped: to set up its stack-overflow message for the main
/// thread, it reads /proc/self/maps through glibc's stdio and scanf, code that
/// nothing else runs and that then stays in every process's RSS (docs/memory.md).
/// What it does that Stardust needs is done here: SIGPIPE ignored (a write to a
/// closed socket or pipe is an EPIPE error, not death), and standard descriptors
/// that are closed opened on /dev/null (so that no socket becomes stdout).
/// A panic is reported and exits with 101, as under std's start-up.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: plain libc calls on the process's own descriptors and signal table,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        for fd in 0..3 {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
    match std::panic::catch_unwind(run) {
        Ok(()) => 0,
        Err(_) => 101,
    }
}

fn run() {
    let opts = parse(std::env::args().skip(1).collect());
    if let Some(script) = &opts.script {
        if let Err(e) = std::fs::metadata(script).and_then(|m| {
            if m.is_dir() {
                Err(std::io::Error::other("is a directory"))
            } else {
                Ok(())
            }
        }) {
            eprintln!("stardust: cannot open {script}: {e}");
            std::process::exit(1);
        }
    }
    runtime::init_logging();
    let code = match runtime::run(opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Uncaught exception:\n{e}");
            255
        }
    };
    runtime::exit(code);
}

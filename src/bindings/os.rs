//! The process and the machine, as luv shows them: `uv.cwd`, `chdir`, `os_*`,
//! `resident_set_memory`, `uptime`, `loadavg`, `cpu_info`, `interface_addresses`,
//! `get_total_memory`, `get_free_memory`, `getrusage`, `kill`, `hrtime`; and how the
//! process ends ([`exit`]) and logs ([`init_logging`]).
//!
//! All of them answer at once on the loop thread: they read the kernel's tables or
//! /proc, and none can block for long.

use std::ffi::CStr;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::event_loop::errors::{error_values, io_error_values};

static LOGGER: AtomicBool = AtomicBool::new(false);

/// Installs env_logger if RUST_LOG is set (so unused logging costs nothing at startup).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        env_logger::init();
        LOGGER.store(true, Ordering::Relaxed);
    }
}

/// Did `init_logging` install a logger?
pub fn logger_installed() -> bool {
    LOGGER.load(Ordering::Relaxed)
}

/// Leaves the process now: restores the terminal and stdin, flushes, exits. Every exit
/// path comes here.
pub fn exit(code: i32) -> ! {
    super::tty::restore_stdin();
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

fn last_error(lua: &Lua) -> Result<MultiValue> {
    io_error_values(lua, &std::io::Error::last_os_error())
}

fn c_string(bytes: &[std::ffi::c_char]) -> String {
    // SAFETY: the kernel's fixed-size fields are NUL-terminated.
    unsafe { CStr::from_ptr(bytes.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Resident set size from /proc/self/statm, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// A field of /proc/self/status in kB (VmHWM: the peak RSS).
pub fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn meminfo_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// A signal's number from its name ("SIGTERM", "sigterm", "TERM") or number.
pub fn signal_number(v: &Value) -> Option<i32> {
    match v {
        Value::Integer(n) => Some(*n as i32),
        Value::Number(n) => Some(*n as i32),
        Value::String(s) => crate::event_loop::signal::signal_number(&s.to_str().ok()?),
        _ => None,
    }
}

/// Adds what the runtime itself uses (process, init.lua) to the `native` table: cwd,
/// pid, hrtime, os_environ, os_setenv, os_unsetenv, rss and peak_rss. The rest of
/// luv's os functions are a group `uv` loads on first use (`install`).
pub fn install_core(lua: &Lua, n: &Table) -> Result<()> {
    n.set("pid", std::process::id())?;
    n.set(
        "cwd",
        lua.create_function(|lua, ()| match std::env::current_dir() {
            Ok(p) => lua
                .create_string(p.as_os_str().as_encoded_bytes())?
                .into_lua_multi(lua),
            Err(e) => io_error_values(lua, &e),
        })?,
    )?;
    n.set("rss", lua.create_function(|_, ()| Ok(rss_bytes()))?)?;
    n.set(
        "peak_rss",
        lua.create_function(|_, ()| Ok(status_kb("VmHWM:") * 1024))?,
    )?;
    let start = std::time::Instant::now();
    n.set(
        "hrtime",
        lua.create_function(move |_, ()| Ok(start.elapsed().as_nanos() as f64))?,
    )?;
    n.set(
        "os_environ",
        lua.create_function(|lua, ()| {
            let t = lua.create_table()?;
            for (k, v) in std::env::vars_os() {
                t.raw_set(
                    lua.create_string(k.as_encoded_bytes())?,
                    lua.create_string(v.as_encoded_bytes())?,
                )?;
            }
            Ok(t)
        })?,
    )?;
    n.set(
        "os_setenv",
        lua.create_function(|lua, (k, v): (String, String)| {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return error_values(lua, "EINVAL", "invalid variable name or value");
            }
            // SAFETY: the loop thread is the only one that reads or writes the
            // environment (the pool's threads never do).
            unsafe { std::env::set_var(k, v) };
            true.into_lua_multi(lua)
        })?,
    )?;
    n.set(
        "os_unsetenv",
        lua.create_function(|lua, k: String| {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return error_values(lua, "EINVAL", "invalid variable name");
            }
            // SAFETY: as os_setenv.
            unsafe { std::env::remove_var(k) };
            true.into_lua_multi(lua)
        })?,
    )?;
    Ok(())
}

/// Adds luv's os functions to the `native` table (`native.load(native, "os")`).
pub fn install(lua: &Lua, n: &Table) -> Result<()> {
    n.set(
        "chdir",
        lua.create_function(|lua, dir: String| match std::env::set_current_dir(&dir) {
            Ok(()) => 0.into_lua_multi(lua),
            Err(e) => io_error_values(lua, &e),
        })?,
    )?;
    n.set(
        "os_homedir",
        lua.create_function(|lua, ()| match std::env::var_os("HOME") {
            Some(h) => lua.create_string(h.as_encoded_bytes())?.into_lua_multi(lua),
            None => {
                // SAFETY: getpwuid returns a pointer into static storage, read at once.
                unsafe {
                    let pw = libc::getpwuid(libc::getuid());
                    if pw.is_null() {
                        return error_values(lua, "ENOENT", "no home directory");
                    }
                    CStr::from_ptr((*pw).pw_dir)
                        .to_string_lossy()
                        .into_owned()
                        .into_lua_multi(lua)
                }
            }
        })?,
    )?;
    n.set(
        "os_tmpdir",
        lua.create_function(|_, ()| {
            // libuv's order: TMPDIR, TMP, TEMP, TEMPDIR, then /tmp; no trailing slash.
            let dir = ["TMPDIR", "TMP", "TEMP", "TEMPDIR"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
                .unwrap_or_else(|| "/tmp".into());
            Ok(match dir.strip_suffix('/') {
                Some(d) if !d.is_empty() => d.to_string(),
                _ => dir,
            })
        })?,
    )?;
    n.set(
        "os_gethostname",
        lua.create_function(|lua, ()| {
            let mut buf = [0 as std::ffi::c_char; 256];
            // SAFETY: gethostname writes at most buf.len() bytes.
            if unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) } != 0 {
                return last_error(lua);
            }
            c_string(&buf).into_lua_multi(lua)
        })?,
    )?;
    n.set(
        "os_uname",
        lua.create_function(|lua, ()| {
            // SAFETY: uname fills a struct we own.
            let mut u: libc::utsname = unsafe { std::mem::zeroed() };
            if unsafe { libc::uname(&mut u) } != 0 {
                return last_error(lua);
            }
            let t = lua.create_table()?;
            t.set("sysname", c_string(&u.sysname))?;
            t.set("release", c_string(&u.release))?;
            t.set("version", c_string(&u.version))?;
            t.set("machine", c_string(&u.machine))?;
            t.into_lua_multi(lua)
        })?,
    )?;
    n.set(
        "os_getpid",
        lua.create_function(|_, ()| Ok(std::process::id()))?,
    )?;
    n.set(
        "os_getppid",
        // SAFETY: getppid has no preconditions.
        lua.create_function(|_, ()| Ok(unsafe { libc::getppid() }))?,
    )?;
    n.set(
        "os_getenv",
        lua.create_function(|lua, name: String| match std::env::var_os(&name) {
            Some(v) => lua.create_string(v.as_encoded_bytes())?.into_lua_multi(lua),
            None => error_values(lua, "ENOENT", &format!("no such variable: {name}")),
        })?,
    )?;
    n.set(
        "resident_set_memory",
        lua.create_function(|_, ()| Ok(rss_bytes()))?,
    )?;
    n.set(
        "uptime",
        lua.create_function(|lua, ()| {
            let text = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
            match text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            {
                Some(up) => up.into_lua_multi(lua),
                None => error_values(lua, "EIO", "cannot read /proc/uptime"),
            }
        })?,
    )?;
    n.set(
        "loadavg",
        lua.create_function(|_, ()| {
            let mut avg = [0f64; 3];
            // SAFETY: getloadavg fills at most 3 doubles.
            unsafe { libc::getloadavg(avg.as_mut_ptr(), 3) };
            Ok((avg[0], avg[1], avg[2]))
        })?,
    )?;
    n.set(
        "get_total_memory",
        lua.create_function(|_, ()| Ok(meminfo_bytes("MemTotal:")))?,
    )?;
    n.set(
        "get_free_memory",
        lua.create_function(|_, ()| Ok(meminfo_bytes("MemAvailable:")))?,
    )?;
    n.set("cpu_info", lua.create_function(cpu_info)?)?;
    n.set(
        "interface_addresses",
        lua.create_function(interface_addresses)?,
    )?;
    n.set(
        "getrusage",
        lua.create_function(|lua, ()| {
            // SAFETY: getrusage fills a struct we own.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
                return last_error(lua);
            }
            let t = lua.create_table()?;
            let tv = |v: libc::timeval| -> Result<Table> {
                let x = lua.create_table()?;
                x.set("sec", v.tv_sec)?;
                x.set("usec", v.tv_usec)?;
                Ok(x)
            };
            t.set("utime", tv(ru.ru_utime)?)?;
            t.set("stime", tv(ru.ru_stime)?)?;
            t.set("maxrss", ru.ru_maxrss)?;
            t.set("ixrss", ru.ru_ixrss)?;
            t.set("idrss", ru.ru_idrss)?;
            t.set("isrss", ru.ru_isrss)?;
            t.set("minflt", ru.ru_minflt)?;
            t.set("majflt", ru.ru_majflt)?;
            t.set("nswap", ru.ru_nswap)?;
            t.set("inblock", ru.ru_inblock)?;
            t.set("oublock", ru.ru_oublock)?;
            t.set("msgsnd", ru.ru_msgsnd)?;
            t.set("msgrcv", ru.ru_msgrcv)?;
            t.set("nsignals", ru.ru_nsignals)?;
            t.set("nvcsw", ru.ru_nvcsw)?;
            t.set("nivcsw", ru.ru_nivcsw)?;
            t.into_lua_multi(lua)
        })?,
    )?;
    n.set(
        "kill",
        lua.create_function(|lua, (pid, sig): (i32, Value)| {
            let sig = if sig.is_nil() {
                libc::SIGTERM
            } else {
                signal_number(&sig)
                    .ok_or_else(|| mlua::Error::runtime(format!("kill: unknown signal {sig:?}")))?
            };
            // SAFETY: kill has no memory preconditions.
            if unsafe { libc::kill(pid, sig) } != 0 {
                return last_error(lua);
            }
            0.into_lua_multi(lua)
        })?,
    )?;
    Ok(())
}

/// `uv.cpu_info()`: one table per CPU, { model, speed (MHz), times = { user, nice,
/// sys, idle, irq } (ms) }, from /proc/cpuinfo and /proc/stat.
fn cpu_info(lua: &Lua, _: ()) -> Result<MultiValue> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut models = Vec::new();
    let mut speeds = Vec::new();
    for line in info.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "model name" => models.push(v.trim().to_string()),
                "cpu MHz" => speeds.push(v.trim().parse::<f64>().unwrap_or(0.0) as i64),
                _ => {}
            }
        }
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ms = |v: &str| v.parse::<u64>().unwrap_or(0) * 1000 / ticks;
    let list = lua.create_table()?;
    for (i, line) in stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .enumerate()
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let times = lua.create_table()?;
        times.set("user", ms(f.get(1).unwrap_or(&"0")))?;
        times.set("nice", ms(f.get(2).unwrap_or(&"0")))?;
        times.set("sys", ms(f.get(3).unwrap_or(&"0")))?;
        times.set("idle", ms(f.get(4).unwrap_or(&"0")))?;
        times.set("irq", ms(f.get(6).unwrap_or(&"0")))?;
        let cpu = lua.create_table()?;
        cpu.set("model", models.get(i).cloned().unwrap_or_default())?;
        cpu.set("speed", speeds.get(i).copied().unwrap_or(0))?;
        cpu.set("times", times)?;
        list.raw_set(i + 1, cpu)?;
    }
    list.into_lua_multi(lua)
}

/// `uv.interface_addresses()`: { [name] = { { ip, family, netmask, internal, mac }, ... } }.
fn interface_addresses(lua: &Lua, _: ()) -> Result<MultiValue> {
    let out = lua.create_table()?;
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifa) != 0 {
            return last_error(lua);
        }
        let mut cur = ifa;
        while !cur.is_null() {
            let i = &*cur;
            cur = i.ifa_next;
            let Some(addr) = sockaddr_ip(i.ifa_addr) else {
                continue;
            };
            let name = CStr::from_ptr(i.ifa_name).to_string_lossy().into_owned();
            let entry = lua.create_table()?;
            entry.set("ip", addr.to_string())?;
            entry.set("family", if addr.is_ipv4() { "inet" } else { "inet6" })?;
            if let Some(mask) = sockaddr_ip(i.ifa_netmask) {
                entry.set("netmask", mask.to_string())?;
            }
            entry.set("internal", i.ifa_flags & libc::IFF_LOOPBACK as u32 != 0)?;
            let list: Table = match out.get::<Option<Table>>(name.as_str())? {
                Some(t) => t,
                None => {
                    let t = lua.create_table()?;
                    out.set(name.as_str(), &t)?;
                    t
                }
            };
            list.raw_set(list.raw_len() + 1, entry)?;
        }
        libc::freeifaddrs(ifa);
    }
    out.into_lua_multi(lua)
}

/// The IP address in a sockaddr, if it is IPv4 or IPv6.
///
/// # Safety
/// `sa` is null or points to a sockaddr of the length its family implies.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<std::net::IpAddr> {
    if sa.is_null() {
        return None;
    }
    match (*sa).sa_family as i32 {
        libc::AF_INET => {
            let a = &*(sa as *const libc::sockaddr_in);
            Some(std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)).into())
        }
        libc::AF_INET6 => {
            let a = &*(sa as *const libc::sockaddr_in6);
            Some(std::net::Ipv6Addr::from(a.sin6_addr.s6_addr).into())
        }
        _ => None,
    }
}

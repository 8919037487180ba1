//! Faults a server must live through, tried on the real binary: running out of file
//! descriptors, and of memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A hello server that holds its connections (keep-alive), under `RLIMIT_NOFILE` 256.
const SERVER: &str = r#"
local http = require('http')
local server = http.createServer(function(req, res)
  res:writeHead(200, { ["Content-Length"] = "5" })
  res:finish("hello")
end)
server:listen(0, "127.0.0.1", function()
  print(server:address().port)
end)
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_limited(nofile: u64) -> (Server, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stardust"));
    cmd.args(["-e", SERVER])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("stardust starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let server = Server(child);
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server printed its port in 10 s");
    let port = line.trim().parse().expect("a port number");
    (server, port)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at its ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A GET on a new connection: the status line, or the error.
fn get(port: u16) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
            .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// Opens `n` connections at once, without waiting for each (a non-blocking connect).
fn open_many(port: u16, n: usize) -> Vec<socket2::Socket> {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    (0..n)
        .map(|_| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("a socket");
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&addr.into()); // EINPROGRESS
            s
        })
        .collect()
}

#[test]
fn the_listener_recovers_from_fd_exhaustion_without_spinning() {
    let (server, port) = start_limited(256);
    assert_eq!(
        get(port).as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "serves at first"
    );

    // More connections than the server has descriptors for, and than its listen
    // queue (511) holds besides: the queue fills.
    let conns = open_many(port, 1000);
    std::thread::sleep(Duration::from_millis(500));

    // While the descriptors are exhausted, the server must not spin.
    let before = cpu_ticks(server.0.id());
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let ticks = cpu_ticks(server.0.id()) - before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = ticks as f64 / hz / window.elapsed().as_secs_f64();
    assert!(
        cpu < 0.05,
        "{:.0}% CPU while out of descriptors",
        cpu * 100.0
    );

    // All closed: a new request is served within 1 s.
    drop(conns);
    let closed = Instant::now();
    let mut last = Err("not tried".to_string());
    while closed.elapsed() < Duration::from_secs(1) {
        last = get(port);
        if last.as_deref() == Ok("HTTP/1.1 200 OK") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no request served within 1 s of the connections closing: {last:?}");
}

/// Runs a script under an address-space limit of 600 MB.
fn output_in_600_mb(script: &str) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stardust"));
    cmd.args(["-e", script]).stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 600 << 20,
                rlim_max: 600 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("stardust runs")
}

/// Runs a script under an address-space limit of 600 MB; its stdout, once it has
/// exited with 0.
fn run_in_600_mb(script: &str) -> String {
    let out = output_in_600_mb(script);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// An uncaught "not enough memory" (LuaJIT's own) is reported as itself, with a
/// traceback (before: the report failed on the error handler Lua skipped, and said
/// "bad argument #2 to 'write'").
#[test]
fn running_out_of_memory_reports_not_enough_memory_and_a_traceback() {
    let out = output_in_600_mb(
        "require('timer').setTimeout(1, function() local s = string.rep('x', 1024 * 1024 * 1024) end)",
    );
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Uncaught exception:\nnot enough memory"),
        "{err}"
    );
    assert!(err.contains("stack traceback:"), "{err}");
}

/// A gzip bomb (1 GiB of zeros in about 1 MB) under an address-space limit of 600 MB:
/// gunzip runs out of memory, which is the Lua error "not enough memory", caught by
/// pcall, and the process goes on (before, Rust's allocation failure aborted it).
/// With maxOutputLength it stops at the bound instead.
#[test]
fn a_decompression_bomb_is_an_error_not_an_abort() {
    const SCRIPT: &str = r#"
local zlib = require('zlib')
local z = zlib.stream("compress", "gzip", 9)
local zeros, parts = string.rep("\0", 1024 * 1024), {}
for i = 1, 1024 do parts[i] = z:write(zeros) end
parts[#parts + 1] = z:finish()
local bomb = table.concat(parts)
local out, err, code = zlib.gunzip(bomb, { maxOutputLength = 10 * 1024 * 1024 })
print(out, code)
local ok, e = pcall(zlib.gunzip, bomb)
print(ok, e)
print("still running")
"#;
    assert_eq!(
        run_in_600_mb(SCRIPT),
        "nil\tERR_BUFFER_TOO_LARGE\nfalse\tnot enough memory\nstill running\n"
    );
}

/// json.stringify of 800 MB (one 4 MB string, 200 times) under the same limit: "not
/// enough memory", caught, and the next stringify works (before: an abort).
#[test]
fn json_out_of_memory_is_an_error_not_an_abort() {
    const SCRIPT: &str = r#"
local json = require('json')
local big = string.rep("x", 4 * 1024 * 1024)
local t = {}
for i = 1, 200 do t[i] = big end
print(pcall(json.stringify, t))
print(#json.stringify({ 1, 2, big }))
"#;
    assert_eq!(run_in_600_mb(SCRIPT), "false\tnot enough memory\n4194312\n");
}

/// A 250 MB write to a peer that never reads, under the same limit: the copy for the
/// write queue finds no memory, and the write returns ENOMEM as a luv error value; a
/// small write after it is queued (before: an abort).
#[test]
fn a_write_queue_out_of_memory_is_an_error_value() {
    const SCRIPT: &str = r#"
local uv = require('uv')
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
local held = {}
assert(server:listen(16, function()
  local c = uv.new_tcp()
  server:accept(c)
  held[#held + 1] = c -- never read
end))
local client = uv.new_tcp()
client:connect("127.0.0.1", server:getsockname().port, function(err)
  assert(not err, err)
  local big = string.rep("x", 250 * 1024 * 1024)
  local ok, msg, code = client:write(big)
  print(ok, code)
  print(client:write("small") ~= nil)
  client:close() server:close() for _, c in ipairs(held) do c:close() end
end)
"#;
    assert_eq!(run_in_600_mb(SCRIPT), "nil\tENOMEM\ntrue\n");
}

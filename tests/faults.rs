//! Faults a server must live through, tried on the real binary: here, running out of
//! file descriptors.

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

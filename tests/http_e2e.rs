//! End-to-end: the HTTP server driven by curl and by a raw TCP client sending exact bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line the child prints, or a panic after 10 s (a test must not hang).
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("the server printed nothing in 10 s");
        }
    }
}

fn start(script: &str) -> Server {
    start_with_env(script, &[])
}

/// Sends `request` as is and reads until the server closes (or 5 s pass).
fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_get_post_and_keep_alive() {
    let s = start("tests/fixtures/http-echo-server.lua");
    let url = format!("http://127.0.0.1:{}", s.port);
    let (body, _) = curl(&[&format!("{url}/hello")]);
    assert_eq!(body, "Hello world\n");

    let (body, _) = curl(&[
        "-X",
        "POST",
        "--data-binary",
        "abc=123",
        &format!("{url}/form"),
    ]);
    assert!(
        body.contains("\"method\":\"POST\"") && body.contains("\"bodyLength\":7"),
        "{body}"
    );

    // Chunked upload.
    let (body, _) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "0123456789",
        &format!("{url}/up"),
    ]);
    assert!(body.contains("\"bodyLength\":10"), "{body}");

    // Two URLs on one command line share one connection.
    let (_, err) = curl(&["-v", &format!("{url}/hello"), &format!("{url}/hello")]);
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing connection"),
        "{err}"
    );
}

#[test]
fn exact_bytes_pipelining_and_errors() {
    let s = start("tests/fixtures/http-echo-server.lua");
    let reply = raw(
        s.port,
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(reply.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{reply}");
    assert!(reply.contains("Date: "), "{reply}");

    let reply = raw(
        s.port,
        b"GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    );
    assert!(
        reply.starts_with("HTTP/1.1 400 Bad Request\r\n")
            && reply.contains("Connection: close\r\n"),
        "{reply}"
    );

    let reply = raw(s.port, b"GET /boom HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 500 "), "{reply}");
    // ... and the server still serves.
    let reply = raw(s.port, b"GET /hello HTTP/1.0\r\n\r\n");
    assert!(
        reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("Hello world\n"),
        "{reply}"
    );
}

#[test]
fn one_byte_at_a_time() {
    let s = start("tests/fixtures/http-echo-server.lua");
    let request =
        b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz";
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_nodelay(true).unwrap();
    for b in request {
        c.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    assert!(
        out.contains("\"bodyLength\":3") && out.contains("\"url\":\"/slow\""),
        "{out}"
    );
}

#[test]
fn garbage_never_kills_the_server() {
    let s = start("tests/fixtures/http-echo-server.lua");
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let start = Instant::now();
    for round in 0..200 {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        let len = 1 + (round * 37) % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", s.port)) {
            let _ = c.write_all(&bytes);
            let _ = c.shutdown(std::net::Shutdown::Write);
            c.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut sink = Vec::new();
            let _ = c.read_to_end(&mut sink);
        }
    }
    let reply = raw(
        s.port,
        b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(
        reply.starts_with("HTTP/1.1 200 OK"),
        "the server died or hung: {reply:?}"
    );
}

#[test]
fn a_response_queued_before_process_exit_is_sent() {
    let mut s = start("tests/fixtures/exit-after-response.lua");
    let reply = raw(
        s.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_eq!(body, "stardust\n".repeat(1000));
    let status = s.child.wait().expect("the server exits");
    assert_eq!(status.code(), Some(0));
}

/// The seed's two examples, as they are but for their port: 8080 is swapped for a
/// free one, so that two test runs, or a running example, do not collide.
#[test]
fn seed_http_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("stardust-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = |name: &str| {
        let src = std::fs::read_to_string(root.join("examples").join(name)).unwrap();
        assert!(src.contains("8080"), "{name} listens or connects on 8080");
        let path = dir.join(name);
        std::fs::write(&path, src.replace("8080", &port.to_string())).unwrap();
        path
    };
    let (server_lua, client_lua) = (copy("http-server.lua"), copy("http-client.lua"));
    let mut server = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg(&server_lua)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line(&mut server);
    assert_eq!(
        line,
        format!("Server listening at http://localhost:{port}/\n")
    );
    let reply = raw(
        port,
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let client = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg(&client_lua)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("\r\n\r\nHello world\n"),
        "{reply}"
    );
    assert_eq!(
        String::from_utf8_lossy(&client.stdout),
        "'ondata'\t{ chunk = 'Hello world\\n' }\n"
    );
    assert_eq!(client.status.code(), Some(0));
}

fn start_with_env(script: &str, env: &[(&str, &str)]) -> Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg(root.join(script))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("stardust starts");
    let line = first_line(&mut child);
    let port = line
        .trim()
        .strip_prefix("port=")
        .expect("server prints its port")
        .parse()
        .unwrap();
    Server { child, port }
}

fn python_gunzip(data: &[u8]) -> Vec<u8> {
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    py.stdin.take().unwrap().write_all(data).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not gunzip the body");
    out.stdout
}

#[test]
fn http_server_compression_decodes_with_curl_and_python() {
    let s = start("tests/fixtures/lilush-server.lua");
    let url = format!("http://127.0.0.1:{}", s.port);
    let plain = Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("{url}/json")])
        .output()
        .unwrap()
        .stdout;
    let decoded = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--compressed",
            &format!("{url}/json"),
        ])
        .output()
        .unwrap()
        .stdout;
    assert!(
        plain.len() > 10_000 && plain == decoded,
        "curl --compressed must give the same bytes"
    );

    // The raw gzip body, decoded by Python, byte for byte.
    let raw_gz = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-H",
            "Accept-Encoding: gzip",
            &format!("{url}/json"),
        ])
        .output()
        .unwrap()
        .stdout;
    assert!(
        raw_gz.len() < plain.len() / 5,
        "the body was not compressed"
    );
    assert_eq!(python_gunzip(&raw_gz), plain);

    // A streamed (chunked) body, compressed as a stream.
    let streamed = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-H",
            "Accept-Encoding: gzip",
            &format!("{url}/stream"),
        ])
        .output()
        .unwrap()
        .stdout;
    let unpacked = python_gunzip(&streamed);
    assert_eq!(unpacked.len(), plain.len() * 50);
}

#[test]
fn http_server_requests_per_connection_with_ab() {
    if Command::new("ab").arg("-V").output().is_err() {
        panic!("ab (apache2-utils) is needed: .ci/run installs it");
    }
    let s = start_with_env(
        "tests/fixtures/lilush-server.lua",
        &[("STARDUST_TEST_RPC", "50")],
    );
    let out = Command::new("ab")
        .args([
            "-k",
            "-n",
            "1000",
            "-c",
            "4",
            "-s",
            "10",
            &format!("http://127.0.0.1:{}/", s.port),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in ab output:\n{text}"))
    };
    assert_eq!(field("Complete requests:"), 1000, "{text}");
    assert_eq!(field("Failed requests:"), 0, "{text}");
    let keep_alive = field("Keep-Alive requests:");
    // Every 50th response closes the connection.
    assert!(
        (950..1000).contains(&keep_alive),
        "keep-alive responses: {keep_alive}\n{text}"
    );
}

#[test]
fn http_server_connection_limit_65th_gets_503() {
    let s = start("tests/fixtures/lilush-server.lua");
    // 64 keep-alive connections, each past its first request, fill the limit.
    // (Connections that have sent no whole head yet do not count: they have
    // pending_limit.)
    let mut conns: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            c
        })
        .collect();
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    }
    let mut extra = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    extra
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = extra.read_to_string(&mut reply);
    assert!(
        reply.starts_with("HTTP/1.1 503 "),
        "the 65th connection: {reply:?}"
    );
    // The 64 held connections still work.
    conns[0]
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = conns[0].read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
}

#[test]
fn tls_with_sni_via_curl_and_openssl() {
    let s = start("tests/fixtures/tls-server.lua");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ca = root.join("tests/fixtures/tls/ca.pem");
    let ca = ca.to_str().unwrap();
    let (body, _) = curl(&["--cacert", ca, &format!("https://localhost:{}/a", s.port)]);
    assert_eq!(body, "secure /a\n");
    // SNI picks example.com's certificate.
    let (body, err) = curl(&[
        "-v",
        "--cacert",
        ca,
        "--resolve",
        &format!("example.com:{}:127.0.0.1", s.port),
        &format!("https://example.com:{}/b", s.port),
    ]);
    assert_eq!(body, "secure /b\n");
    assert!(
        err.contains("CN=example.com") && err.contains("ALPN: server accepted http/1.1"),
        "{err}"
    );

    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", s.port),
            "-servername",
            "example.com",
        ])
        .args(["-CAfile", ca, "-alpn", "http/1.1"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CN = example.com") && text.contains("Verify return code: 0 (ok)"),
        "{text}"
    );
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");

    // 1 MiB up and back down: more than rustls buffers at once, both ways.
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + i / 4099) as u8).collect();
    let file = std::env::temp_dir().join(format!("stardust-tls-{}.bin", std::process::id()));
    std::fs::write(&file, &data).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-S",
            "--max-time",
            "10",
            "--cacert",
            ca,
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("https://localhost:{}/echo", s.port))
        .output()
        .expect("curl runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "echoed {} of {} bytes",
        out.stdout.len(),
        data.len()
    );

    // A failed handshake (plain HTTP to the TLS port) closes that connection only.
    let _ = raw(s.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let (body, _) = curl(&["--cacert", ca, &format!("https://localhost:{}/c", s.port)]);
    assert_eq!(body, "secure /c\n");
}

//! The physical limit of one event-loop thread on this machine: a mio server that finds
//! the end of each request head (`\r\n\r\n`) and writes a canned response. No parsing,
//! no allocation per request, no scripting. Usage: `limit [port]` (default 8082).
//!
//! HTTP/1.0 clients (ab) get what HTTP/1.0 requires, as every peer gives them: the
//! connection stays open only if the request asked for keep-alive, and the response
//! says so; otherwise the server closes it after the response.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello world\n";
const RESPONSE_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
    Content-Length: 12\r\nConnection: keep-alive\r\n\r\nHello world\n";
const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8082);
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(format!("127.0.0.1:{port}").parse().unwrap())?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        poll.poll(&mut events, None)?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            next += 1;
                            poll.registry().register(&mut stream, Token(next), Interest::READABLE)?;
                            conns.insert(next, Conn { stream, pending: Vec::new() });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let key = ev.token().0;
            let mut close = false;
            if let Some(c) = conns.get_mut(&key) {
                out.clear();
                // Edge-triggered: read until WouldBlock.
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            close = true;
                            break;
                        }
                        Ok(n) => {
                            c.pending.extend_from_slice(&buf[..n]);
                            while let Some(i) = c.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                                let keep_open = respond(&c.pending[..i], &mut out);
                                c.pending.drain(..i + 4);
                                if !keep_open {
                                    close = true;
                                    break;
                                }
                            }
                            if close {
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            close = true;
                            break;
                        }
                    }
                }
                if !out.is_empty() && c.stream.write_all(&out).is_err() {
                    close = true;
                }
            }
            if close {
                if let Some(mut c) = conns.remove(&key) {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}

/// Appends the response to one request head; false if the connection must then close
/// (an HTTP/1.0 request that did not ask for keep-alive).
fn respond(head: &[u8], out: &mut Vec<u8>) -> bool {
    let line_end = head.windows(2).position(|w| w == b"\r\n").unwrap_or(head.len());
    if !head[..line_end].ends_with(b"HTTP/1.0") {
        out.extend_from_slice(RESPONSE);
        return true;
    }
    let keep_alive = head.windows(10).any(|w| w.eq_ignore_ascii_case(b"keep-alive"));
    out.extend_from_slice(if keep_alive { RESPONSE_KEEP_ALIVE } else { RESPONSE });
    keep_alive
}

//! TLS as a stream transport: plaintext in and out of a `rustls::Connection` over
//! a non-blocking socket.
//!
//! A stream handle in TLS mode keeps its `rustls::Connection` beside its socket, and
//! every read and write of plaintext goes through `read_plain` and `write_plain`, so the
//! rest of the loop (coroutine reads, read_start, queued writes) works unchanged. The
//! configurations (certificates, SNI, roots) are the bindings' (bindings/tls.rs).

use std::io::{self, Read, Write};

use rustls::Connection;

/// Sends whatever ciphertext rustls has ready; stops quietly at WouldBlock (the rest
/// goes when the socket turns writable).
pub fn flush_tls<S: Write>(s: &mut S, conn: &mut Connection) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(s) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

/// Reads plaintext: straight from the socket, or through TLS (reading ciphertext
/// until there is plaintext or the socket would block). Ok((0, _)) is the end of the
/// stream. The flag says the socket was read dry: its last read came back short and
/// nothing is left over in TLS, so another read now would only say WouldBlock.
pub fn read_plain<S: Read + Write>(
    s: &mut S,
    tls: Option<&mut Connection>,
    buf: &mut [u8],
) -> io::Result<(usize, bool)> {
    let Some(conn) = tls else {
        let n = s.read(buf)?;
        return Ok((n, n < buf.len()));
    };
    let mut socket = ShortReads { s, short: false };
    loop {
        match conn.reader().read(buf) {
            // (A short read of plaintext means rustls holds no more of it.)
            Ok(n) => return Ok((n, socket.short && n < buf.len())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((0, false)),
            Err(e) => return Err(e),
        }
        match conn.read_tls(&mut socket) {
            Ok(0) => return Ok((0, false)),
            Ok(_) => {
                let processed = conn.process_new_packets();
                // Send what the handshake (or an alert) needs, even on failure.
                flush_tls(socket.s, conn)?;
                processed.map_err(tls_error)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The socket as rustls reads it, noting whether the last read came back short.
struct ShortReads<'a, S> {
    s: &'a mut S,
    short: bool,
}

impl<S: Read> Read for ShortReads<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.s.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// Hands rustls as much of `data` as it takes, sending its records to the socket
/// whenever its buffer fills. Returns how much it took: less than all of `data` when
/// the socket is full too (the rest waits for the socket to turn writable).
pub fn write_plain<S: Write>(s: &mut S, conn: &mut Connection, data: &[u8]) -> io::Result<usize> {
    let mut taken = 0;
    while taken < data.len() {
        let n = conn.writer().write(&data[taken..])?;
        if n > 0 {
            taken += n;
            continue;
        }
        // rustls is full. Sending what it holds makes room, unless it holds nothing
        // (during a handshake it keeps early plaintext until the end) or the socket
        // is full too: then the rest waits.
        let had_records = conn.wants_write();
        flush_tls(s, conn)?;
        if !had_records || conn.wants_write() {
            break;
        }
    }
    Ok(taken)
}

/// One step of a client handshake: Ok(true) when done, Ok(false) to wait for input.
pub fn handshake_step<S: Read + Write>(s: &mut S, conn: &mut Connection) -> io::Result<bool> {
    loop {
        flush_tls(s, conn)?;
        if !conn.is_handshaking() {
            return Ok(true);
        }
        match conn.read_tls(s) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection closed during the TLS handshake",
                ))
            }
            Ok(_) => {
                let processed = conn.process_new_packets();
                flush_tls(s, conn)?;
                processed.map_err(tls_error)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

//! An HTTP/1.x message decoder that owns its buffer: bytes go in, events come out.
//!
//! httparse parses the head; this file adds what httparse leaves to its caller, and
//! makes the whole thing as strict as node's llhttp:
//!
//! - the head must use CRLF line ends (a bare LF is a 400, as is a bare CR);
//! - Content-Length and Transfer-Encoding together, differing duplicate
//!   Content-Lengths, or a Content-Length that is not a plain decimal number that fits
//!   in 64 bits, are a 400;
//! - a request whose Transfer-Encoding does not end in `chunked` is a 400;
//! - obs-fold, whitespace before a colon and bad token characters are a 400 (httparse);
//! - an HTTP/1.1 request with no Host is a 400;
//! - a head over `max_head` bytes is a 431, or a 414 if the request line alone is;
//! - a body over `max_body` is a 413.
//!
//! Body framing is Content-Length, chunked (extensions skipped, trailers read and
//! dropped), or, for responses only, read-until-close. Input may arrive in pieces of
//! any size: the decoder only acts on complete units (a whole head, a whole chunk-size
//! line), so one byte at a time decodes exactly like the whole message at once.
//!
//! No input can make it panic: every index is checked, every length is checked
//! arithmetic.

use std::ops::Range;

/// Requests or responses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Request,
    Response,
}

/// One parsed head. Its text fields are ranges of the decoder's buffer (read them with
/// `Decoder::slice`), valid until the next `feed`: making a head allocates nothing.
#[derive(Debug, Default)]
pub struct Head {
    pub method: Range<usize>,
    pub url: Range<usize>,
    pub status: u16,
    pub reason: Range<usize>,
    pub version_minor: u8,
    /// The header lines as sent, through the blank line that ends the head. Their
    /// fields, as parsed, are `Decoder::fields`; a copy of the block parses again with
    /// `httparse::parse_headers` (names as sent, values to be trimmed with `trim`).
    pub block: Range<usize>,
    pub keep_alive: bool,
    pub upgrade: bool,
    pub expect_continue: bool,
    /// The body's length when it has one (None: chunked, until close, or no body).
    pub content_length: Option<u64>,
    pub chunked: bool,
}

#[derive(Debug, PartialEq)]
pub enum Event {
    /// A head was parsed: read it with `Decoder::head`.
    Head,
    /// A piece of body: a range of the decoder's buffer, valid until the next call.
    Body(Range<usize>),
    /// The message is complete.
    End,
    /// Feed more bytes (or call `eof`).
    NeedMore,
    /// The input is not valid: the status to answer (400, 413, 414, 431) and why.
    Error(u16, &'static str),
}

#[derive(Debug, Copy, Clone, PartialEq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
    /// A message just ended; the next call starts a new head.
    Ended,
    Failed(u16, &'static str),
}

pub const MAX_HEADERS: usize = 100;
/// A chunk-size line (size plus extensions) longer than this is refused.
const MAX_CHUNK_LINE: usize = 4096;

pub struct Decoder {
    mode: Mode,
    buf: Vec<u8>,
    /// Start of the bytes not consumed yet.
    pos: usize,
    /// Where the search for the end of the head resumes (so trickled bytes are not
    /// rescanned from the start each time).
    scan: usize,
    state: State,
    /// The last head parsed.
    head: Head,
    /// Its header fields, as offsets from the head's start: name start and end, value
    /// start and end (trimmed), if `keep_fields` was set when it was parsed. Kept so
    /// that making a headers table does not parse the head a second time; reused from
    /// head to head.
    fields: Vec<[u32; 4]>,
    fields_at: usize,
    /// Whether heads keep their fields (see `fields`): off for a caller that takes a
    /// head's header lines as they are (a connection then holds no list for them).
    pub keep_fields: bool,
    pub max_head: usize,
    pub max_body: u64,
    body_seen: u64,
    /// The next response answers a HEAD request (or is otherwise bodiless).
    no_body: bool,
    eof: bool,
}

impl Decoder {
    pub fn new(mode: Mode) -> Self {
        Decoder {
            mode,
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            state: State::Head,
            head: Head::default(),
            fields: Vec::new(),
            fields_at: 0,
            keep_fields: false,
            max_head: 8 * 1024,
            max_body: u64::MAX,
            body_seen: 0,
            no_body: false,
            eof: false,
        }
    }

    /// Appends input.
    pub fn feed(&mut self, data: &[u8]) {
        // Drop what was consumed before growing, so the buffer stays near one message.
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos > 16 * 1024) {
            self.buf.drain(..self.pos);
            self.scan -= self.pos.min(self.scan);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The peer closed: ends a read-until-close body, or makes a partial message an error.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// The next response has no body whatever its headers say (it answers HEAD).
    pub fn set_no_body(&mut self) {
        self.no_body = true;
    }

    /// Are we between messages (nothing of the next one seen yet)?
    pub fn idle(&self) -> bool {
        matches!(self.state, State::Head | State::Ended) && self.buffered() == 0
    }

    /// Right after a head: is the body empty (so the next event is End)?
    pub fn at_empty_body(&self) -> bool {
        matches!(self.state, State::Length(0))
    }

    pub fn slice(&self, r: Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// The head the last `Event::Head` announced.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// That head's header fields, in order: (name as sent, value trimmed), if it was
    /// parsed with `keep_fields` set (else none). Valid, like the head, until the next
    /// `feed`.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        let at = |offset: u32| self.fields_at + offset as usize;
        self.fields
            .iter()
            .map(move |&[ns, ne, vs, ve]| (&self.buf[at(ns)..at(ne)], &self.buf[at(vs)..at(ve)]))
    }

    fn fail(&mut self, status: u16, why: &'static str) -> Event {
        self.state = State::Failed(status, why);
        Event::Error(status, why)
    }

    /// The next event. Body ranges point into the buffer and stay valid until the next
    /// call to `next` or `feed`.
    #[allow(clippy::should_implement_trait)] // an event stream that never ends, not an Iterator
    pub fn next(&mut self) -> Event {
        match self.state {
            State::Failed(s, w) => Event::Error(s, w),
            State::Ended => {
                self.state = State::Head;
                self.next()
            }
            State::Head => self.next_head(),
            State::Length(0) => self.end(),
            State::Length(left) => {
                let avail = (self.buf.len() - self.pos) as u64;
                if avail == 0 {
                    return if self.eof {
                        self.fail(400, "connection closed before the body ended")
                    } else {
                        Event::NeedMore
                    };
                }
                let n = avail.min(left);
                let start = self.pos;
                self.pos += n as usize;
                self.state = State::Length(left - n);
                Event::Body(start..self.pos)
            }
            State::UntilClose => {
                if self.pos < self.buf.len() {
                    let start = self.pos;
                    self.pos = self.buf.len();
                    return Event::Body(start..self.pos);
                }
                if self.eof {
                    self.end()
                } else {
                    Event::NeedMore
                }
            }
            State::ChunkSize => self.chunk_size(),
            State::ChunkData(left) => {
                let avail = (self.buf.len() - self.pos) as u64;
                if avail == 0 {
                    return if self.eof {
                        self.fail(400, "connection closed inside a chunk")
                    } else {
                        Event::NeedMore
                    };
                }
                let n = avail.min(left);
                let start = self.pos;
                self.pos += n as usize;
                self.state = if n == left {
                    State::ChunkDataEnd
                } else {
                    State::ChunkData(left - n)
                };
                Event::Body(start..self.pos)
            }
            State::ChunkDataEnd => {
                if self.buf.len() - self.pos < 2 {
                    return if self.eof {
                        self.fail(400, "connection closed inside a chunk")
                    } else {
                        Event::NeedMore
                    };
                }
                if &self.buf[self.pos..self.pos + 2] != b"\r\n" {
                    return self.fail(400, "chunk data not followed by CRLF");
                }
                self.pos += 2;
                self.state = State::ChunkSize;
                self.next()
            }
            State::Trailers => self.trailers(),
        }
    }

    fn end(&mut self) -> Event {
        self.state = State::Ended;
        self.no_body = false;
        Event::End
    }

    fn count_body(&mut self, n: u64) -> Result<(), Event> {
        self.body_seen = self.body_seen.saturating_add(n);
        if self.body_seen > self.max_body {
            return Err(self.fail(413, "body too large"));
        }
        Ok(())
    }

    /// Finds the end of the head, checking line ends on the way.
    fn next_head(&mut self) -> Event {
        let start = self.pos;
        let end = match scan_head(&self.buf, start, self.scan.max(start)) {
            Scan::End(end) => end,
            Scan::Bad(why) => return self.fail(400, why),
            Scan::More(resume_at) => {
                self.scan = resume_at;
                let len = self.buf.len() - start;
                if len > self.max_head {
                    return self.too_long(start, None);
                }
                if self.eof {
                    return if len == 0 {
                        Event::NeedMore
                    } else {
                        self.fail(400, "connection closed inside the head")
                    };
                }
                return Event::NeedMore;
            }
        };
        if end - start > self.max_head.min(u32::MAX as usize) {
            return self.too_long(start, Some(end));
        }
        self.scan = end;
        self.pos = end;
        self.body_seen = 0;
        match self.parse_head(start, end) {
            Ok(head) => {
                self.head = head;
                Event::Head
            }
            Err((status, why)) => self.fail(status, why),
        }
    }

    /// 414 if the request line alone is over the limit, else 431.
    fn too_long(&mut self, start: usize, end: Option<usize>) -> Event {
        let limit = end.unwrap_or(self.buf.len());
        let line_end = self.buf[start..limit].iter().position(|&b| b == b'\n');
        let line_too_long = match line_end {
            Some(n) => n > self.max_head,
            None => true,
        };
        if self.mode == Mode::Request && line_too_long {
            self.fail(414, "request line too long")
        } else {
            self.fail(431, "header fields too large")
        }
    }

    fn parse_head(&mut self, start: usize, end: usize) -> Result<Head, (u16, &'static str)> {
        // Left uninitialised: httparse fills what it uses (setting up 100 empty headers
        // for every request cost more than parsing a typical one).
        let mut raw = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let bytes = &self.buf[start..end];
        // httparse hands out slices of `bytes`: keep them as ranges of the buffer.
        let (base, len) = (self.buf.as_ptr() as usize, self.buf.len());
        let range = |s: &[u8]| {
            let at = s.as_ptr() as usize;
            if s.is_empty() || at < base || at + s.len() > base + len {
                return 0..0; // (an empty slice need not point into the buffer)
            }
            at - base..at - base + s.len()
        };
        let mut head = Head::default();
        let line_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        head.block = start + line_end + 2..end;
        let parsed_headers: &[httparse::Header] = match self.mode {
            Mode::Request => {
                let mut req = httparse::Request::new(&mut []);
                match req.parse_with_uninit_headers(bytes, &mut raw) {
                    Ok(httparse::Status::Complete(_)) => {}
                    Ok(httparse::Status::Partial) => return Err((400, "incomplete head")),
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err((431, "too many header fields"))
                    }
                    Err(_) => return Err((400, "malformed request head")),
                }
                head.method = range(req.method.unwrap_or_default().as_bytes());
                head.url = range(req.path.unwrap_or_default().as_bytes());
                head.version_minor = req.version.unwrap_or(1);
                &*std::mem::take(&mut req.headers)
            }
            Mode::Response => {
                let mut res = httparse::Response::new(&mut []);
                match httparse::ParserConfig::default()
                    .parse_response_with_uninit_headers(&mut res, bytes, &mut raw)
                {
                    Ok(httparse::Status::Complete(_)) => {}
                    Ok(httparse::Status::Partial) => return Err((400, "incomplete head")),
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err((431, "too many header fields"))
                    }
                    Err(_) => return Err((400, "malformed response head")),
                }
                head.status = res.code.unwrap_or(0);
                head.reason = range(res.reason.unwrap_or_default().as_bytes());
                head.version_minor = res.version.unwrap_or(1);
                &*std::mem::take(&mut res.headers)
            }
        };

        let mut content_length: Option<u64> = None;
        let mut transfer_encoding: Option<Vec<u8>> = None;
        let mut connection_close = false;
        let mut connection_keep_alive = false;
        let mut connection_upgrade = false;
        let mut has_host = false;
        let mut has_upgrade = false;
        self.fields.clear();
        self.fields_at = start;
        // (Offsets within the head fit: heads over u32::MAX bytes were refused above.)
        let offset = |s: &[u8]| (s.as_ptr() as usize - bytes.as_ptr() as usize) as u32;
        for h in parsed_headers {
            let name = h.name;
            let value = trim(h.value);
            if self.keep_fields {
                // (An empty value need not point into the head: it is kept as empty at
                // the name's end.)
                let ns = offset(name.as_bytes());
                let ne = ns + name.len() as u32;
                let (vs, ve) = if value.is_empty() {
                    (ne, ne)
                } else {
                    (offset(value), offset(value) + value.len() as u32)
                };
                self.fields.push([ns, ne, vs, ve]);
            }
            if name.eq_ignore_ascii_case("content-length") {
                let n = parse_length(value).ok_or((400, "invalid Content-Length"))?;
                if content_length.is_some_and(|old| old != n) {
                    return Err((400, "conflicting Content-Length headers"));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let te = transfer_encoding.get_or_insert_with(Vec::new);
                if !te.is_empty() {
                    te.push(b',');
                }
                te.extend_from_slice(value);
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',') {
                    let t = trim(token);
                    connection_close |= t.eq_ignore_ascii_case(b"close");
                    connection_keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                    connection_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
                }
            } else if name.eq_ignore_ascii_case("host") {
                // Two Host headers name two targets, and a proxy and this server may
                // each pick another: a 400 (RFC 9112, section 3.2).
                if has_host && matches!(self.mode, Mode::Request) {
                    return Err((400, "more than one Host header"));
                }
                has_host = true;
            } else if name.eq_ignore_ascii_case("expect") {
                head.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            } else if name.eq_ignore_ascii_case("upgrade") {
                has_upgrade = true;
            }
        }
        head.keep_alive = if head.version_minor >= 1 {
            !connection_close
        } else {
            connection_keep_alive && !connection_close
        };
        head.upgrade = connection_upgrade && has_upgrade;

        let chunked = match &transfer_encoding {
            None => false,
            Some(te) => {
                let last = te
                    .split(|&b| b == b',')
                    .map(trim)
                    .rfind(|t| !t.is_empty())
                    .unwrap_or(b"");
                last.eq_ignore_ascii_case(b"chunked")
            }
        };

        match self.mode {
            Mode::Request => {
                if head.version_minor >= 1 && !has_host {
                    return Err((400, "missing Host header"));
                }
                if transfer_encoding.is_some() && content_length.is_some() {
                    return Err((400, "both Content-Length and Transfer-Encoding"));
                }
                if transfer_encoding.is_some() && !chunked {
                    return Err((400, "Transfer-Encoding must end with chunked"));
                }
                if let Some(n) = content_length {
                    if n > self.max_body {
                        return Err((413, "body too large"));
                    }
                }
                self.state = if chunked {
                    State::ChunkSize
                } else {
                    State::Length(content_length.unwrap_or(0))
                };
            }
            Mode::Response => {
                let bodiless = self.no_body
                    || (100..200).contains(&head.status)
                    || head.status == 204
                    || head.status == 304;
                self.state = if bodiless {
                    State::Length(0)
                } else if transfer_encoding.is_some() {
                    // For responses, Transfer-Encoding wins over Content-Length; anything
                    // but chunked-last means "until close" (RFC 9112 6.3).
                    if chunked {
                        State::ChunkSize
                    } else {
                        State::UntilClose
                    }
                } else if let Some(n) = content_length {
                    State::Length(n)
                } else {
                    State::UntilClose
                };
                if matches!(self.state, State::UntilClose) {
                    head.keep_alive = false;
                }
                if (100..200).contains(&head.status) && head.status != 101 {
                    // An interim response: the real one follows on the same connection.
                    self.state = State::Ended;
                }
            }
        }
        head.chunked = matches!(self.state, State::ChunkSize);
        head.content_length = match self.state {
            State::Length(n) => Some(n),
            _ => None,
        };
        Ok(head)
    }

    fn chunk_size(&mut self) -> Event {
        let rest = &self.buf[self.pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > MAX_CHUNK_LINE {
                return self.fail(400, "chunk-size line too long");
            }
            return if self.eof {
                self.fail(400, "connection closed inside a chunk")
            } else {
                Event::NeedMore
            };
        };
        if nl == 0 || rest[nl - 1] != b'\r' || nl > MAX_CHUNK_LINE {
            return self.fail(400, "malformed chunk-size line");
        }
        let line = &rest[..nl - 1];
        let size_part = match line.iter().position(|&b| b == b';') {
            Some(i) => {
                // Extensions are skipped, but only text: a bare CR (or any other
                // control byte) there is where a request gets smuggled past a proxy
                // that reads the line otherwise.
                if line[i..].iter().any(|&b| is_ctl(b)) {
                    return self.fail(400, "control byte in a chunk extension");
                }
                &line[..i]
            }
            None => line,
        };
        let size_part = trim_end(size_part);
        if size_part.is_empty() || size_part.len() > 16 {
            return self.fail(400, "invalid chunk size");
        }
        let mut size: u64 = 0;
        for &b in size_part {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return self.fail(400, "invalid chunk size"),
            };
            size = match size
                .checked_mul(16)
                .and_then(|s| s.checked_add(digit as u64))
            {
                Some(s) => s,
                None => return self.fail(400, "chunk size overflows"),
            };
        }
        self.pos += nl + 1;
        if size == 0 {
            self.state = State::Trailers;
            return self.trailers();
        }
        if let Err(e) = self.count_body(size) {
            return e;
        }
        self.state = State::ChunkData(size);
        self.next()
    }

    /// Trailer fields after the last chunk: read up to the empty line and dropped.
    fn trailers(&mut self) -> Event {
        loop {
            let rest = &self.buf[self.pos..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > self.max_head {
                    return self.fail(431, "trailer fields too large");
                }
                return if self.eof {
                    self.fail(400, "connection closed inside the trailers")
                } else {
                    Event::NeedMore
                };
            };
            if nl == 0 || rest[nl - 1] != b'\r' {
                return self.fail(400, "bare LF in the trailers");
            }
            let empty = nl == 1;
            let line = &rest[..nl - 1];
            if !empty
                && (rest[0] == b' '
                    || rest[0] == b'\t'
                    || !line.contains(&b':')
                    || line.iter().any(|&b| is_ctl(b)))
            {
                return self.fail(400, "malformed trailer field");
            }
            self.pos += nl + 1;
            if empty {
                return self.end();
            }
        }
    }
}

/// What `scan_head` found.
enum Scan {
    /// The head ends just before this index (after its blank line).
    End(usize),
    /// Not there yet: scan again from this index when more bytes come.
    More(usize),
    /// A bare CR or LF.
    Bad(&'static str),
}

/// Finds the end of the head that starts at `start`, looking from `from` on, and checks
/// that every CR and LF in it come as a CRLF pair. Eight bytes at a time: a word with
/// no byte below 14 (CR is 13, LF 10) holds neither and is skipped whole, and in one
/// that has such a byte the scan goes straight to the first, so a head costs about
/// one test per word plus a few per line.
fn scan_head(buf: &[u8], start: usize, from: usize) -> Scan {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let mut i = from;
    while i < buf.len() {
        if i + 8 <= buf.len() {
            // Little-endian, so that byte k of the word is buf[i + k].
            let w = u64::from_le_bytes(buf[i..i + 8].try_into().unwrap());
            // Nonzero when some byte of w is below 14, and then its lowest set bit is
            // in the first such byte (a borrow only runs upwards).
            let below = w.wrapping_sub(ONES * 14) & !w & HIGHS;
            if below == 0 {
                i += 8;
                continue;
            }
            i += below.trailing_zeros() as usize / 8;
        }
        // buf[i]: the first byte below 14 of the word, or (in the last 7 bytes) the
        // next byte.
        match buf[i] {
            b'\n' => {
                if i == start || buf[i - 1] != b'\r' {
                    return Scan::Bad("bare LF in the head");
                }
                if i >= start + 3 && &buf[i - 3..i] == b"\r\n\r" {
                    return Scan::End(i + 1);
                }
            }
            b'\r' => match buf.get(i + 1) {
                Some(b'\n') => {}
                Some(_) => return Scan::Bad("bare CR in the head"),
                // Whether a LF follows is for the next bytes to say.
                None => return Scan::More(i),
            },
            _ => {}
        }
        i += 1;
    }
    Scan::More(i)
}

/// A control byte that may not appear in a field or an extension (HTAB may).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

pub fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    trim_end(&v[start..])
}

fn trim_end(v: &[u8]) -> &[u8] {
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &v[..end]
}

/// A Content-Length value: one or more decimal digits that fit in a u64.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes everything, feeding `step` bytes at a time; returns heads, body, ends and
    /// the first error.
    /// A head with its text copied out, to compare heads across decoders.
    #[derive(Debug, PartialEq)]
    struct OwnedHead {
        method: String,
        url: String,
        status: u16,
        reason: String,
        version_minor: u8,
        headers: Vec<(String, Vec<u8>)>,
        keep_alive: bool,
        upgrade: bool,
        expect_continue: bool,
        content_length: Option<u64>,
        chunked: bool,
    }

    fn owned(d: &Decoder) -> OwnedHead {
        let h = d.head();
        let text = |r: &Range<usize>| String::from_utf8(d.slice(r.clone()).to_vec()).unwrap();
        OwnedHead {
            method: text(&h.method),
            url: text(&h.url),
            status: h.status,
            reason: text(&h.reason),
            version_minor: h.version_minor,
            headers: {
                let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(d.slice(h.block.clone()), &mut hs) {
                    Ok(httparse::Status::Complete((_, hs))) => hs
                        .iter()
                        .map(|h| (h.name.to_string(), trim(h.value).to_vec()))
                        .collect(),
                    other => panic!("the header block does not parse: {other:?}"),
                }
            },
            keep_alive: h.keep_alive,
            upgrade: h.upgrade,
            expect_continue: h.expect_continue,
            content_length: h.content_length,
            chunked: h.chunked,
        }
    }

    fn decode(
        mode: Mode,
        input: &[u8],
        step: usize,
    ) -> (Vec<OwnedHead>, Vec<u8>, usize, Option<u16>) {
        let mut d = Decoder::new(mode);
        let (mut heads, mut body, mut ends) = (Vec::new(), Vec::new(), 0);
        let mut fed = 0;
        loop {
            match d.next() {
                Event::Head => heads.push(owned(&d)),
                Event::Body(r) => body.extend_from_slice(d.slice(r)),
                Event::End => ends += 1,
                Event::Error(s, _) => return (heads, body, ends, Some(s)),
                Event::NeedMore => {
                    if fed >= input.len() {
                        if d.eof {
                            return (heads, body, ends, None);
                        }
                        d.eof();
                        continue;
                    }
                    let n = step.min(input.len() - fed);
                    d.feed(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    fn req_status(input: &str) -> Option<u16> {
        decode(Mode::Request, input.as_bytes(), usize::MAX).3
    }

    #[test]
    fn simple_get() {
        let (heads, body, ends, err) = decode(
            Mode::Request,
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            1000,
        );
        assert_eq!(err, None);
        assert_eq!(ends, 1);
        assert!(body.is_empty());
        let h = &heads[0];
        assert_eq!(
            (h.method.as_str(), h.url.as_str(), h.version_minor),
            ("GET", "/a?b=1", 1)
        );
        assert!(h.keep_alive);
        assert_eq!(h.headers, vec![("Host".to_string(), b"x".to_vec())]);
    }

    #[test]
    fn the_header_block_is_the_header_lines_through_the_blank_line() {
        let mut d = Decoder::new(Mode::Request);
        d.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-A:  b \r\n\r\nGET /2 HTTP/1.0\r\n\r\n");
        assert_eq!(d.next(), Event::Head);
        let block = d.slice(d.head().block.clone());
        assert_eq!(block, b"Host: x\r\nX-A:  b \r\n\r\n");
        let mut hs = [httparse::EMPTY_HEADER; 4];
        assert!(matches!(
            httparse::parse_headers(block, &mut hs),
            Ok(httparse::Status::Complete((_, h))) if h.len() == 2
        ));
        assert_eq!(d.next(), Event::End);
        assert_eq!(d.next(), Event::Head);
        assert_eq!(d.slice(d.head().block.clone()), b"\r\n");
    }

    #[test]
    fn fields_are_each_heads_headers_as_sent_with_values_trimmed() {
        let fields = |d: &Decoder| {
            d.fields()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        };
        let own = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect::<Vec<_>>()
        };
        let mut d = Decoder::new(Mode::Request);
        d.keep_fields = true;
        d.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-A:  b c \r\nX-Empty:\r\nX-Blank:   \r\n\r\n");
        d.feed(b"POST /2 HTTP/1.1\r\nHOST: y\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(d.next(), Event::Head);
        let first = own(&[
            ("Host", "x"),
            ("X-A", "b c"),
            ("X-Empty", ""),
            ("X-Blank", ""),
        ]);
        assert_eq!(fields(&d), first);
        assert_eq!(d.fields().len(), 4);
        assert_eq!(d.next(), Event::End);
        // The next head's replace them (and those of a head in a compacted buffer too).
        assert_eq!(d.next(), Event::Head);
        assert_eq!(fields(&d), own(&[("HOST", "y"), ("Content-Length", "2")]));
        assert!(matches!(d.next(), Event::Body(_)));
        assert_eq!(d.next(), Event::End);
        d.feed(b"GET /3 HTTP/1.1\r\nHost: z\r\n\r\n");
        assert_eq!(d.next(), Event::Head);
        assert_eq!(fields(&d), own(&[("Host", "z")]));

        let mut r = Decoder::new(Mode::Response);
        r.keep_fields = true;
        r.feed(b"HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n");
        assert_eq!(r.next(), Event::Head);
        assert_eq!(fields(&r), own(&[("Server", "s")]));

        // Without keep_fields, a head keeps none.
        d.keep_fields = false;
        assert_eq!(d.next(), Event::End);
        d.feed(b"GET /4 HTTP/1.1\r\nHost: w\r\n\r\n");
        assert_eq!(d.next(), Event::Head);
        assert_eq!(d.fields().len(), 0);
    }

    #[test]
    fn one_byte_at_a_time_decodes_like_whole() {
        let input = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        let whole = decode(Mode::Request, input, usize::MAX);
        for step in [1, 2, 3, 7, 64] {
            let pieces = decode(Mode::Request, input, step);
            assert_eq!(pieces, whole, "step {step}");
        }
        assert_eq!(whole.1, b"hello worldabc");
        assert_eq!(whole.2, 2);
        assert_eq!(whole.0.len(), 2);
        assert_eq!(whole.3, None);
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &str| decode(Mode::Request, s.as_bytes(), 999).0[0].keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn strictness() {
        let bad = [
            ("GET / HTTP/1.1\nHost: x\n\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Space : a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX(bad): a\r\n\r\n", 400),
            ("G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nhost: x\r\n\r\n", 400),
        ];
        for (input, status) in bad {
            assert_eq!(req_status(input), Some(status), "{input:?}");
        }
        // Identical duplicate Content-Lengths are fine.
        assert_eq!(
            req_status(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"
            ),
            None
        );
        // HTTP/1.0 needs no Host.
        assert_eq!(req_status("GET / HTTP/1.0\r\n\r\n"), None);
    }

    #[test]
    fn size_limits() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        assert_eq!(req_status(&long_uri), Some(414));
        let long_header = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        assert_eq!(req_status(&long_header), Some(431));
        // Also when the head never ends (a slow or hostile client).
        let endless = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}", "a".repeat(9000));
        assert_eq!(decode(Mode::Request, endless.as_bytes(), 100).3, Some(431));
        let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..150 {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(req_status(&many), Some(431));

        let mut d = Decoder::new(Mode::Request);
        d.max_body = 10;
        d.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
        assert_eq!(d.next(), Event::Error(413, "body too large"));
        let mut d = Decoder::new(Mode::Request);
        d.max_body = 10;
        d.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n");
        assert!(matches!(d.next(), Event::Head));
        assert!(matches!(d.next(), Event::Body(_)));
        assert_eq!(d.next(), Event::Error(413, "body too large"));
    }

    #[test]
    fn responses() {
        let (h, body, ends, err) = decode(
            Mode::Response,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            3,
        );
        assert_eq!(
            (h[0].status, body.as_slice(), ends, err),
            (200, &b"hello"[..], 1, None)
        );
        // Until close.
        let (h, body, ends, _) = decode(Mode::Response, b"HTTP/1.0 200 OK\r\n\r\nall of it", 4);
        assert_eq!(
            (body.as_slice(), ends, h[0].keep_alive),
            (&b"all of it"[..], 1, false)
        );
        // 204 and 304 have no body; 100 Continue is followed by the real response.
        let (h, _, ends, _) = decode(
            Mode::Response,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            5,
        );
        assert_eq!((h.len(), h[1].status, ends), (2, 204, 1));
        // A response to HEAD.
        let mut d = Decoder::new(Mode::Response);
        d.set_no_body();
        d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        assert!(matches!(d.next(), Event::Head));
        assert_eq!(d.next(), Event::End);
        // Chunked response.
        let (_, body, ends, _) = decode(
            Mode::Response,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            2,
        );
        assert_eq!((body.as_slice(), ends), (&b"abc"[..], 1));
    }

    #[test]
    fn truncated_messages_are_errors_at_eof() {
        assert_eq!(
            decode(
                Mode::Request,
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab",
                100
            )
            .3,
            Some(400)
        );
        assert_eq!(
            decode(Mode::Request, b"GET / HTTP/1.1\r\nHo", 100).3,
            Some(400)
        );
        // A clean close between messages is not an error.
        assert_eq!(
            decode(Mode::Request, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 100).3,
            None
        );
    }

    #[test]
    fn the_word_scan_agrees_with_a_byte_scan() {
        // The obvious byte-at-a-time scan, as the reference.
        fn bytewise(buf: &[u8]) -> Result<Option<usize>, &'static str> {
            for i in 0..buf.len() {
                match buf[i] {
                    b'\n' if i == 0 || buf[i - 1] != b'\r' => return Err("bare LF in the head"),
                    b'\n' if i >= 3 && &buf[i - 3..i] == b"\r\n\r" => return Ok(Some(i + 1)),
                    b'\r' if i + 1 < buf.len() && buf[i + 1] != b'\n' => {
                        return Err("bare CR in the head")
                    }
                    _ => {}
                }
            }
            Ok(None)
        }
        let mut x: u64 = 0x2545f4914f6cdd1d;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // CR and LF one byte in eight or so, so that many words hold neither; among the
        // rest, bytes just below and above CR and LF and at the ends of the range, for
        // the word test's borrows.
        let plain = [b'a', b' ', b'\t', 0x0d + 1, 0x80, 0xff, 0x00, 0x0c, 0x0b];
        for _ in 0..20000 {
            let len = (rnd() % 64) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| match rnd() % 16 {
                    0 => b'\r',
                    1 => b'\n',
                    n => plain[n as usize % plain.len()],
                })
                .collect();
            let got = match scan_head(&buf, 0, 0) {
                Scan::End(n) => Ok(Some(n)),
                Scan::More(_) => Ok(None),
                Scan::Bad(why) => Err(why),
            };
            assert_eq!(got, bytewise(&buf), "{buf:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap fuzz: pseudo-random bytes and mutations of a valid request, in random
        // piece sizes. The decoder must always return, never panic.
        let seed = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3000 {
            let mut input = seed.to_vec();
            for _ in 0..(rnd() % 6) {
                let i = (rnd() as usize) % input.len();
                input[i] = rnd() as u8;
            }
            if round % 3 == 0 {
                input = (0..(rnd() % 300)).map(|_| rnd() as u8).collect();
            }
            let step = 1 + (rnd() as usize % 17);
            let _ = decode(Mode::Request, &input, step);
            let _ = decode(Mode::Response, &input, step);
        }
    }
}

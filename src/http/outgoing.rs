//! Checks on what this side writes: a head built from a handler's (or a caller's)
//! status message, header names and values carries only the lines its builder meant.
//!
//! A value with CR or LF in it would end its line early and start another, a header
//! or a body of the sender's choosing (response splitting). node refuses such a value
//! (ERR_INVALID_CHAR) and such a name (ERR_INVALID_HTTP_TOKEN); the Lua side does the
//! same with [`check_field`] for every header a head is built from (lua_lib/http.lua,
//! `badHeader`, which remembers the strings it found fine).

/// A control byte that no field may carry (HTAB may).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// The bytes of a token (RFC 9110, section 5.6.2): what a header name is made of.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
            )
            || matches!(c, b'^' | b'_' | b'`' | b'|' | b'~');
        b += 1;
    }
    t
};

/// What is wrong with a header, if anything.
#[derive(Debug, PartialEq, Eq)]
pub enum BadField {
    /// The name is not a token.
    Name,
    /// The value holds a control byte (CR and LF among them).
    Value,
}

/// Checks one header's name and value.
pub fn check_field(name: &[u8], value: &[u8]) -> Result<(), BadField> {
    if name.is_empty() || !name.iter().all(|&b| TCHAR[b as usize]) {
        return Err(BadField::Name);
    }
    if find_ctl(value, 0).is_some() {
        return Err(BadField::Value);
    }
    Ok(())
}

/// The index of the first control byte (see `is_ctl`) in `buf` from `i` on. It looks
/// at eight bytes at a time: a word
/// with no byte below 0x20 and none equal to 0x7f is skipped whole (the usual
/// "has a byte less than" and "has a zero byte" word tricks, whose lowest flagged
/// byte is exact), and in one that has such a byte it goes straight to that byte.
fn find_ctl(buf: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    while i + 8 <= buf.len() {
        let w = u64::from_le_bytes(buf[i..i + 8].try_into().expect("eight bytes"));
        let low = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        let x = w ^ (ONES * 0x7f);
        let del = x.wrapping_sub(ONES) & !x & HIGHS;
        let flagged = low | del;
        if flagged == 0 {
            i += 8;
            continue;
        }
        let j = i + (flagged.trailing_zeros() / 8) as usize;
        if is_ctl(buf[j]) {
            return Some(j);
        }
        i = j + 1; // an HTAB
    }
    (i..buf.len()).find(|&j| is_ctl(buf[j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        let mut x = 1u64;
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|i| {
                    let r = (x >> (i % 50)) as u8;
                    [b'a', b'\t', b'\r', 0x7f, 0x80, 0xff, b' ', r][(r % 8) as usize]
                })
                .collect();
            let from = if len > 0 { (x as usize / 7) % len } else { 0 };
            let slow = (from..buf.len()).find(|&j| is_ctl(buf[j]));
            assert_eq!(find_ctl(&buf, from), slow, "{buf:?} from {from}");
        }
    }

    #[test]
    fn fields() {
        assert_eq!(check_field(b"X-Ok", b"a\tb \xff"), Ok(()));
        assert_eq!(check_field(b"X", b"a\r\nb"), Err(BadField::Value));
        assert_eq!(check_field(b"X", b"\x7f"), Err(BadField::Value));
        assert_eq!(check_field(b"X Y", b"a"), Err(BadField::Name));
        assert_eq!(check_field(b"X\r\nY", b"a"), Err(BadField::Name));
        assert_eq!(check_field(b"", b"a"), Err(BadField::Name));
    }
}

//! Small byte-level helpers shared by the parser, the router and the request
//! and response code: RFC 9110 token and field-value checks, percent-decoding
//! and `application/x-www-form-urlencoded` splitting.

/// `tchar` from RFC 9110 §5.6.2.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' |
        b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// `unreserved` from RFC 3986 §2.3.
#[inline]
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `sub-delims` from RFC 3986 §2.2.
#[inline]
pub(crate) const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// A non-empty RFC 9110 token (method, header name, cookie name, ...).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A field value we are willing to emit: visible ASCII, SP, HTAB and
/// obs-text, no leading or trailing whitespace. CR, LF, NUL and other
/// control characters are refused (no response splitting, RFC 9112 §11.1).
pub(crate) fn is_field_value(s: &[u8]) -> bool {
    if let (Some(first), Some(last)) = (s.first(), s.last()) {
        if matches!(first, b' ' | b'\t') || matches!(last, b' ' | b'\t') {
            return false;
        }
    }
    s.iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
}

/// Reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9112 §4).
pub(crate) fn is_reason_phrase(s: &[u8]) -> bool {
    s.iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
}

#[inline]
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when every `%` in `s` starts a valid `%XX` escape.
pub(crate) fn valid_percent_escapes(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            match (s.get(i + 1), s.get(i + 2)) {
                (Some(&h), Some(&l)) if hex_val(h).is_some() && hex_val(l).is_some() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Percent-decodes `src` onto the end of `out`. With `plus_as_space`, `+`
/// becomes a space (query strings and forms). An invalid escape is kept as
/// it is, so decoding never fails.
pub(crate) fn percent_decode_into(src: &[u8], plus_as_space: bool, out: &mut Vec<u8>) {
    if !(src.contains(&b'%') || plus_as_space && src.contains(&b'+')) {
        // Most paths and values: nothing to decode.
        out.extend_from_slice(src);
        return;
    }
    out.reserve(src.len());
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                src.get(i + 1).and_then(|&c| hex_val(c)),
                src.get(i + 2).and_then(|&c| hex_val(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
}

/// Splits `a=1&b=2` into `(name, value)` pairs, still encoded. Empty
/// elements (`a=1&&b=2`) are skipped; a pair without `=` has an empty value.
pub(crate) fn form_pairs(src: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    src.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (&p[..eq], &p[eq + 1..]),
            None => (p, &p[p.len()..]),
        })
}

/// ASCII case-insensitive comparison of a header name.
#[inline]
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Trims optional whitespace (SP and HTAB only: RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Writes `n` in decimal onto `out` without going through `fmt`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0; 20]));
}

/// `n` in decimal, written at the end of `buf`; returns the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Clears `v` and frees its buffer if it holds more than `max_bytes`:
/// a buffer kept for reuse stays, a large one left by one big request
/// does not.
pub(crate) fn clear_capped<T>(v: &mut Vec<T>, max_bytes: usize) {
    if v.capacity() * std::mem::size_of::<T>() > max_bytes {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

/// Writes `n` in lower-case hex onto `out` (chunk sizes).
pub(crate) fn push_hex(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(hex(n, &mut [0; 16]));
}

/// `n` in lower-case hex, written at the end of `buf`; returns the digits.
pub(crate) fn hex(mut n: u64, buf: &mut [u8; 16]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Parses `1*DIGIT` with overflow checking (RFC 9110 §8.6): no sign, no
/// spaces, no hex, no empty string.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// xorshift64*: a small deterministic generator for the robustness tests
/// and the fuzz targets (input-derived splits). Not for anything secret.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) struct XorShift(pub(crate) u64);

#[cfg(any(test, feature = "fuzzing"))]
impl XorShift {
    /// A generator from any seed (zero would stay zero: forced odd).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// 0..n (0 when n is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str, plus: bool) -> Vec<u8> {
        let mut v = Vec::new();
        percent_decode_into(s.as_bytes(), plus, &mut v);
        v
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(dec("a%20b", false), b"a b");
        assert_eq!(dec("a+b", false), b"a+b");
        assert_eq!(dec("a+b", true), b"a b");
        assert_eq!(dec("%41%4a%4A", false), b"AJJ");
        assert_eq!(dec("100%", false), b"100%");
        assert_eq!(dec("%2", false), b"%2");
        assert_eq!(dec("%zz", false), b"%zz");
        assert_eq!(dec("%e2%82%ac", false), "€".as_bytes());
        assert_eq!(dec("", false), b"");
        // Decoded onto what is there, with or without escapes.
        for (src, want) in [("ab", &b"x/ab"[..]), ("a%2Fb", b"x/a/b")] {
            let mut v = b"x/".to_vec();
            percent_decode_into(src.as_bytes(), false, &mut v);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn percent_escape_validation() {
        assert!(valid_percent_escapes(b"/a%20b"));
        assert!(valid_percent_escapes(b"/plain"));
        assert!(!valid_percent_escapes(b"/a%2"));
        assert!(!valid_percent_escapes(b"/a%"));
        assert!(!valid_percent_escapes(b"/a%zz"));
        assert!(valid_percent_escapes(b"%41"));
    }

    #[test]
    fn tokens_and_values() {
        assert!(is_token(b"X-Foo"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(is_field_value(b"hello world"));
        assert!(is_field_value(b""));
        assert!(!is_field_value(b"a\r\nb"));
        assert!(!is_field_value(b"a\0b"));
        assert!(!is_field_value(b" lead"));
        assert!(is_field_value("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal(b"005"), Some(5));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"+5"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1 0"), None);
        let mut v = Vec::new();
        push_decimal(&mut v, 0);
        push_decimal(&mut v, 1234567890);
        push_hex(&mut v, 255);
        assert_eq!(v, b"01234567890ff");
    }

    #[test]
    fn form_splitting() {
        let pairs: Vec<_> = form_pairs(b"a=1&&b&c=x=y").collect();
        assert_eq!(
            pairs,
            vec![(&b"a"[..], &b"1"[..]), (&b"b"[..], &b""[..]), (&b"c"[..], &b"x=y"[..])]
        );
        assert_eq!(trim_ows(b" \tx y\t "), b"x y");
    }
}

thread_local! {
    /// Per-thread spares, one list per type (see [`take_spare`]).
    static SPARES: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes a `T` kept by [`keep_spare`] on this thread, if there is one.
/// Lets hot paths reuse heap blocks instead of allocating: a list per type,
/// found by a type check (there are one or two types).
pub(crate) fn take_spare<T: 'static>() -> Option<T> {
    SPARES
        .try_with(|s| {
            s.borrow_mut()
                .iter_mut()
                .find_map(|l| l.downcast_mut::<Vec<T>>())
                .and_then(Vec::pop)
        })
        .ok()
        .flatten()
}

/// Keeps `t` for [`take_spare`] on this thread, unless `max` are kept
/// already (or the thread is ending): then it is dropped.
pub(crate) fn keep_spare<T: 'static>(t: T, max: usize) {
    let refused = SPARES.try_with(|s| {
        let mut s = s.borrow_mut();
        let i = match s.iter().position(|l| l.is::<Vec<T>>()) {
            Some(i) => i,
            None => {
                s.push(Box::new(Vec::<T>::new()));
                s.len() - 1
            }
        };
        match s[i].downcast_mut::<Vec<T>>() {
            Some(l) if l.len() < max => {
                l.push(t);
                None
            }
            _ => Some(t),
        }
    });
    // Dropped outside the borrow: a drop may keep spares of its own.
    drop(refused);
}

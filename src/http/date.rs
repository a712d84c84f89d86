//! The `Date` header, formatted at most once per second per thread, and
//! read from the wall clock at most once per second: until the next
//! second begins, the line is reused by the monotonic time, which on a
//! worker is the loop's (one clock read per look at I/O, like nginx's
//! cached time). A wall clock set or stepped meanwhile shows after at
//! most a second.
//!
//! A device without a trusted clock must not send `Date` (RFC 9110 §6.6.1,
//! CASES row 92): a clock before 2020 (an ESP32 without SNTP boots at 1970)
//! counts as "no clock" and the header is left out.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2020-01-01T00:00:00Z: anything earlier is an unset clock.
const CLOCK_FLOOR: u64 = 1_577_836_800;

struct Cache {
    /// The wall-clock second `line` shows; 0 while the clock is unset.
    secs: u64,
    line: [u8; 37],
    /// When (monotonic) that second ends: until then `secs` stands.
    until: Option<Instant>,
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { secs: 0, line: [0; 37], until: None }) };
}

/// Appends `Date: <IMF-fixdate>\r\n` to `out`, unless the clock is unset.
pub(crate) fn push_date_header(out: &mut Vec<u8>) {
    let mono = crate::rt::now();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.until.is_none_or(|t| mono >= t) {
            let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            let secs = wall.as_secs();
            let rest = Duration::from_secs(1).saturating_sub(Duration::from_nanos(u64::from(wall.subsec_nanos())));
            c.until = mono.checked_add(rest);
            if secs < CLOCK_FLOOR {
                c.secs = 0;
            } else if c.secs != secs {
                c.secs = secs;
                c.line[..6].copy_from_slice(b"Date: ");
                c.line[6..35].copy_from_slice(&imf_fixdate(secs));
                c.line[35..].copy_from_slice(b"\r\n");
            }
        }
        if c.secs != 0 {
            out.extend_from_slice(&c.line);
        }
    });
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time.
pub(crate) fn imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let mut o = [0u8; 29];
    o[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    o[3..5].copy_from_slice(b", ");
    two(&mut o[5..7], d);
    o[7] = b' ';
    o[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    o[11] = b' ';
    let y = y as u32;
    two(&mut o[12..14], y / 100);
    two(&mut o[14..16], y % 100);
    o[16] = b' ';
    two(&mut o[17..19], (rem / 3600) as u32);
    o[19] = b':';
    two(&mut o[20..22], (rem % 3600 / 60) as u32);
    o[22] = b':';
    two(&mut o[23..25], (rem % 60) as u32);
    o[25..].copy_from_slice(b" GMT");
    o
}

fn two(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&imf_fixdate(1_798_761_599), b"Thu, 31 Dec 2026 23:59:59 GMT");
    }

    #[test]
    fn the_line_follows_the_wall_clock_second() {
        let mut before = Vec::new();
        push_date_header(&mut before);
        // Past the end of this second (and a margin): the line is read again.
        std::thread::sleep(Duration::from_millis(1100));
        let mut after = Vec::new();
        push_date_header(&mut after);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_ne!(before, after);
        let shown = &after[6..35];
        assert!(
            shown == imf_fixdate(now) || shown == imf_fixdate(now - 1),
            "{:?}",
            String::from_utf8_lossy(&after)
        );
    }

    #[test]
    fn header_line_is_complete() {
        let mut v = Vec::new();
        push_date_header(&mut v);
        assert_eq!(v.len(), 37);
        assert!(v.starts_with(b"Date: ") && v.ends_with(b" GMT\r\n"));
    }
}

//! Incremental decoder for `Transfer-Encoding: chunked` request bodies
//! (RFC 9112 §7.1), strict where the RFC allows a choice.
//!
//! httparse leaves body framing to us, and servers have a long history of
//! smuggling bugs here, so the grammar is enforced byte by byte:
//! `1*HEXDIG` sizes (checked, at most 16 digits), extensions only as
//! `BWS ";" BWS token [BWS "=" BWS (token / quoted-string)]`, CRLF only (no
//! bare LF or CR), exactly CRLF after the data, bounded extension and
//! trailer sizes. Trailers are validated and dropped: they never reach the
//! request headers.
//!
//! The decoder holds no buffer. [`ChunkedDecoder::decode`] reads framing
//! bytes from the input and returns the position of the next run of data
//! inside it, so callers copy data once, straight to where it goes.

use crate::util::{hex_val, is_tchar};

/// Longest chunk-size line (size + extensions), per line.
pub(crate) const MAX_LINE: usize = 1024;
/// All chunk-extension bytes of one message.
pub(crate) const MAX_EXT_TOTAL: usize = 16 * 1024;
/// Trailer section bytes.
pub(crate) const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Trailer field lines.
pub(crate) const MAX_TRAILER_FIELDS: usize = 32;

/// A framing error; the connection must answer `status` and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkError {
    pub status: u16,
    pub reason: &'static str,
}

const fn bad(reason: &'static str) -> ChunkError {
    ChunkError { status: 400, reason }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Reading hex digits of the chunk size.
    Size,
    /// Whitespace after the size or a value: only `;` may follow.
    Bws,
    /// After `;`: optional whitespace, then an extension name.
    ExtStart,
    ExtName,
    /// Whitespace after a name: `=` or `;` may follow.
    ExtNameBws,
    /// After `=`: optional whitespace, then a token or quoted string.
    ExtValStart,
    ExtValToken,
    ExtValQuoted,
    ExtValQuotedEsc,
    /// Right after a closing quote.
    ExtValEnd,
    /// CR seen at the end of the size line.
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// Start of a trailer line, or of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// One step of decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Input bytes used, framing and data together.
    pub consumed: usize,
    /// Where the data returned by this step sits in the input (may be empty).
    pub data: std::ops::Range<usize>,
}

/// State of one chunked message body.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    st: St,
    /// Size being parsed, then bytes left in the current chunk.
    size: u64,
    digits: u8,
    line_len: usize,
    ext_total: usize,
    trailer_bytes: usize,
    trailer_fields: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            st: St::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            ext_total: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
        }
    }

    /// True once the last chunk and the trailer section were read.
    pub(crate) fn is_done(&self) -> bool {
        self.st == St::Done
    }

    /// Size of the chunk being read, when one is being read: lets callers
    /// check a limit before taking the data.
    pub(crate) fn pending_chunk(&self) -> Option<u64> {
        (self.st == St::Data).then_some(self.size)
    }

    /// Decodes framing from `input` until it can return a run of at most
    /// `max_data` data bytes, the input runs out, or the body ends. Bytes
    /// after the end of the body are not consumed.
    pub(crate) fn decode(&mut self, input: &[u8], max_data: usize) -> Result<Decoded, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            if self.st == St::Data {
                let n = (input.len() - i)
                    .min(usize::try_from(self.size).unwrap_or(usize::MAX))
                    .min(max_data);
                self.size -= n as u64;
                if self.size == 0 {
                    self.st = St::DataCr;
                }
                return Ok(Decoded {
                    consumed: i + n,
                    data: i..i + n,
                });
            }
            if self.st == St::Done {
                break;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(Decoded {
            consumed: i,
            data: i..i,
        })
    }

    fn line_byte(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > MAX_LINE {
            return Err(bad("chunk size line too long"));
        }
        Ok(())
    }

    fn ext_byte(&mut self) -> Result<(), ChunkError> {
        self.ext_total += 1;
        if self.ext_total > MAX_EXT_TOTAL {
            return Err(bad("too many chunk extension bytes"));
        }
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<(), ChunkError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ChunkError {
                status: 431,
                reason: "trailer section too large",
            });
        }
        Ok(())
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use St::*;
        match self.st {
            Size | Bws | ExtStart | ExtName | ExtNameBws | ExtValStart | ExtValToken | ExtValQuoted
            | ExtValQuotedEsc | ExtValEnd => {
                self.line_byte()?;
                if !matches!(self.st, Size) {
                    self.ext_byte()?;
                }
            }
            TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf => self.trailer_byte()?,
            _ => {}
        }
        self.st = match (self.st, b) {
            (Size, _) if hex_val(b).is_some() => {
                if self.digits == 16 {
                    return Err(bad("chunk size too large"));
                }
                self.digits += 1;
                // 16 hex digits always fit in a u64.
                self.size = self.size << 4 | u64::from(hex_val(b).unwrap_or(0));
                Size
            }
            (Size, _) if self.digits == 0 => return Err(bad("invalid chunk size")),
            (Size, b'\r') => SizeLf,
            (Size, b';') => ExtStart,
            (Size, b' ' | b'\t') => Bws,
            (Size, _) => return Err(bad("invalid chunk size")),

            (Bws, b' ' | b'\t') => Bws,
            (Bws, b';') => ExtStart,
            (Bws, _) => return Err(bad("whitespace in chunk size line")),

            (ExtStart, b' ' | b'\t') => ExtStart,
            (ExtStart, _) if is_tchar(b) => ExtName,
            (ExtStart, _) => return Err(bad("invalid chunk extension")),

            (ExtName, _) if is_tchar(b) => ExtName,
            (ExtName, b' ' | b'\t') => ExtNameBws,
            (ExtName, b'=') => ExtValStart,
            (ExtName, b';') => ExtStart,
            (ExtName, b'\r') => SizeLf,
            (ExtName, _) => return Err(bad("invalid chunk extension")),

            (ExtNameBws, b' ' | b'\t') => ExtNameBws,
            (ExtNameBws, b'=') => ExtValStart,
            (ExtNameBws, b';') => ExtStart,
            (ExtNameBws, _) => return Err(bad("invalid chunk extension")),

            (ExtValStart, b' ' | b'\t') => ExtValStart,
            (ExtValStart, b'"') => ExtValQuoted,
            (ExtValStart, _) if is_tchar(b) => ExtValToken,
            (ExtValStart, _) => return Err(bad("invalid chunk extension value")),

            (ExtValToken, _) if is_tchar(b) => ExtValToken,
            (ExtValToken, b' ' | b'\t') => Bws,
            (ExtValToken, b';') => ExtStart,
            (ExtValToken, b'\r') => SizeLf,
            (ExtValToken, _) => return Err(bad("invalid chunk extension value")),

            (ExtValQuoted, b'"') => ExtValEnd,
            (ExtValQuoted, b'\\') => ExtValQuotedEsc,
            (ExtValQuoted, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff) => ExtValQuoted,
            (ExtValQuoted, _) => return Err(bad("invalid quoted chunk extension")),
            (ExtValQuotedEsc, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff) => ExtValQuoted,
            (ExtValQuotedEsc, _) => return Err(bad("invalid quoted chunk extension")),

            (ExtValEnd, b' ' | b'\t') => Bws,
            (ExtValEnd, b';') => ExtStart,
            (ExtValEnd, b'\r') => SizeLf,
            (ExtValEnd, _) => return Err(bad("invalid chunk extension")),

            (SizeLf, b'\n') => {
                self.line_len = 0;
                self.digits = 0;
                if self.size == 0 {
                    TrailerStart
                } else {
                    Data
                }
            }
            (SizeLf, _) => return Err(bad("bare CR in chunk size line")),

            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err(bad("chunk data not followed by CRLF")),
            (DataLf, b'\n') => Size,
            (DataLf, _) => return Err(bad("chunk data not followed by CRLF")),

            (TrailerStart, b'\r') => EndLf,
            (TrailerStart, _) if is_tchar(b) => {
                self.trailer_fields += 1;
                if self.trailer_fields > MAX_TRAILER_FIELDS {
                    return Err(ChunkError {
                        status: 431,
                        reason: "too many trailer fields",
                    });
                }
                TrailerName
            }
            (TrailerStart, _) => return Err(bad("invalid trailer field")),
            (TrailerName, _) if is_tchar(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerName, _) => return Err(bad("invalid trailer field name")),
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff) => TrailerValue,
            (TrailerValue, _) => return Err(bad("invalid trailer field value")),
            (TrailerLf, b'\n') => TrailerStart,
            (TrailerLf, _) => return Err(bad("bare CR in trailer section")),
            (EndLf, b'\n') => Done,
            (EndLf, _) => return Err(bad("bare CR after the last chunk")),

            (Data | Done, _) => unreachable!("handled by decode"),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the body and
    /// the number of input bytes used.
    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pos = 0;
        let mut avail = step.min(input.len());
        while !d.is_done() {
            let r = d.decode(&input[pos..avail], usize::MAX)?;
            body.extend_from_slice(&input[pos..avail][r.data]);
            pos += r.consumed;
            if r.consumed == 0 || pos == avail {
                if avail == input.len() {
                    if d.is_done() {
                        break;
                    }
                    return Err(ChunkError {
                        status: 0,
                        reason: "incomplete",
                    });
                }
                avail = (avail + step).min(input.len());
            }
        }
        Ok((body, pos))
    }

    fn ok_all_splits(input: &[u8], body: &[u8], used: usize) {
        for step in [1, 2, 3, 7, input.len()] {
            let (b, u) = run(input, step).unwrap_or_else(|e| panic!("step {step}: {e:?}"));
            assert_eq!(b, body, "step {step}");
            assert_eq!(u, used, "step {step}");
        }
    }

    fn err_all_splits(input: &[u8]) -> ChunkError {
        let mut first = None;
        for step in [1, 2, 5, input.len()] {
            let e = run(input, step).expect_err("must fail");
            assert_ne!(e.status, 0, "step {step}: reported incomplete instead of invalid");
            first.get_or_insert(e);
        }
        first.unwrap()
    }

    #[test]
    fn decodes_valid_bodies() {
        let whole = |input: &[u8], body: &[u8]| ok_all_splits(input, body, input.len());
        whole(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world");
        whole(b"0\r\n\r\n", b"");
        ok_all_splits(b"A\r\n0123456789\r\n0\r\n\r\nGET", b"0123456789", 20);
        // Valid extensions are ignored (row 34).
        whole(b"5;name=val\r\nhello\r\n0\r\n\r\n", b"hello");
        whole(b"5 ; a=\"q\"\r\nhello\r\n0;x\r\n\r\n", b"hello");
        whole(b"5;a=\"b\\\"c\";d\r\nhello\r\n0\r\n\r\n", b"hello");
        // Leading zeros and upper-case hex.
        whole(b"0005\r\nhello\r\n00\r\n\r\n", b"hello");
        whole(b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789");
        // Trailers are read and dropped (row 41).
        whole(b"1\r\nx\r\n0\r\nContent-Length: 0\r\nHost: evil\r\n\r\n", b"x");
    }

    #[test]
    fn rejects_bad_sizes() {
        for bad in [
            &b"0x5\r\nhello\r\n0\r\n\r\n"[..],
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"1_0\r\n",
            b" 5\r\nhello\r\n",
            b"\r\n\r\n",                                        // row 27: empty size
            b"5 \r\nhello\r\n0\r\n\r\n",                        // row 28: trailing SP, no extension
            b"10000000000000000\r\n",                           // row 29: 17 digits
            b"5\nhello\r\n0\r\n\r\n",                           // row 30: bare LF
            b"5\r\rABCD\r\n",                                   // row 38: bare CR
            b"INVALID!!!\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", // row 40
        ] {
            let e = err_all_splits(bad);
            assert_eq!(e.status, 400, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rejects_bad_extensions() {
        for bad in [
            &b"5;a\nb\r\nhello\r\n0\r\n\r\n"[..], // row 31
            b"5;a\x00b\r\nhello\r\n",             // row 32
            b"5;\x01\r\nhello\r\n",
            b"5;\r\nhello\r\n", // row 33: bare ;
            b"5;bad[=x\r\nhello\r\n",
            b"5;a=\"unbalanced\r\nhello\r\n",
            b"41;a=b\r\rXXXX",    // row 38
            b"5;a \r\nhello\r\n", // BWS before CRLF
        ] {
            let e = err_all_splits(bad);
            assert_eq!(e.status, 400, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rejects_bad_data_framing() {
        err_all_splits(b"5\r\nhelloXX0\r\n\r\n"); // row 36
        err_all_splits(b"5\r\nhello!!\r\n0\r\n\r\n"); // row 37
        err_all_splits(b"5\r\nhello\n0\r\n\r\n");
        err_all_splits(b"0\r\n\r\r");
        err_all_splits(b"0\r\nX\r\n\r\n"); // trailer without a colon
        err_all_splits(b"0\r\n bad: x\r\n\r\n"); // folded trailer
    }

    #[test]
    fn limits_extensions_and_trailers() {
        // Row 35: one long extension line.
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
        long.extend_from_slice(b"\r\nX\r\n");
        assert_eq!(err_all_splits(&long).status, 400);
        // Many lines under the per-line limit still hit the per-message one.
        let mut many = Vec::new();
        for _ in 0..40 {
            many.extend_from_slice(b"1;");
            many.extend(std::iter::repeat_n(b'a', 900));
            many.extend_from_slice(b"\r\nX\r\n");
        }
        assert_eq!(err_all_splits(&many).status, 400);
        // Row 42: trailers.
        let mut t = b"0\r\n".to_vec();
        for i in 0..33 {
            t.extend_from_slice(format!("T{i}: v\r\n").as_bytes());
        }
        t.extend_from_slice(b"\r\n");
        assert_eq!(err_all_splits(&t).status, 431);
        let mut big = b"0\r\nT: ".to_vec();
        big.extend(std::iter::repeat_n(b'v', MAX_TRAILER_BYTES));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(err_all_splits(&big).status, 431);
    }

    #[test]
    fn huge_size_is_reported_not_wrapped() {
        // Row 29: u64::MAX parses; the caller checks it against its limit.
        let mut d = ChunkedDecoder::new();
        let r = d.decode(b"ffffffffffffffff\r\nab", usize::MAX).unwrap();
        assert_eq!(r.consumed, 20);
        assert_eq!(r.data, 18..20);
        assert_eq!(d.pending_chunk(), Some(u64::MAX - 2));
    }

    #[test]
    fn max_data_bounds_each_step() {
        let mut d = ChunkedDecoder::new();
        let input = b"a\r\n0123456789\r\n0\r\n\r\n";
        let r = d.decode(input, 4).unwrap();
        assert_eq!(&input[r.data.clone()], b"0123");
        assert_eq!(r.consumed, 7);
    }

    #[test]
    fn extra_byte_after_body_is_left_for_the_next_request() {
        // Row 43.
        let (body, used) = run(b"0\r\n\r\n\x00", 64).unwrap();
        assert!(body.is_empty());
        assert_eq!(used, 5);
    }
}

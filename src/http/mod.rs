//! HTTP/1.1 on the wire: head parsing, chunked bodies, the connection loop.

pub(crate) mod chunked;
pub(crate) mod conn;
pub(crate) mod date;
pub(crate) mod io;
pub(crate) mod parse;
pub(crate) mod status;

/// Hostile-input checks: mutated requests and chunked bodies never panic
/// the parser or the decoder, and what they consume stays in bounds. A
/// small deterministic generator keeps this a fast unit test; the fuzz
/// targets go further.
#[cfg(test)]
mod robustness_tests {
    use super::chunked::ChunkedDecoder;
    use super::parse::{is_standard_method, parse_head, HeadLimits};
    use crate::request::Request;

    use crate::util::XorShift as Rng;

    const INTERESTING: &[u8] = b"\r\n :;,=\"\\\t\x00\x0b\x7f\x80\xff0159afAF-+_%/?#*@[]HTTP";

    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(v.len() + 1);
            match rng.below(5) {
                0 if at < v.len() => v[at] = INTERESTING[rng.below(INTERESTING.len())],
                1 if at < v.len() => {
                    v.remove(at);
                }
                2 => v.insert(at.min(v.len()), INTERESTING[rng.below(INTERESTING.len())]),
                3 => v.truncate(at),
                _ => {
                    let from = rng.below(v.len() + 1);
                    let chunk: Vec<u8> = v[from..].iter().take(8).copied().collect();
                    for (i, b) in chunk.into_iter().enumerate() {
                        v.insert((at + i).min(v.len()), b);
                    }
                }
            }
        }
        v
    }

    #[test]
    fn mutated_heads_never_panic() {
        let seeds: &[&[u8]] = &[
            b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:80\r\nCookie: a=1; b=\"2\"\r\n\r\n",
            b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
            b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n",
            b"GET http://[::1]:8080/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"\r\n\r\nOPTIONS * HTTP/1.2\r\nHost: a\r\n\r\n",
        ];
        let lim = HeadLimits {
            max_header_bytes: 512,
            max_headers: 8,
        };
        let known = is_standard_method;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut req = Request::new();
        for i in 0..20_000 {
            let input = mutate(&mut rng, seeds[i % seeds.len()]);
            if let Ok(Some(n)) = parse_head(&input, &lim, &known, &mut req) {
                assert!(n <= input.len(), "consumed past the input: {input:?}");
                // The copied strings are readable.
                let _ = (req.method(), req.path(), req.query(), req.host(), req.header_count());
            }
        }
    }

    #[test]
    fn mutated_chunked_bodies_never_panic() {
        let seeds: &[&[u8]] = &[
            b"5\r\nhello\r\n6;ext=\"q\\\"x\"\r\n world\r\n0\r\nTrailer: v\r\n\r\n",
            b"ffffffffffffffff\r\nab\r\n",
            b"1;a=b;c\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for i in 0..20_000 {
            let input = mutate(&mut rng, seeds[i % seeds.len()]);
            let mut d = ChunkedDecoder::new();
            let mut pos = 0;
            let step = 1 + rng.below(7);
            while pos < input.len() && !d.is_done() {
                let end = (pos + step).min(input.len());
                match d.decode(&input[pos..end], 1 + rng.below(16)) {
                    Ok(r) => {
                        assert!(r.consumed <= end - pos && r.data.end <= r.consumed);
                        if r.consumed == 0 {
                            break;
                        }
                        pos += r.consumed;
                    }
                    Err(e) => {
                        assert!(matches!(e.status, 400 | 431));
                        break;
                    }
                }
            }
        }
    }
}

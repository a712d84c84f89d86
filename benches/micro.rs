//! Micro-benchmarks of the request parser, the router, response
//! serialisation, the chunked decoder and the cached `Date` line.
//!
//!     cargo bench --features bench-internals [-- FILTER] [--quick]
//!
//! `--quick` runs each benchmark briefly (CI uses it to check they run).
//!
//! No benchmark crate: each benchmark warms up, sizes a batch to ~25 ms,
//! then times 15 batches and prints one line with the median and the
//! minimum time per iteration. A whole run takes a few seconds. Numbers
//! drift between runs on a shared machine; compare runs made back to back,
//! and use `scripts/callgrind.sh` for counts that do not drift.

use std::hint::black_box;
use std::time::{Duration, Instant};

use microroute::bench_api::{chunked_decode, push_date_header, BenchRouter, Found, HeadParser, ResponseWriter};

const SAMPLES: usize = 15;
const WARM_UP: Duration = Duration::from_millis(60);
const SAMPLE_TARGET: Duration = Duration::from_millis(25);

/// Runs and reports the benchmarks whose name contains the filter.
struct Harness {
    filter: Option<String>,
    /// Divides the warm-up and batch times: a run that only shows the
    /// benchmarks work.
    quick: bool,
}

impl Harness {
    fn from_args() -> Self {
        // cargo passes `--bench`; the first other argument is a filter.
        let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
        let quick = std::env::args().any(|a| a == "--quick");
        Harness { filter, quick }
    }

    fn bench<R>(&self, name: &str, mut f: impl FnMut() -> R) {
        if self.filter.as_deref().is_some_and(|p| !name.contains(p)) {
            return;
        }
        // Warm-up, which also estimates the time per iteration.
        let scale = if self.quick { 20 } else { 1 };
        let start = Instant::now();
        let mut iters: u64 = 0;
        while start.elapsed() < WARM_UP / scale {
            for _ in 0..16 {
                black_box(f());
            }
            iters += 16;
        }
        let per_iter = start.elapsed().as_secs_f64() / iters as f64;
        let batch = (((SAMPLE_TARGET / scale).as_secs_f64() / per_iter) as u64).clamp(1, 1 << 32);

        let mut samples = [0f64; SAMPLES];
        for s in &mut samples {
            let t = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            *s = t.elapsed().as_nanos() as f64 / batch as f64;
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "{name:<26} median {:>10.1} ns/iter   min {:>10.1} ns/iter   ({SAMPLES} x {batch} iters)",
            samples[SAMPLES / 2],
            samples[0],
        );
    }
}

/// What wrk sends.
const HEAD_WRK: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// A typical scripted client: 7 header fields.
const HEAD_7: &[u8] = b"GET /api/users/12345?fields=name,email HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl\r\n\
X-Request-Id: 7f3c9a2e-4b1d-4e8a-9c6f-2d5b8a1e0f47\r\n\
\r\n";

/// What a desktop browser sends for a page: 20 header fields.
const HEAD_20: &[u8] = b"GET /docs/getting-started?lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n\
Cookie: session=3f9a1c7e5b2d4a6f8e0c1b3d5f7a9c2e; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\
If-None-Match: \"5e1f-61a2b3c4d5e6f\"\r\n\
If-Modified-Since: Tue, 14 May 2024 09:12:44 GMT\r\n\
DNT: 1\r\n\
\r\n";

/// ~20 routes of a small application.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/hello"),
    ("GET", "/about"),
    ("GET", "/contact"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/favicon.ico"),
    ("GET", "/feed.xml"),
    ("GET", "/search"),
    ("GET", "/docs/{page}"),
    ("GET", "/static/{path...}"),
    ("GET", "/api/health"),
    ("GET", "/api/metrics"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/{id}"),
    ("DELETE", "/api/users/{id}"),
    ("GET", "/api/users/{id}/posts"),
    ("GET", "/api/posts/{id}"),
    ("GET", "/api/v2/items/{id}/tags"),
];

/// A 64 KiB body in 1 KiB chunks.
fn chunked_body() -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..64u8 {
        v.extend_from_slice(b"400\r\n");
        v.extend(std::iter::repeat_n(b'a' + i % 26, 1024));
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

fn main() {
    let h = Harness::from_args();

    // Parser: a reused Request, as on a keep-alive connection.
    let mut p = HeadParser::new();
    for (head, count) in [(HEAD_WRK, 1), (HEAD_7, 7), (HEAD_20, 20)] {
        assert_eq!(p.parse(head), Some(head.len()), "{}", String::from_utf8_lossy(head));
        assert_eq!(p.header_count(), count);
    }
    h.bench("parse/wrk-1-header", || p.parse(black_box(HEAD_WRK)));
    h.bench("parse/get-7-headers", || p.parse(black_box(HEAD_7)));
    h.bench("parse/browser-20-headers", || p.parse(black_box(HEAD_20)));

    // Router.
    let mut r = BenchRouter::new();
    for (m, pat) in ROUTES {
        r.add(m, pat);
    }
    let lookups: [(&str, &str, &[u8], Found); 5] = [
        ("route/literal", "GET", b"/api/health", Found::Route(0)),
        ("route/capture", "GET", b"/api/users/12345", Found::Route(1)),
        ("route/rest-capture", "GET", b"/static/css/site.css", Found::Route(1)),
        ("route/miss-404", "GET", b"/api/nothing/here", Found::NotFound),
        ("route/method-405", "PUT", b"/api/health", Found::MethodNotAllowed),
    ];
    for (name, method, path, want) in lookups {
        assert_eq!(r.find(method, path), want, "{name}");
        h.bench(name, || r.find(black_box(method), black_box(path)));
    }

    // Response serialisation into a reused buffer.
    let mut w = ResponseWriter::new();
    w.text("hello");
    let out = w.output();
    assert!(
        out.starts_with(b"HTTP/1.1 200 OK\r\n") && out.ends_with(b"Content-Length: 5\r\n\r\nhello"),
        "{}",
        String::from_utf8_lossy(out)
    );
    h.bench("response/hello-text", || w.text(black_box("hello")));
    w.json_builder(&[("message", "Hello, World!")]);
    assert!(w.output().ends_with(br#"{"message":"Hello, World!"}"#));
    h.bench("response/json-builder", || {
        w.json_builder(black_box(&[("message", "Hello, World!")]))
    });
    h.bench("response/json-raw", || {
        w.json_raw(black_box(r#"{"message":"Hello, World!"}"#))
    });

    // Chunked request body.
    let body = chunked_body();
    assert_eq!(chunked_decode(&body, 16 * 1024), Some(64 * 1024));
    h.bench("chunked/64KiB-in-1KiB", || chunked_decode(black_box(&body), 16 * 1024));

    // The cached Date line.
    let mut buf = Vec::with_capacity(64);
    h.bench("date/cached-header", || {
        buf.clear();
        push_date_header(&mut buf);
        buf.len()
    });
}

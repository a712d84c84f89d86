//! Real clients against the server: `curl` and Python's `http.client`.
//! Each test skips with a message when its client is not installed (CI
//! installs both). All traffic goes to 127.0.0.1.
mod common;
use common::*;

use std::ffi::c_int;
use std::path::PathBuf;
use std::process::{Command, Output};

// ---- helpers local to this file ------------------------------------------

fn reply(resp: *mut mr_resp, s: &str) -> c_int {
    resp_set_text(resp, cs(s).as_ptr())
}

/// FNV-1a, to compare large bodies without sending them back.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn body_bytes(req: *mut mr_req) -> Option<Vec<u8>> {
    let mut len = 0;
    let p = req_body(req, &mut len);
    if p.is_null() {
        None
    } else {
        // SAFETY: `len` bytes at `p`, valid during the handler.
        Some(unsafe { std::slice::from_raw_parts(p, len) }.to_vec())
    }
}

/// The server every client test talks to.
fn client_server(max_body: usize) -> Running {
    start(|srv| {
        assert_eq!(server_set_limits(srv, 16384, max_body), MR_OK);
        on(srv, "GET", "/hello", |_, resp| reply(resp, "hello world\n"));
        on(srv, "POST", "/echo", |req, resp| match body_bytes(req) {
            Some(b) => resp_set_content(resp, b.as_ptr().cast(), b.len()),
            None => 1,
        });
        on(srv, "POST", "/form", |req, resp| {
            let v = |n: &str| from_c(req_form_value(req, cs(n).as_ptr())).unwrap_or_else(|| "NULL".into());
            reply(resp, &format!("a={};b={};c={}", v("a"), v("b"), v("c")))
        });
        on(srv, "*", "/version", |req, resp| {
            reply(resp, &req_http_version(req).to_string())
        });
        on(srv, "GET", "/remote", |req, resp| {
            reply(resp, &format!("{}\n", from_c(req_remote_addr(req)).unwrap_or_default()))
        });
        on(srv, "POST", "/digest", |req, resp| match body_bytes(req) {
            Some(b) => reply(resp, &format!("{} {:016x}", b.len(), fnv(&b))),
            None => 1,
        });
        on(srv, "GET", "/stream", |_, resp| {
            resp_set_mime_type(resp, c"text/plain".as_ptr());
            for i in 0..5 {
                let piece = format!("count: {i}\n");
                if resp_send_str(resp, cs(&piece).as_ptr()) != MR_OK {
                    return 1;
                }
            }
            resp_send_str(resp, c"Completed!".as_ptr())
        });
        on(srv, "GET", "/redirect", |_, resp| {
            resp_redirect(resp, c"/hello".as_ptr(), 0)
        });
    })
}

fn have(cmd: &str, version_arg: &str) -> bool {
    Command::new(cmd)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

macro_rules! require {
    ($cmd:expr, $arg:expr, $test:expr) => {
        if !have($cmd, $arg) {
            eprintln!("SKIPPED {}: `{}` is not installed", $test, $cmd);
            return;
        }
    };
}

fn curl(args: &[&str]) -> Output {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Splits `curl -i` output into (interim heads, final head, body).
fn split_i(out: &[u8]) -> (Vec<String>, String, Vec<u8>) {
    let mut rest = out;
    let mut interim = Vec::new();
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(out)));
        let head = String::from_utf8_lossy(&rest[..end + 4]).into_owned();
        rest = &rest[end + 4..];
        if head.starts_with("HTTP/1.1 1") {
            interim.push(head);
        } else {
            return (interim, head, rest.to_vec());
        }
    }
}

fn header_of<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A temporary file with `data`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, data: &[u8]) -> Self {
        let p = std::env::temp_dir().join(format!("microroute-clients-{}-{tag}", std::process::id()));
        std::fs::write(&p, data).unwrap();
        TempFile(p)
    }
    fn arg(&self) -> String {
        format!("@{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

// ---- curl ------------------------------------------------------------------------------

#[test]
fn curl_get() {
    require!("curl", "--version", "curl_get");
    let srv = client_server(1 << 20);
    let url = format!("http://127.0.0.1:{}/hello", srv.port);
    let out = curl(&["-i", &url]);
    let (interim, head, body) = split_i(&out.stdout);
    assert!(interim.is_empty());
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(header_of(&head, "Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(header_of(&head, "Content-Length"), Some("12"));
    assert_eq!(body, b"hello world\n");
    // Without -i: just the body; a 404 is reported by --fail-with-body.
    let out = curl(&[&url]);
    assert_eq!(out.stdout, b"hello world\n");
    let missing = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "--noproxy",
            "*",
            "-o",
            "-",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{}/missing", srv.port))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "404 Not Found\n404");
    // -L follows a redirect.
    let out = curl(&["-L", &format!("http://127.0.0.1:{}/redirect", srv.port)]);
    assert_eq!(out.stdout, b"hello world\n");
}

#[test]
fn curl_post_form_and_echo() {
    require!("curl", "--version", "curl_post_form_and_echo");
    let srv = client_server(1 << 20);
    let out = curl(&["-d", "a=1+2&b=%41%42", &format!("http://127.0.0.1:{}/form", srv.port)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a=1 2;b=AB;c=NULL");
    let out = curl(&[
        "--data-binary",
        "raw bytes & more",
        "-H",
        "Content-Type: application/octet-stream",
        &format!("http://127.0.0.1:{}/echo", srv.port),
    ]);
    assert_eq!(out.stdout, b"raw bytes & more");
}

#[test]
fn curl_head() {
    require!("curl", "--version", "curl_head");
    let srv = client_server(1 << 20);
    let out = curl(&["-I", &format!("http://127.0.0.1:{}/hello", srv.port)]);
    let (_, head, body) = split_i(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(header_of(&head, "Content-Length"), Some("12"));
    assert_eq!(header_of(&head, "Content-Type"), Some("text/plain; charset=utf-8"));
    assert!(body.is_empty());
}

#[test]
fn curl_chunked_upload() {
    require!("curl", "--version", "curl_chunked_upload");
    let srv = client_server(1 << 20);
    let data = pseudo_random(300_000, 7);
    let file = TempFile::new("chunked", &data);
    let out = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &file.arg(),
        &format!("http://127.0.0.1:{}/echo", srv.port),
    ]);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "echoed body differs");
    let out = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &file.arg(),
        &format!("http://127.0.0.1:{}/digest", srv.port),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{} {:016x}", data.len(), fnv(&data))
    );
}

#[test]
fn curl_http10() {
    require!("curl", "--version", "curl_http10");
    let srv = client_server(1 << 20);
    let out = curl(&["--http1.0", "-i", &format!("http://127.0.0.1:{}/version", srv.port)]);
    let (_, head, body) = split_i(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, b"10");
    // A streamed answer to HTTP/1.0 ends with the connection.
    let out = curl(&["--http1.0", "-i", &format!("http://127.0.0.1:{}/stream", srv.port)]);
    let (_, head, body) = split_i(&out.stdout);
    assert_eq!(header_of(&head, "Transfer-Encoding"), None);
    assert_eq!(header_of(&head, "Connection"), Some("close"));
    assert_eq!(
        String::from_utf8_lossy(&body),
        "count: 0\ncount: 1\ncount: 2\ncount: 3\ncount: 4\nCompleted!"
    );
}

#[test]
fn curl_streamed_response() {
    require!("curl", "--version", "curl_streamed_response");
    let srv = client_server(1 << 20);
    let out = curl(&["-i", &format!("http://127.0.0.1:{}/stream", srv.port)]);
    let (_, head, body) = split_i(&out.stdout);
    assert_eq!(header_of(&head, "Transfer-Encoding"), Some("chunked"));
    assert_eq!(header_of(&head, "Content-Type"), Some("text/plain"));
    // curl decodes the chunks.
    assert_eq!(
        String::from_utf8_lossy(&body),
        "count: 0\ncount: 1\ncount: 2\ncount: 3\ncount: 4\nCompleted!"
    );
}

#[test]
fn curl_reuses_one_connection_for_two_urls() {
    require!("curl", "--version", "curl_reuses_one_connection_for_two_urls");
    let srv = client_server(1 << 20);
    let url = format!("http://127.0.0.1:{}/remote", srv.port);
    let out = curl(&["-v", &url, &url]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(lines[0].starts_with("127.0.0.1:"), "{text:?}");
    assert_eq!(lines[0], lines[1], "both requests came from the same client port");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Re-using existing"),
        "curl -v says it re-used the connection:\n{stderr}"
    );
}

#[test]
fn curl_expect_100_continue_with_a_large_body() {
    require!("curl", "--version", "curl_expect_100_continue_with_a_large_body");
    let srv = client_server(8 << 20);
    let data = pseudo_random(2 << 20, 11);
    let file = TempFile::new("expect", &data);
    let out = curl(&[
        "-i",
        "--expect100-timeout",
        "30",
        "-H",
        "Expect: 100-continue",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &file.arg(),
        &format!("http://127.0.0.1:{}/digest", srv.port),
    ]);
    let (interim, head, body) = split_i(&out.stdout);
    assert_eq!(
        interim,
        ["HTTP/1.1 100 Continue\r\n\r\n"],
        "the server asked for the body"
    );
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("{} {:016x}", data.len(), fnv(&data))
    );
}

#[test]
fn curl_expect_100_continue_over_the_limit_gets_413() {
    require!("curl", "--version", "curl_expect_100_continue_over_the_limit_gets_413");
    let srv = client_server(1 << 20);
    let data = pseudo_random(2 << 20, 13);
    let file = TempFile::new("toolarge", &data);
    let out = curl(&[
        "-i",
        "--expect100-timeout",
        "30",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &file.arg(),
        &format!("http://127.0.0.1:{}/digest", srv.port),
    ]);
    let (interim, head, body) = split_i(&out.stdout);
    assert!(
        interim.is_empty(),
        "no 100 Continue for a body that is refused: {interim:?}"
    );
    assert!(head.starts_with("HTTP/1.1 413 Content Too Large\r\n"), "{head}");
    assert_eq!(header_of(&head, "Connection"), Some("close"));
    assert_eq!(body, b"413 Content Too Large\n");
    assert_healthy_hello(srv.port);
}

fn assert_healthy_hello(port: u16) {
    let r = roundtrip(port, b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"hello world\n");
}

// ---- Python http.client ------------------------------------------------------------

const PY_CLIENT: &str = r#"
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection('127.0.0.1', port, timeout=20)

c.request('GET', '/hello')
r = c.getresponse()
print('GET', r.status, r.reason, r.getheader('Content-Type'), repr(r.read()))

c.request('POST', '/echo', body=b'abc\x00def', headers={'Content-Type': 'application/octet-stream'})
r = c.getresponse()
print('POST', r.status, r.getheader('Content-Type'), repr(r.read()))

c.request('POST', '/form', body='a=x+y&c=%7E', headers={'Content-Type': 'application/x-www-form-urlencoded'})
r = c.getresponse()
print('FORM', r.status, repr(r.read()))

def gen():
    yield b'chunk1-'
    yield b''
    yield b'chunk2'
c.request('POST', '/echo', body=gen())
r = c.getresponse()
print('CHUNKED', r.status, repr(r.read()))

c.request('GET', '/remote')
r = c.getresponse()
a1 = r.read()
c.request('GET', '/remote')
r = c.getresponse()
a2 = r.read()
print('KEEPALIVE', a1 == a2, a1.startswith(b'127.0.0.1:'), r.will_close)

c.request('HEAD', '/hello')
r = c.getresponse()
print('HEAD', r.status, r.getheader('Content-Length'), repr(r.read()))

c.request('GET', '/stream')
r = c.getresponse()
print('STREAM', r.status, r.getheader('Transfer-Encoding'), repr(r.read()))

c.request('GET', '/nope')
r = c.getresponse()
print('404', r.status, r.reason, repr(r.read()))

c.request('DELETE', '/hello')
r = c.getresponse()
print('405', r.status, r.getheader('Allow'), repr(r.read()))

big = bytes(range(256)) * 4096
c.request('POST', '/digest', body=big)
r = c.getresponse()
print('BIG', r.status, r.read().decode())
c.close()
"#;

#[test]
fn python_http_client() {
    require!("python3", "--version", "python_http_client");
    let srv = client_server(4 << 20);
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY_CLIENT)
        .arg(srv.port.to_string())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let big: Vec<u8> = (0..4096).flat_map(|_| 0..=255u8).collect();
    let expected = format!(
        "GET 200 OK text/plain; charset=utf-8 b'hello world\\n'\n\
         POST 200 application/octet-stream b'abc\\x00def'\n\
         FORM 200 b'a=x y;b=NULL;c=~'\n\
         CHUNKED 200 b'chunk1-chunk2'\n\
         KEEPALIVE True True False\n\
         HEAD 200 12 b''\n\
         STREAM 200 chunked b'count: 0\\ncount: 1\\ncount: 2\\ncount: 3\\ncount: 4\\nCompleted!'\n\
         404 404 Not Found b'404 Not Found\\n'\n\
         405 405 GET, HEAD b'405 Method Not Allowed\\n'\n\
         BIG 200 {} {:016x}\n",
        big.len(),
        fnv(&big)
    );
    assert_eq!(stdout, expected);
}

#[test]
fn python_http_client_http10_and_close() {
    require!("python3", "--version", "python_http_client_http10_and_close");
    let srv = client_server(1 << 20);
    let script = r#"
import http.client, sys
port = int(sys.argv[1])
class C10(http.client.HTTPConnection):
    _http_vsn = 10
    _http_vsn_str = 'HTTP/1.0'
c = C10('127.0.0.1', port, timeout=20)
c.request('GET', '/version')
r = c.getresponse()
print(r.status, r.version, r.will_close, repr(r.read()))
c2 = http.client.HTTPConnection('127.0.0.1', port, timeout=20)
c2.request('GET', '/hello', headers={'Connection': 'close'})
r = c2.getresponse()
print(r.status, r.getheader('Connection'), r.will_close, repr(r.read()))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(srv.port.to_string())
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 11 True b'10'\n200 close True b'hello world\\n'\n"
    );
}

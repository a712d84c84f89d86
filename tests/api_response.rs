//! The `resp_*` C functions with exact bytes on the wire, the seed
//! examples, the library functions (`mr_*`) and NULL handles everywhere.
//!
//! Handlers are `extern "C"` (a trampoline calling a Rust closure). They
//! record the return codes of the calls they make in a shared log; the test
//! compares that log and the response bytes after the exchange.
mod common;
use common::*;

use std::ffi::{c_char, c_int, CString};
use std::io::Read;
use std::ptr::{null, null_mut};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

// ---- helpers local to this file ------------------------------------------

/// A one-route server: `GET|HEAD|POST /t` runs `f` with a fresh log.
fn one(f: impl Fn(&Log, *mut mr_req, *mut mr_resp) -> c_int + Send + Sync + 'static) -> (Running, Log) {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l3 = l2.clone();
        on(srv, "*", "/t", move |req, resp| {
            let _busy = l3.busy();
            f(&l3, req, resp)
        });
    });
    (srv, log)
}

fn get_t(port: u16) -> Resp {
    roundtrip(port, b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// Lines without `Date:`, for exact comparisons of raw bytes.
fn strip_date(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect()
}

/// Sends `req` on a fresh connection and returns every byte until the
/// server closes, Date line removed.
fn raw(port: u16, req: &[u8]) -> String {
    let mut s = connect(port);
    send(&mut s, req);
    strip_date(&read_to_end(&mut s))
}

/// `GET /t` with `Connection: close`, raw.
fn raw_t(port: u16) -> String {
    raw(port, b"GET /t HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
}

fn c(s: &str) -> CString {
    cs(s)
}

// ---- status ----------------------------------------------------------------

#[test]
fn set_status_and_read_it_back() {
    let (srv, log) = one(|log, _, resp| {
        log.rc("default", resp_status(resp));
        for bad in [42, 99, 1000, -1, 0, i32::MAX, i32::MIN] {
            log.rc(&format!("set{bad}"), resp_set_status(resp, bad));
        }
        log.note(format!("err-mentions-status={}", last_error().contains("status")));
        log.rc("still", resp_status(resp));
        log.rc("set201", resp_set_status(resp, 201));
        log.rc("now", resp_status(resp));
        resp_set_text(resp, c"made".as_ptr())
    });
    let r = get_t(srv.port);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 201 Created\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\n"
    );
    let e = MR_EINVAL;
    assert_eq!(
        log.take(),
        [
            "default=200".to_string(),
            format!("set42={e}"),
            format!("set99={e}"),
            format!("set1000={e}"),
            format!("set-1={e}"),
            format!("set0={e}"),
            format!("set{}={e}", i32::MAX),
            format!("set{}={e}", i32::MIN),
            "err-mentions-status=true".into(),
            "still=200".into(),
            "set201=0".into(),
            "now=201".into(),
        ]
    );
}

#[test]
fn status_codes_at_the_edges() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/s/{code}", move |req, resp| {
            let _busy = l.busy();
            let code: i32 = from_c(req_param(req, c"code".as_ptr())).unwrap().parse().unwrap();
            l.rc(&code.to_string(), resp_set_status(resp, code));
            resp_set_text(resp, c"body".as_ptr())
        });
    });
    // 999 has no standard reason: the phrase is empty.
    let r = roundtrip(srv.port, b"GET /s/999 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 999 \r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\n"
    );
    assert_eq!(r.body, b"body");
    // 204 and 304 never carry a body, whatever the handler set.
    let mut cl = Client::new(srv.port);
    let r = cl.roundtrip(b"GET /s/204 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 204);
    assert!(r.header("Content-Length").is_none(), "{r:?}");
    let r = cl.roundtrip(b"GET /s/304 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 304);
    // Nothing stray on the connection after them.
    let r = cl.roundtrip(b"GET /s/200 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"body");
    assert_eq!(log.take(), ["999=0", "204=0", "304=0", "200=0"]);
}

// ---- headers -----------------------------------------------------------------

#[test]
fn set_add_remove_and_read_headers() {
    let (srv, log) = one(|log, _, resp| {
        let set = |n: &str, v: &str| resp_set_header(resp, c(n).as_ptr(), c(v).as_ptr());
        let add = |n: &str, v: &str| resp_add_header(resp, c(n).as_ptr(), c(v).as_ptr());
        let get = |n: &str| from_c(resp_header(resp, c(n).as_ptr())).unwrap_or_else(|| "NULL".into());
        log.rc("set X-A", set("X-A", "1"));
        log.rc("add X-A", add("X-A", "2"));
        log.rc("set X-B", set("X-B", "one"));
        log.rc("add Vary", add("Vary", "a"));
        log.rc("set x-b", set("x-b", "two"));
        log.rc("add Vary", add("Vary", "b"));
        log.rc("set X-Gone", set("X-Gone", "g"));
        log.rc("remove x-gone", resp_remove_header(resp, c"x-gone".as_ptr()));
        log.rc("remove absent", resp_remove_header(resp, c"X-Never".as_ptr()));
        log.rc("set X-Tab", set("X-Tab", "a\tb c"));
        log.rc("set X-Utf", set("X-Utf", "é"));
        log.rc("set X-Empty", set("X-Empty", ""));
        log.note(format!("x-a={}", get("x-a")));
        log.note(format!("X-B={}", get("X-B")));
        log.note(format!("x-gone={}", get("x-gone")));
        log.note(format!("null-name={:?}", from_c(resp_header(resp, null()))));
        log.rc("text", resp_set_text(resp, c"body".as_ptr()));
        log.note(format!("content-type={}", get("content-type")));
        log.rc("cookie", resp_set_cookie(resp, c"s".as_ptr(), c"1".as_ptr()));
        log.note(format!("set-cookie={}", get("Set-Cookie")));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nVary: a\r\nx-b: two\r\nVary: b\r\nX-Tab: a\tb c\r\n\
         X-Utf: é\r\nX-Empty: \r\nContent-Type: text/plain; charset=utf-8\r\n\
         Set-Cookie: s=1; Path=/; HttpOnly; SameSite=Lax\r\nContent-Length: 4\r\n\r\n"
    );
    assert_eq!(r.body, b"body");
    assert_eq!(
        log.take(),
        [
            "set X-A=0",
            "add X-A=0",
            "set X-B=0",
            "add Vary=0",
            "set x-b=0",
            "add Vary=0",
            "set X-Gone=0",
            "remove x-gone=0",
            "remove absent=0",
            "set X-Tab=0",
            "set X-Utf=0",
            "set X-Empty=0",
            "x-a=1",
            "X-B=two",
            "x-gone=NULL",
            "null-name=None",
            "text=0",
            "content-type=text/plain; charset=utf-8",
            "cookie=0",
            "set-cookie=s=1; Path=/; HttpOnly; SameSite=Lax",
        ]
    );
}

#[test]
fn header_injection_is_refused_and_nothing_is_emitted() {
    let (srv, log) = one(|log, _, resp| {
        let bad: &[(&str, &str)] = &[
            ("X", "a\r\nSet-Cookie: s=1"),
            ("X", "a\nb"),
            ("X", "a\rb"),
            ("X", "a\x01b"),
            ("X", "a\x7fb"),
            ("X", " lead"),
            ("X", "trail "),
            ("X", "\ttab"),
            ("X Y", "v"),
            ("X:Y", "v"),
            ("", "v"),
            ("X\r\nY", "v"),
            ("X\nY: z", "v"),
            ("Ä", "v"),
            ("X(", "v"),
            ("Transfer-Encoding", "chunked"),
            ("transfer-encoding", "identity"),
            ("Content-Length", "abc"),
            ("Content-Length", "-1"),
            ("Content-Length", "1 2"),
            ("Content-Length", ""),
            ("Content-Length", "+5"),
            ("Content-Length", "0x10"),
            ("Content-Length", "99999999999999999999999"),
            ("Connection", "upgrade"),
            ("Connection", "Upgrade"),
            ("connection", "close, upgrade"),
            ("Connection", ""),
        ];
        let mut codes = Vec::new();
        for &(n, v) in bad {
            codes.push(resp_set_header(resp, c(n).as_ptr(), c(v).as_ptr()));
            codes.push(resp_add_header(resp, c(n).as_ptr(), c(v).as_ptr()));
        }
        log.note(format!("all-einval={}", codes.iter().all(|&c| c == MR_EINVAL)));
        log.note(format!("codes={codes:?}"));
        // Not UTF-8.
        let not_utf8 = CString::new(vec![b'a', 0xff]).unwrap();
        log.rc(
            "non-utf8 value",
            resp_set_header(resp, c"X".as_ptr(), not_utf8.as_ptr()),
        );
        log.rc("non-utf8 name", resp_set_header(resp, not_utf8.as_ptr(), c"v".as_ptr()));
        // NULL arguments.
        log.rc("null name", resp_set_header(resp, null(), c"v".as_ptr()));
        log.rc("null value", resp_set_header(resp, c"X".as_ptr(), null()));
        log.rc("add null value", resp_add_header(resp, c"X".as_ptr(), null()));
        log.rc("remove null", resp_remove_header(resp, null()));
        // MIME types go through the same checks.
        log.rc("mime empty", resp_set_mime_type(resp, c"".as_ptr()));
        log.rc(
            "mime crlf",
            resp_set_mime_type(resp, c"text/plain\r\nX-Injected: 1".as_ptr()),
        );
        log.rc("mime null", resp_set_mime_type(resp, null()));
        // Nothing was stored.
        log.note(format!("x={:?}", from_c(resp_header(resp, c"X".as_ptr()))));
        log.note(format!("ct={:?}", from_c(resp_header(resp, c"Content-Type".as_ptr()))));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(r.head_without_date(), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let got = log.take();
    assert_eq!(got[0], "all-einval=true", "{}", got[1]);
    let e = MR_EINVAL;
    assert_eq!(
        got[2..],
        [
            format!("non-utf8 value={e}"),
            format!("non-utf8 name={e}"),
            format!("null name={e}"),
            format!("null value={e}"),
            format!("add null value={e}"),
            format!("remove null={e}"),
            format!("mime empty={e}"),
            format!("mime crlf={e}"),
            format!("mime null={e}"),
            "x=None".into(),
            "ct=None".into(),
        ]
    );
    assert_healthy_t(srv.port);
}

fn assert_healthy_t(port: u16) {
    let r = get_t(port);
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn user_content_length_does_not_change_a_buffered_body() {
    let (srv, log) = one(|log, _, resp| {
        log.rc("cl", resp_set_header(resp, c"Content-Length".as_ptr(), c"100".as_ptr()));
        log.rc("text", resp_set_text(resp, c"abc".as_ptr()));
        0
    });
    let mut cl = Client::new(srv.port);
    let r = cl.roundtrip(b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\n"
    );
    assert_eq!(r.body, b"abc");
    // The connection carries on.
    let r = cl.roundtrip(b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"abc");
    assert_eq!(log.take(), ["cl=0", "text=0", "cl=0", "text=0"]);
}

#[test]
fn connection_header_close_and_keep_alive() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/close", move |_, resp| {
            let _busy = l.busy();
            l.rc(
                "close",
                resp_set_header(resp, c"Connection".as_ptr(), c"close".as_ptr()),
            );
            resp_set_text(resp, c"bye".as_ptr())
        });
        let l = l2.clone();
        on(srv, "GET", "/keep", move |_, resp| {
            let _busy = l.busy();
            l.rc(
                "keep",
                resp_set_header(resp, c"Connection".as_ptr(), c"Keep-Alive".as_ptr()),
            );
            resp_set_text(resp, c"hi".as_ptr())
        });
    });
    let mut cl = Client::new(srv.port);
    let r = cl.roundtrip(b"GET /keep HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n"
    );
    let r = cl.roundtrip(b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
    );
    assert!(cl.closed_within(IO_TIMEOUT));
    assert_eq!(log.take(), ["keep=0", "close=0"]);
}

#[test]
fn mime_type() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/send-xml", move |_, resp| {
            let _busy = l.busy();
            l.rc("mime", resp_set_mime_type(resp, c"application/xml".as_ptr()));
            l.note(format!(
                "read={:?}",
                from_c(resp_header(resp, c"content-type".as_ptr()))
            ));
            resp_send_str(resp, c"<a/>".as_ptr())
        });
        on(srv, "GET", "/send-default", |_, resp| {
            resp_send_str(resp, c"<p>".as_ptr())
        });
        on(srv, "GET", "/header-default", |_, resp| {
            resp_send_header(resp, null(), null(), 0)
        });
        let l = l2.clone();
        on(srv, "GET", "/after-text", move |_, resp| {
            let _busy = l.busy();
            resp_set_text(resp, c"a,b".as_ptr());
            l.rc("after", resp_set_mime_type(resp, c"text/csv".as_ptr()));
            0
        });
        let l = l2.clone();
        on(srv, "GET", "/before-text", move |_, resp| {
            let _busy = l.busy();
            l.rc("before", resp_set_mime_type(resp, c"text/csv".as_ptr()));
            resp_set_text(resp, c"a,b".as_ptr())
        });
    });
    let p = srv.port;
    let close = |path: &str| {
        raw(
            p,
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(
        close("/send-xml"),
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\n<a/>\r\n0\r\n\r\n"
    );
    assert_eq!(
        close("/send-default"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n<p>\r\n0\r\n\r\n"
    );
    assert_eq!(
        close("/header-default"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    );
    assert_eq!(
        close("/after-text"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 3\r\nConnection: close\r\n\r\na,b"
    );
    assert_eq!(
        close("/before-text"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nConnection: close\r\n\r\na,b"
    );
    assert_eq!(
        log.take(),
        ["mime=0", "read=Some(\"application/xml\")", "after=0", "before=0"]
    );
}

// ---- cookies ---------------------------------------------------------------

#[test]
fn cookie_defaults_and_every_attribute() {
    use std::ffi::c_uint;
    let (srv, log) = one(|log, _, resp| {
        let ex = |name: &str, value: &str, age: i64, path: Option<&str>, domain: Option<&str>, flags: c_uint| {
            let (p, d) = (path.map(c), domain.map(c));
            resp_set_cookie_ex(
                resp,
                c(name).as_ptr(),
                c(value).as_ptr(),
                age,
                p.as_ref().map_or(null(), |p| p.as_ptr()),
                d.as_ref().map_or(null(), |d| d.as_ptr()),
                flags,
            )
        };
        let mut codes = vec![resp_set_cookie(resp, c"d".as_ptr(), c"v".as_ptr())];
        codes.push(ex("s1", "v", -1, None, None, 0));
        codes.push(ex("s2", "v", -1, None, None, MR_COOKIE_SECURE));
        codes.push(ex("s3", "v", -1, None, None, MR_COOKIE_HTTPONLY));
        codes.push(ex("s4", "v", -1, None, None, MR_COOKIE_SAMESITE_LAX));
        codes.push(ex("s5", "v", -1, None, None, MR_COOKIE_SAMESITE_STRICT));
        codes.push(ex(
            "s6",
            "v",
            -1,
            None,
            None,
            MR_COOKIE_SAMESITE_NONE | MR_COOKIE_SECURE,
        ));
        codes.push(ex(
            "s7",
            "v",
            3600,
            Some("/app"),
            Some("example.com"),
            MR_COOKIE_SECURE | MR_COOKIE_HTTPONLY | MR_COOKIE_SAMESITE_STRICT,
        ));
        codes.push(ex("s8", "v", 0, Some("/x"), None, 0));
        codes.push(ex("s9", "\"quoted\"", -1, None, None, 0));
        codes.push(ex("s10", "", -1, None, None, 0));
        codes.push(ex("s11", "v", -5, None, None, 0));
        codes.push(ex("s12", "v", i64::MAX, None, None, 0));
        codes.push(ex(
            "s13",
            "a!#$%&'()*+-./:<=>?@[]^_`{|}~",
            -1,
            None,
            Some(".sub.example.com"),
            0,
        ));
        log.note(format!("{codes:?}"));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers_named("Set-Cookie"),
        [
            "d=v; Path=/; HttpOnly; SameSite=Lax",
            "s1=v; Path=/",
            "s2=v; Path=/; Secure",
            "s3=v; Path=/; HttpOnly",
            "s4=v; Path=/; SameSite=Lax",
            "s5=v; Path=/; SameSite=Strict",
            "s6=v; Path=/; Secure; SameSite=None",
            "s7=v; Max-Age=3600; Path=/app; Domain=example.com; Secure; HttpOnly; SameSite=Strict",
            "s8=v; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/x",
            "s9=\"quoted\"; Path=/",
            "s10=; Path=/",
            "s11=v; Path=/",
            "s12=v; Max-Age=9223372036854775807; Path=/",
            "s13=a!#$%&'()*+-./:<=>?@[]^_`{|}~; Path=/; Domain=.sub.example.com",
        ]
    );
    assert_eq!(log.take(), [format!("{:?}", [0; 14])]);
}

#[test]
fn invalid_cookies_are_refused() {
    use std::ffi::c_uint;
    let (srv, log) = one(|log, _, resp| {
        let ex = |name: &str, value: &str, path: Option<&str>, domain: Option<&str>, flags: c_uint| {
            let (p, d) = (path.map(c), domain.map(c));
            resp_set_cookie_ex(
                resp,
                c(name).as_ptr(),
                c(value).as_ptr(),
                -1,
                p.as_ref().map_or(null(), |p| p.as_ptr()),
                d.as_ref().map_or(null(), |d| d.as_ptr()),
                flags,
            )
        };
        let mut bad = Vec::new();
        for name in ["", "a b", "a;b", "a=b", "a\"", "é", "a\r\nb", "a,b", "(a)"] {
            bad.push((
                format!("name {name:?}"),
                resp_set_cookie(resp, c(name).as_ptr(), c"v".as_ptr()),
            ));
            bad.push((format!("ex name {name:?}"), ex(name, "v", None, None, 0)));
        }
        for value in [
            "x y",
            "x;y",
            "x,y",
            "x\"y",
            "x\\y",
            "\x01",
            "x\r\nSet-Cookie: a=b",
            "\"unterminated",
            "é",
            "\"a b\"",
        ] {
            bad.push((
                format!("value {value:?}"),
                resp_set_cookie(resp, c"n".as_ptr(), c(value).as_ptr()),
            ));
            bad.push((format!("ex value {value:?}"), ex("n", value, None, None, 0)));
        }
        for path in ["", "/a;b", "/a b", "/\x01", "/x\r\nY: z"] {
            bad.push((format!("path {path:?}"), ex("n", "v", Some(path), None, 0)));
        }
        for domain in ["", "ex ample.com", "a;b", "a\r\nb"] {
            bad.push((format!("domain {domain:?}"), ex("n", "v", None, Some(domain), 0)));
        }
        for flags in [
            32,
            u32::MAX,
            MR_COOKIE_SAMESITE_LAX | MR_COOKIE_SAMESITE_STRICT,
            MR_COOKIE_SAMESITE_LAX | MR_COOKIE_SAMESITE_NONE | MR_COOKIE_SECURE,
            MR_COOKIE_SAMESITE_STRICT | MR_COOKIE_SAMESITE_NONE | MR_COOKIE_SECURE,
            MR_COOKIE_SAMESITE_NONE,
            MR_COOKIE_SAMESITE_NONE | MR_COOKIE_HTTPONLY,
        ] {
            bad.push((format!("flags {flags}"), ex("n", "v", None, None, flags)));
        }
        bad.push(("null name".into(), resp_set_cookie(resp, null(), c"v".as_ptr())));
        bad.push(("null value".into(), resp_set_cookie(resp, c"n".as_ptr(), null())));
        bad.push((
            "ex null name".into(),
            resp_set_cookie_ex(resp, null(), c"v".as_ptr(), -1, null(), null(), 0),
        ));
        bad.push((
            "ex null value".into(),
            resp_set_cookie_ex(resp, c"n".as_ptr(), null(), -1, null(), null(), 0),
        ));
        bad.push(("delete null".into(), resp_delete_cookie(resp, null())));
        bad.push(("delete bad".into(), resp_delete_cookie(resp, c"a b".as_ptr())));
        bad.push(("delete empty".into(), resp_delete_cookie(resp, c"".as_ptr())));
        for (label, code) in bad {
            if code != MR_EINVAL {
                log.note(format!("{label} gave {code}"));
            }
        }
        log.note(format!(
            "set-cookie={:?}",
            from_c(resp_header(resp, c"Set-Cookie".as_ptr()))
        ));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(r.head_without_date(), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(log.take(), ["set-cookie=None"]);
}

#[test]
fn same_name_cookie_is_replaced_and_delete_expires() {
    let (srv, log) = one(|log, _, resp| {
        log.rc("a1", resp_set_cookie(resp, c"a".as_ptr(), c"1".as_ptr()));
        log.rc("ab", resp_set_cookie(resp, c"ab".as_ptr(), c"x".as_ptr()));
        log.rc("sid", resp_set_cookie(resp, c"sid".as_ptr(), c"s".as_ptr()));
        log.rc("a2", resp_set_cookie(resp, c"a".as_ptr(), c"2".as_ptr()));
        log.rc(
            "a3",
            resp_set_cookie_ex(resp, c"a".as_ptr(), c"3".as_ptr(), 60, null(), null(), MR_COOKIE_SECURE),
        );
        log.rc("del sid", resp_delete_cookie(resp, c"sid".as_ptr()));
        log.rc("del gone", resp_delete_cookie(resp, c"gone".as_ptr()));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(
        r.headers_named("Set-Cookie"),
        [
            "ab=x; Path=/; HttpOnly; SameSite=Lax",
            "a=3; Max-Age=60; Path=/; Secure",
            "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "gone=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ]
    );
    assert_eq!(
        log.take(),
        ["a1=0", "ab=0", "sid=0", "a2=0", "a3=0", "del sid=0", "del gone=0"]
    );
}

// ---- buffered bodies -----------------------------------------------------------

#[test]
fn buffered_body_setters() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        on(srv, "GET", "/text", |_, resp| resp_set_text(resp, c"héllo".as_ptr()));
        on(srv, "GET", "/html", |_, resp| {
            resp_set_html(resp, c"<b>hi</b>".as_ptr())
        });
        on(srv, "GET", "/content", |_, resp| {
            resp_set_content(resp, b"a\0b\xff".as_ptr().cast(), 4)
        });
        on(srv, "GET", "/content-empty", |_, resp| {
            resp_set_content(resp, null(), 0)
        });
        on(srv, "GET", "/json", |_, resp| {
            resp_set_json(resp, c" [1, {\"a\": null}] ".as_ptr())
        });
        let l = l2.clone();
        on(srv, "GET", "/replace", move |_, resp| {
            let _busy = l.busy();
            l.rc("text", resp_set_text(resp, c"one".as_ptr()));
            l.rc("html", resp_set_html(resp, c"<i>two</i>".as_ptr()));
            0
        });
        let l = l2.clone();
        on(srv, "GET", "/bad-json", move |_, resp| {
            let _busy = l.busy();
            l.rc("text", resp_set_text(resp, c"keep".as_ptr()));
            for (i, bad) in ["{\"a\": }", "{} x", "", "nope", "{'a':1}", "[1,]", "{\"a\":1"]
                .iter()
                .enumerate()
            {
                l.rc(&format!("json{i}"), resp_set_json(resp, c(bad).as_ptr()));
            }
            l.note(format!(
                "err-mentions-json={}",
                last_error().to_lowercase().contains("json")
            ));
            l.rc("json-null", resp_set_json(resp, null()));
            0
        });
        let l = l2.clone();
        on(srv, "GET", "/bad-args", move |_, resp| {
            let _busy = l.busy();
            let not_utf8 = CString::new(vec![b'a', 0xff, b'b']).unwrap();
            l.rc("text-utf8", resp_set_text(resp, not_utf8.as_ptr()));
            l.rc("html-utf8", resp_set_html(resp, not_utf8.as_ptr()));
            l.rc("text-null", resp_set_text(resp, null()));
            l.rc("html-null", resp_set_html(resp, null()));
            l.rc("content-null", resp_set_content(resp, null(), 5));
            0
        });
    });
    let p = srv.port;
    let r = roundtrip(p, b"GET /text HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\n"
    );
    assert_eq!(r.body, "héllo".as_bytes());
    let r = roundtrip(p, b"GET /html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\r\n"
    );
    assert_eq!(r.body, b"<b>hi</b>");
    let r = roundtrip(p, b"GET /content HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n"
    );
    assert_eq!(r.body, b"a\0b\xff");
    let r = roundtrip(p, b"GET /content-empty HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 0\r\n\r\n"
    );
    let r = roundtrip(p, b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n"
    );
    assert_eq!(r.body, b" [1, {\"a\": null}] ", "sent as given");
    let r = roundtrip(p, b"GET /replace HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 10\r\n\r\n"
    );
    assert_eq!(r.body, b"<i>two</i>");
    assert_eq!(log.take(), ["text=0", "html=0"]);

    let r = roundtrip(p, b"GET /bad-json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\n"
    );
    assert_eq!(r.body, b"keep", "invalid JSON changes nothing");
    let e = MR_EINVAL;
    let mut want = vec!["text=0".to_string()];
    want.extend((0..7).map(|i| format!("json{i}={e}")));
    want.push("err-mentions-json=true".into());
    want.push(format!("json-null={e}"));
    assert_eq!(log.take(), want);

    let r = roundtrip(p, b"GET /bad-args HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.head_without_date(), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        log.take(),
        [
            format!("text-utf8={e}"),
            format!("html-utf8={e}"),
            format!("text-null={e}"),
            format!("html-null={e}"),
            format!("content-null={e}"),
        ]
    );
}

// ---- sending now -------------------------------------------------------------

#[test]
fn send_header_with_reason_and_content() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/custom", move |_, resp| {
            let _busy = l.busy();
            resp_set_status(resp, 299);
            l.rc(
                "send_header",
                resp_send_header(resp, c"Custom Thing".as_ptr(), b"abc".as_ptr().cast(), 3),
            );
            l.rc("again", resp_send_header(resp, null(), null(), 0));
            0
        });
        on(srv, "GET", "/plain", |_, resp| {
            resp_set_status(resp, 201);
            resp_send_header(resp, null(), null(), 0)
        });
        let l = l2.clone();
        on(srv, "GET", "/bad-reason", move |_, resp| {
            let _busy = l.busy();
            l.rc(
                "crlf",
                resp_send_header(resp, c"OK\r\nX-Injected: 1".as_ptr(), null(), 0),
            );
            l.rc("lf", resp_send_header(resp, c"a\nb".as_ptr(), null(), 0));
            l.rc("ctl", resp_send_header(resp, c"a\x01b".as_ptr(), null(), 0));
            l.rc("null-content", resp_send_header(resp, null(), null(), 3));
            resp_set_text(resp, c"after".as_ptr())
        });
        let l = l2.clone();
        on(srv, "GET", "/with-length", move |_, resp| {
            let _busy = l.busy();
            resp_set_header(resp, c"Content-Length".as_ptr(), c"3".as_ptr());
            l.rc("sized", resp_send_header(resp, null(), b"abc".as_ptr().cast(), 3));
            0
        });
    });
    let p = srv.port;
    let close = |path: &str| {
        raw(
            p,
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(
        close("/custom"),
        "HTTP/1.1 299 Custom Thing\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
    assert_eq!(log.take(), ["send_header=0".to_string(), format!("again={MR_ESTATE}")]);
    assert_eq!(
        close("/plain"),
        "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    );
    assert_eq!(
        close("/bad-reason"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: close\r\n\r\nafter"
    );
    let e = MR_EINVAL;
    assert_eq!(
        log.take(),
        [
            format!("crlf={e}"),
            format!("lf={e}"),
            format!("ctl={e}"),
            format!("null-content={e}")
        ]
    );
    // A declared length: no chunking, and the connection stays usable.
    let mut cl = Client::new(p);
    let r = cl.roundtrip(b"GET /with-length HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n"
    );
    assert_eq!(r.body, b"abc");
    let r = cl.roundtrip(b"GET /with-length HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"abc");
    assert_eq!(log.take(), ["sized=0", "sized=0"]);
}

#[test]
fn streaming_is_chunked_on_http11() {
    let (srv, log) = one(|log, _, resp| {
        log.rc("hello", resp_send(resp, b"hello".as_ptr().cast(), 5));
        log.rc("empty", resp_send(resp, null(), 0));
        log.rc("world", resp_send(resp, b" world".as_ptr().cast(), 6));
        log.rc("str", resp_send_str(resp, c"!".as_ptr()));
        log.rc("str-empty", resp_send_str(resp, c"".as_ptr()));
        log.rc("null-data", resp_send(resp, null(), 3));
        log.rc("null-str", resp_send_str(resp, null()));
        0
    });
    assert_eq!(
        raw_t(srv.port),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         5\r\nhello\r\n6\r\n world\r\n1\r\n!\r\n0\r\n\r\n"
    );
    let e = MR_EINVAL;
    assert_eq!(
        log.take(),
        [
            "hello=0".to_string(),
            "empty=0".into(),
            "world=0".into(),
            "str=0".into(),
            "str-empty=0".into(),
            format!("null-data={e}"),
            format!("null-str={e}"),
        ]
    );
    // Keep-alive: the chunked body ends cleanly and the next request works.
    let mut cl = Client::new(srv.port);
    for _ in 0..2 {
        let r = cl.roundtrip(b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.body, b"hello world!");
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    }
}

#[test]
fn streaming_is_close_delimited_on_http10() {
    let (srv, _log) = one(|_, _, resp| {
        resp_send_str(resp, c"hello".as_ptr());
        resp_send_str(resp, c" world".as_ptr())
    });
    for req in [
        &b"GET /t HTTP/1.0\r\n\r\n"[..],
        b"GET /t HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        assert_eq!(
            raw(srv.port, req),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\nhello world"
        );
    }
}

#[test]
fn streaming_with_a_user_content_length() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/exact", move |_, resp| {
            let _busy = l.busy();
            resp_set_header(resp, c"Content-Length".as_ptr(), c"11".as_ptr());
            l.rc("a", resp_send_str(resp, c"hello".as_ptr()));
            l.rc("b", resp_send_str(resp, c" world".as_ptr()));
            0
        });
        let l = l2.clone();
        on(srv, "GET", "/more", move |_, resp| {
            let _busy = l.busy();
            resp_set_header(resp, c"Content-Length".as_ptr(), c"5".as_ptr());
            l.rc("a", resp_send_str(resp, c"hello".as_ptr()));
            l.rc("extra", resp_send_str(resp, c"x".as_ptr()));
            0
        });
        on(srv, "GET", "/fewer", |_, resp| {
            resp_set_header(resp, c"Content-Length".as_ptr(), c"10".as_ptr());
            resp_send_str(resp, c"hello".as_ptr())
        });
        let l = l2.clone();
        on(srv, "GET", "/too-big-at-once", move |_, resp| {
            let _busy = l.busy();
            resp_set_header(resp, c"Content-Length".as_ptr(), c"3".as_ptr());
            l.rc("big", resp_send_str(resp, c"hello".as_ptr()));
            0
        });
    });
    let p = srv.port;
    let mut cl = Client::new(p);
    let r = cl.roundtrip(b"GET /exact HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n"
    );
    assert_eq!(r.body, b"hello world");
    // More than declared: refused, the declared bytes complete the message
    // and the connection carries on.
    let r = cl.roundtrip(b"GET /more HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"hello");
    assert_eq!(r.header("Content-Length"), Some("5"));
    let r = cl.roundtrip(b"GET /exact HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"hello world");
    assert_eq!(
        log.take(),
        [
            "a=0".to_string(),
            "b=0".into(),
            "a=0".into(),
            format!("extra={MR_EINVAL}"),
            "a=0".into(),
            "b=0".into()
        ]
    );

    // Fewer than declared: the only way to tell the client is to close.
    assert_eq!(
        raw(p, b"GET /fewer HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\nhello"
    );

    // One piece larger than declared: refused, and never more than the
    // declared bytes reach the client. (Connection: close: the response
    // may end cleanly, and raw() reads until the server closes; waiting
    // for the 5 s idle close raced the client's 5 s read timeout.)
    let got = raw(
        p,
        b"GET /too-big-at-once HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(log.take(), [format!("big={MR_EINVAL}")]);
    let body = got.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(body.len() <= 3 && !got.contains("hello"), "{got:?}");
}

#[test]
fn large_streamed_pieces_are_framed_right() {
    let (srv, log) = one(|log, _, resp| {
        let big: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        log.rc("small", resp_send(resp, b"head:".as_ptr().cast(), 5));
        log.rc("big", resp_send(resp, big.as_ptr().cast(), big.len()));
        log.rc("tail", resp_send_str(resp, c":tail".as_ptr()));
        0
    });
    let r = get_t(srv.port);
    let big: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut want = b"head:".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b":tail");
    assert_eq!(r.body.len(), want.len());
    assert!(r.body == want);
    assert_eq!(log.take(), ["small=0", "big=0", "tail=0"]);
}

#[test]
fn head_request_and_bodyless_status_send_no_body() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/s", move |_, resp| {
            let _busy = l.busy();
            l.rc("send", resp_send_str(resp, c"hello".as_ptr()));
            0
        });
        on(srv, "GET", "/204", |_, resp| {
            resp_set_status(resp, 204);
            resp_send_str(resp, c"ignored".as_ptr())
        });
    });
    let mut cl = Client::new(srv.port);
    let r = cl.roundtrip(b"HEAD /s HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    );
    let r = cl.roundtrip(b"GET /204 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.head_without_date(), "HTTP/1.1 204 No Content\r\n\r\n");
    // Nothing stray came after either head.
    let r = cl.roundtrip(b"GET /s HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"hello");
    assert_eq!(log.take(), ["send=0", "send=0"]);
}

#[test]
fn flush_pushes_buffered_bytes_out_now() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (srv, log) = one(move |log, _, resp| {
        log.rc("flush-before-head", resp_flush(resp));
        log.rc("part1", resp_send_str(resp, c"part1".as_ptr()));
        log.rc("flush", resp_flush(resp));
        // Wait (bounded) until the client has seen part1.
        let released = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).is_ok();
        log.note(format!("released={released}"));
        log.rc("part2", resp_send_str(resp, c"part2".as_ptr()));
        0
    });
    let mut s = connect(srv.port);
    send(&mut s, b"GET /t HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut tmp = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("5\r\npart1\r\n") {
        assert!(
            Instant::now() < deadline,
            "part1 did not arrive before the handler returned: {got:?}"
        );
        match s.read(&mut tmp) {
            Ok(0) => panic!("closed early: {:?}", String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&tmp[..n]),
            Err(e) => panic!("part1 not flushed: {e}; got {:?}", String::from_utf8_lossy(&got)),
        }
    }
    release_tx.send(()).unwrap();
    got.extend_from_slice(&read_to_end(&mut s));
    assert_eq!(
        strip_date(&got),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         5\r\npart1\r\n5\r\npart2\r\n0\r\n\r\n"
    );
    assert_eq!(
        log.take(),
        ["flush-before-head=0", "part1=0", "flush=0", "released=true", "part2=0"]
    );
}

#[test]
fn changes_after_the_head_is_sent_fail_with_estate() {
    let (srv, log) = one(|log, _, resp| {
        resp_set_status(resp, 201);
        log.rc("send", resp_send_str(resp, c"x".as_ptr()));
        let codes = [
            ("set_status", resp_set_status(resp, 404)),
            ("set_header", resp_set_header(resp, c"X".as_ptr(), c"y".as_ptr())),
            ("add_header", resp_add_header(resp, c"X".as_ptr(), c"y".as_ptr())),
            ("remove_header", resp_remove_header(resp, c"Content-Type".as_ptr())),
            ("set_mime_type", resp_set_mime_type(resp, c"text/plain".as_ptr())),
            ("set_cookie", resp_set_cookie(resp, c"a".as_ptr(), c"b".as_ptr())),
            (
                "set_cookie_ex",
                resp_set_cookie_ex(resp, c"a".as_ptr(), c"b".as_ptr(), -1, null(), null(), 0),
            ),
            ("delete_cookie", resp_delete_cookie(resp, c"a".as_ptr())),
            ("set_text", resp_set_text(resp, c"t".as_ptr())),
            ("set_html", resp_set_html(resp, c"h".as_ptr())),
            ("set_content", resp_set_content(resp, b"c".as_ptr().cast(), 1)),
            ("set_json", resp_set_json(resp, c"{}".as_ptr())),
            ("redirect", resp_redirect(resp, c"/x".as_ptr(), 302)),
            ("send_header", resp_send_header(resp, null(), null(), 0)),
        ];
        for (label, code) in codes {
            log.rc(label, code);
        }
        log.rc("status", resp_status(resp));
        log.note(format!("x={:?}", from_c(resp_header(resp, c"X".as_ptr()))));
        log.rc("send-more", resp_send_str(resp, c"y".as_ptr()));
        0
    });
    assert_eq!(
        raw_t(srv.port),
        "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         1\r\nx\r\n1\r\ny\r\n0\r\n\r\n"
    );
    let s = MR_ESTATE;
    let mut want = vec!["send=0".to_string()];
    for label in [
        "set_status",
        "set_header",
        "add_header",
        "remove_header",
        "set_mime_type",
        "set_cookie",
        "set_cookie_ex",
        "delete_cookie",
        "set_text",
        "set_html",
        "set_content",
        "set_json",
        "redirect",
        "send_header",
    ] {
        want.push(format!("{label}={s}"));
    }
    want.extend(["status=201".to_string(), "x=None".into(), "send-more=0".into()]);
    assert_eq!(log.take(), want);
}

// ---- redirect --------------------------------------------------------------------

#[test]
fn redirect_codes() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        let l = l2.clone();
        on(srv, "GET", "/r/{code}", move |req, resp| {
            let _busy = l.busy();
            let code: i32 = from_c(req_param(req, c"code".as_ptr())).unwrap().parse().unwrap();
            l.rc(&code.to_string(), resp_redirect(resp, c"/target?x=%2F".as_ptr(), code));
            0
        });
    });
    for (code, line) in [
        (0, "302 Found"),
        (301, "301 Moved Permanently"),
        (302, "302 Found"),
        (303, "303 See Other"),
        (307, "307 Temporary Redirect"),
        (308, "308 Permanent Redirect"),
    ] {
        let r = roundtrip(
            srv.port,
            format!("GET /r/{code} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            r.head_without_date(),
            format!("HTTP/1.1 {line}\r\nLocation: /target?x=%2F\r\nContent-Length: 0\r\n\r\n")
        );
        assert_eq!(log.take(), [format!("{code}=0")]);
    }
    for code in [200, 300, 304, 305, 306, 309, 399, 1000, -1] {
        let r = roundtrip(
            srv.port,
            format!("GET /r/{code} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            r.head_without_date(),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            "code {code}"
        );
        assert_eq!(log.take(), [format!("{code}={MR_EINVAL}")]);
    }
}

#[test]
fn redirect_locations() {
    let (srv, log) = one(|log, _, resp| {
        for bad in [
            "//evil.example",
            "//evil.example/path",
            "///evil.example",
            "\\\\evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "http://evil.example\\@good.example",
            "/ok\r\nSet-Cookie: x=1",
            "/a\nb",
            "/a\rb",
            "/a\tb",
            " /lead",
            "/a b",
            "/é",
            "",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "ftp://example.com/",
            "http:/x",
            "http:evil.example",
            "http://",
        ] {
            let code = resp_redirect(resp, c(bad).as_ptr(), 302);
            if code != MR_EINVAL {
                log.note(format!("accepted {bad:?}: {code}"));
            }
        }
        log.rc("null", resp_redirect(resp, null(), 302));
        for good in [
            "http://www.example.com",
            "https://example.com/a?b=c#frag",
            "HTTPS://EXAMPLE.COM",
            "/login?next=%2F",
            "relative/path",
            "../up",
            "?q=1",
            "/a:b",
        ] {
            let code = resp_redirect(resp, c(good).as_ptr(), 302);
            if code != MR_OK {
                log.note(format!("refused {good:?}: {code}"));
            }
        }
        // The last one wins, once.
        log.rc("final", resp_redirect(resp, c"/final".as_ptr(), 303));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 303 See Other\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(log.take(), [format!("null={MR_EINVAL}"), "final=0".into()]);
}

#[test]
fn redirect_keeps_cookies_and_refuses_bodies() {
    let (srv, log) = one(|log, _, resp| {
        log.rc("text-before", resp_set_text(resp, c"dropped".as_ptr()));
        log.rc("bad", resp_redirect(resp, c"//evil".as_ptr(), 0));
        log.note(format!("status-after-bad={}", resp_status(resp)));
        log.rc("redirect", resp_redirect(resp, c"/login".as_ptr(), 0));
        log.rc("cookie", resp_set_cookie(resp, c"sid".as_ptr(), c"1".as_ptr()));
        log.rc("header", resp_set_header(resp, c"X-After".as_ptr(), c"1".as_ptr()));
        let s = [
            resp_set_text(resp, c"t".as_ptr()),
            resp_set_html(resp, c"h".as_ptr()),
            resp_set_content(resp, b"c".as_ptr().cast(), 1),
            resp_set_json(resp, c"{}".as_ptr()),
            resp_send_str(resp, c"s".as_ptr()),
            resp_send(resp, b"s".as_ptr().cast(), 1),
            resp_send_header(resp, null(), null(), 0),
        ];
        log.note(format!("body-calls={s:?}"));
        log.rc("status", resp_status(resp));
        0
    });
    let r = get_t(srv.port);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /login\r\nSet-Cookie: sid=1; Path=/; HttpOnly; SameSite=Lax\r\n\
         X-After: 1\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(r.body.is_empty());
    assert_eq!(
        log.take(),
        [
            "text-before=0".to_string(),
            format!("bad={MR_EINVAL}"),
            "status-after-bad=200".into(),
            "redirect=0".into(),
            "cookie=0".into(),
            "header=0".into(),
            format!("body-calls={:?}", [MR_ESTATE; 7]),
            "status=302".into(),
        ]
    );
}

// ---- abort, close, client fd --------------------------------------------------

#[test]
fn abort_before_the_head_with_a_custom_reason() {
    let (srv, log) = one(|log, _, resp| {
        resp_set_header(resp, c"WWW-Authenticate".as_ptr(), c"Basic".as_ptr());
        resp_set_text(resp, c"discarded".as_ptr());
        log.rc("abort", resp_abort(resp, 401, null(), c"Go Away".as_ptr()));
        log.rc("send", resp_send_str(resp, c"x".as_ptr()));
        log.rc("send_header", resp_send_header(resp, null(), null(), 0));
        log.rc("set_text", resp_set_text(resp, c"x".as_ptr()));
        log.rc("abort-again", resp_abort(resp, 500, null(), null()));
        0
    });
    // Keep-alive request: the abort closes the connection anyway.
    let got = raw(srv.port, b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        got,
        "HTTP/1.1 401 Go Away\r\nWWW-Authenticate: Basic\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 12\r\nConnection: close\r\n\r\n401 Go Away\n"
    );
    let s = MR_ESTATE;
    assert_eq!(
        log.take(),
        [
            "abort=0".to_string(),
            format!("send={s}"),
            format!("send_header={s}"),
            format!("set_text={s}"),
            format!("abort-again={s}"),
        ]
    );
}

#[test]
fn abort_default_page_and_content() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        on(srv, "GET", "/default", |_, resp| resp_abort(resp, 0, null(), null()));
        on(srv, "GET", "/content", |_, resp| {
            resp_abort(resp, 403, c"<h1>no</h1>".as_ptr(), null())
        });
        let l = l2.clone();
        on(srv, "GET", "/invalid", move |_, resp| {
            let _busy = l.busy();
            l.rc("42", resp_abort(resp, 42, null(), null()));
            l.rc("1000", resp_abort(resp, 1000, null(), null()));
            l.rc("-1", resp_abort(resp, -1, null(), null()));
            l.rc("crlf", resp_abort(resp, 400, null(), c"Bad\r\nX-Injected: 1".as_ptr()));
            let not_utf8 = CString::new(vec![0xff]).unwrap();
            l.rc("utf8", resp_abort(resp, 400, not_utf8.as_ptr(), null()));
            resp_set_text(resp, c"still open".as_ptr())
        });
    });
    let p = srv.port;
    assert_eq!(
        raw(p, b"GET /default HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\
         Connection: close\r\n\r\n500 Internal Server Error\n"
    );
    assert_eq!(
        raw(p, b"GET /content HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 11\r\nConnection: close\r\n\r\n<h1>no</h1>"
    );
    let mut cl = Client::new(p);
    let r = cl.roundtrip(b"GET /invalid HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"still open");
    assert_eq!(r.header("Connection"), None, "nothing was sent or closed");
    let e = MR_EINVAL;
    assert_eq!(
        log.take(),
        [
            format!("42={e}"),
            format!("1000={e}"),
            format!("-1={e}"),
            format!("crlf={e}"),
            format!("utf8={e}")
        ]
    );
}

#[test]
fn abort_content_keeps_a_content_type_set_by_the_handler() {
    let srv = start(|srv| {
        on(srv, "GET", "/typed", |_, resp| {
            resp_set_header(resp, c"Content-Type".as_ptr(), c"application/json".as_ptr());
            resp_abort(resp, 422, c"{\"error\":1}".as_ptr(), null())
        });
        on(srv, "GET", "/mime", |_, resp| {
            resp_set_mime_type(resp, c"text/plain".as_ptr());
            resp_abort(resp, 400, c"plain words".as_ptr(), null())
        });
    });
    // Header doc of resp_abort: `content` is "sent as text/html unless a
    // Content-Type was set".
    assert_eq!(
        raw(srv.port, b"GET /typed HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 422 Unprocessable Content\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\
         Connection: close\r\n\r\n{\"error\":1}"
    );
    assert_eq!(
        raw(srv.port, b"GET /mime HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\
         Connection: close\r\n\r\nplain words"
    );
}

#[test]
fn abort_after_the_head_truncates() {
    let (srv, log) = one(|log, _, resp| {
        log.rc("send", resp_send_str(resp, c"part".as_ptr()));
        log.rc("abort", resp_abort(resp, 0, null(), null()));
        log.rc("send-after", resp_send_str(resp, c"more".as_ptr()));
        log.rc("flush-after", resp_flush(resp));
        0
    });
    // No final chunk: the client sees the truncation.
    assert_eq!(
        raw(srv.port, b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n"
    );
    let got = log.take();
    assert_eq!(
        got[..3],
        [
            "send=0".to_string(),
            "abort=0".into(),
            format!("send-after={MR_ESTATE}")
        ]
    );
}

#[test]
fn close_drops_a_buffered_response() {
    let (srv, log) = one(|log, _, resp| {
        resp_set_text(resp, c"never sent".as_ptr());
        log.rc("fd-before", (resp_client_fd(resp) >= 0) as c_int);
        log.rc("close", resp_close(resp));
        log.rc("send", resp_send_str(resp, c"x".as_ptr()));
        log.rc("send_header", resp_send_header(resp, null(), null(), 0));
        log.rc("flush", resp_flush(resp));
        log.rc("fd", resp_client_fd(resp));
        log.rc("close-again", resp_close(resp));
        log.rc("abort", resp_abort(resp, 500, null(), null()));
        0
    });
    let mut cl = Client::new(srv.port);
    cl.send(b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(cl.closed_within(IO_TIMEOUT), "closed with nothing sent: {:?}", cl.buf);
    let e = MR_ECLOSED;
    assert_eq!(
        log.take(),
        [
            "fd-before=1".to_string(),
            "close=0".into(),
            format!("send={e}"),
            format!("send_header={e}"),
            format!("flush={e}"),
            format!("fd={e}"),
            format!("close-again={e}"),
            format!("abort={e}"),
        ]
    );
}

#[test]
fn close_after_sending_keeps_what_was_sent() {
    let (srv, _log) = one(|_, _, resp| {
        resp_send_str(resp, c"abc".as_ptr());
        resp_close(resp)
    });
    assert_eq!(
        raw(srv.port, b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    );
}

/// (local port, remote port) of the TCP socket with this inode, from
/// /proc/net/tcp{,6}.
fn tcp_ports_of_inode(inode: &str) -> Option<(u16, u16)> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).ok()?;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[9] == inode {
                let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
                return Some((port(f[1])?, port(f[2])?));
            }
        }
    }
    None
}

#[test]
fn client_fd_is_the_connection_socket() {
    let (srv, log) = one(|log, _, resp| {
        let fd = resp_client_fd(resp);
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ports = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .and_then(tcp_ports_of_inode);
        log.note(format!("fd>=0={}", fd >= 0));
        log.note(format!("socket={}", link.starts_with("socket:[")));
        log.note(format!("ports={ports:?}"));
        log.rc("close", resp_close(resp));
        log.rc("fd-after-close", resp_client_fd(resp));
        0
    });
    let mut cl = Client::new(srv.port);
    let local = cl.s.local_addr().unwrap().port();
    cl.send(b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(cl.closed_within(IO_TIMEOUT));
    assert_eq!(
        log.take(),
        [
            "fd>=0=true".to_string(),
            "socket=true".into(),
            format!("ports={:?}", Some((srv.port, local))),
            "close=0".into(),
            format!("fd-after-close={MR_ECLOSED}"),
        ]
    );
}

// ---- handler return values ------------------------------------------------------

#[test]
fn handler_return_values() {
    let srv = start(|srv| {
        on(srv, "GET", "/fail", |_, resp| {
            resp_set_header(resp, c"X-Lost".as_ptr(), c"1".as_ptr());
            resp_set_text(resp, c"lost".as_ptr());
            1
        });
        on(srv, "GET", "/negative", |_, _| -5);
        on(srv, "GET", "/fail-after-send", |_, resp| {
            resp_send_str(resp, c"partial".as_ptr());
            1
        });
        on(srv, "GET", "/nothing", |_, _| 0);
    });
    let mut cl = Client::new(srv.port);
    let page =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\r\n";
    for path in ["/fail", "/negative"] {
        let r = cl.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.head_without_date(), page, "{path}");
        assert_eq!(r.body, b"500 Internal Server Error\n");
    }
    // Failing after sending part of the response: the connection ends
    // without the final chunk, so the client sees the truncation.
    let mut c2 = Client::new(srv.port);
    c2.send(b"GET /fail-after-send HTTP/1.1\r\nHost: t\r\n\r\n");
    let raw = read_to_end(&mut c2.s);
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw:?}");
    assert!(
        raw.ends_with("7\r\npartial\r\n"),
        "no final chunk after a failure: {raw:?}"
    );
    let r = cl.roundtrip(b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.head_without_date(), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert!(r.body.is_empty());
}

// ---- the seed examples -------------------------------------------------------------

/// The ASGI seed: /resp-head, /text, /bytes, /json, /chain, redirects.
fn seed_server() -> Running {
    start(|srv| {
        on(srv, "GET", "/resp-head", |_, resp| {
            resp_set_header(resp, c"X-Foo".as_ptr(), c"bar".as_ptr());
            resp_set_status(resp, 418);
            resp_set_cookie(resp, c"its".as_ptr(), c"dict".as_ptr())
        });
        on(srv, "GET", "/text", |_, resp| resp_set_text(resp, c"hello!".as_ptr()));
        on(srv, "GET", "/bytes", |_, resp| {
            resp_set_content(resp, b"hello!".as_ptr().cast(), 6)
        });
        on(srv, "GET", "/json", |_, resp| {
            resp_set_json(resp, c"{\"hello\":\"world!\"}".as_ptr())
        });
        on(srv, "GET", "/chain", |_, resp| {
            let rcs = [
                resp_set_status(resp, 200),
                resp_set_cookie_ex(
                    resp,
                    c"key".as_ptr(),
                    c"value".as_ptr(),
                    -1,
                    null(),
                    null(),
                    MR_COOKIE_SECURE,
                ),
                resp_set_text(resp, c"long chain!".as_ptr()),
                resp_set_header(resp, c"X-somehead".as_ptr(), c"value".as_ptr()),
            ];
            rcs.iter().fold(0, |a, &b| a | b)
        });
        on(srv, "GET", "/redirect/external", |_, resp| {
            resp_redirect(resp, c"http://www.example.com".as_ptr(), 0)
        });
        on(srv, "GET", "/", |_, resp| {
            resp_set_html(resp, c"<h1>Index</h1>".as_ptr())
        });
        on(srv, "GET", "/redirect/internal", |_, resp| {
            resp_redirect(resp, c"/".as_ptr(), 0)
        });
    })
}

fn seed_get(port: u16, path: &str) -> Resp {
    roundtrip(port, format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

#[test]
fn seed_asgi_resp_head() {
    let srv = seed_server();
    let r = seed_get(srv.port, "/resp-head");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 418 I'm a teapot\r\nX-Foo: bar\r\nSet-Cookie: its=dict; Path=/; HttpOnly; SameSite=Lax\r\n\
         Content-Length: 0\r\n\r\n"
    );
    assert!(r.raw_head.contains("\r\nDate: "), "a Date header is sent");
}

#[test]
fn seed_asgi_bodies() {
    let srv = seed_server();
    let r = seed_get(srv.port, "/text");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\n"
    );
    assert_eq!(r.body, b"hello!");
    let r = seed_get(srv.port, "/bytes");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 6\r\n\r\n"
    );
    assert_eq!(r.body, b"hello!");
    let r = seed_get(srv.port, "/json");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n"
    );
    assert_eq!(r.body, b"{\"hello\":\"world!\"}");
}

#[test]
fn seed_asgi_method_chain() {
    let srv = seed_server();
    let r = seed_get(srv.port, "/chain");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nSet-Cookie: key=value; Path=/; Secure\r\nContent-Type: text/plain; charset=utf-8\r\n\
         X-somehead: value\r\nContent-Length: 11\r\n\r\n"
    );
    assert_eq!(r.body, b"long chain!");
}

#[test]
fn seed_asgi_redirects() {
    let srv = seed_server();
    let r = seed_get(srv.port, "/redirect/external");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: http://www.example.com\r\nContent-Length: 0\r\n\r\n"
    );
    let r = seed_get(srv.port, "/redirect/internal");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"
    );
    // Following it lands on the index.
    let r = seed_get(srv.port, r.header("Location").unwrap());
    assert_eq!(r.body, b"<h1>Index</h1>");
}

#[test]
fn seed_micro_route_methods() {
    let srv = start(|srv| {
        // statu_Code + send_header(statu_explane=None, content="hello")
        on(srv, "GET", "/send_header", |_, resp| {
            resp_set_status(resp, 200);
            resp_send_header(resp, null(), b"hello".as_ptr().cast(), 5)
        });
        // mime_Type + send() twice (streaming)
        on(srv, "GET", "/send", |_, resp| {
            resp_set_mime_type(resp, c"text/plain".as_ptr());
            resp_send_str(resp, c"count: 0".as_ptr());
            resp_send(resp, b"Completed!".as_ptr().cast(), 10)
        });
        // redirect(location) with the default 302
        on(srv, "GET", "/redirect", |_, resp| {
            resp_redirect(resp, c"/index.html".as_ptr(), 0)
        });
        // redirect(location, "301")
        on(srv, "GET", "/moved", |_, resp| {
            resp_redirect(resp, c"/new".as_ptr(), 301)
        });
        // close()
        on(srv, "GET", "/close", |_, resp| resp_close(resp));
        // abort() with the defaults, and abort(403, content, statu_explane)
        on(srv, "GET", "/abort", |_, resp| resp_abort(resp, 0, null(), null()));
        on(srv, "GET", "/abort403", |_, resp| {
            resp_abort(resp, 403, c"<h1>Forbidden zone</h1>".as_ptr(), c"Go Away".as_ptr())
        });
    });
    let p = srv.port;
    let close = |path: &str| {
        raw(
            p,
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(
        close("/send_header"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    assert_eq!(
        close("/send"),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         8\r\ncount: 0\r\na\r\nCompleted!\r\n0\r\n\r\n"
    );
    assert_eq!(
        close("/redirect"),
        "HTTP/1.1 302 Found\r\nLocation: /index.html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        close("/moved"),
        "HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(p, b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n"), "");
    assert_eq!(
        raw(p, b"GET /abort HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\
         Connection: close\r\n\r\n500 Internal Server Error\n"
    );
    assert_eq!(
        raw(p, b"GET /abort403 HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 403 Go Away\r\nContent-Type: text/html\r\nContent-Length: 23\r\nConnection: close\r\n\r\n<h1>Forbidden zone</h1>"
    );
}

// ---- library functions -----------------------------------------------------------

#[test]
fn strerror_for_every_code() {
    let cases = [
        (MR_OK, "success"),
        (MR_EINVAL, "invalid argument"),
        (MR_ESTATE, "not valid in the current state"),
        (MR_ETIMEDOUT, "timed out"),
        (MR_ECLOSED, "connection closed"),
        (MR_EIO, "I/O error"),
        (MR_ENOTFOUND, "not found"),
        (MR_EFORBIDDEN, "forbidden"),
        (MR_ETOOLARGE, "limit exceeded"),
        (MR_EADDR, "cannot listen on the address"),
        (MR_EUNSUPPORTED, "not supported in this build"),
        (MR_EINTERNAL, "internal error"),
    ];
    let codes: Vec<c_int> = cases.iter().map(|c| c.0).collect();
    assert_eq!(
        codes,
        [0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11],
        "stable values"
    );
    for (code, text) in cases {
        assert_eq!(from_c(mr_strerror(code)).as_deref(), Some(text), "code {code}");
    }
    for unknown in [1, -12, 42, -1000, c_int::MAX, c_int::MIN] {
        assert_eq!(
            from_c(mr_strerror(unknown)).as_deref(),
            Some("unknown error code"),
            "{unknown}"
        );
    }
    // Static: the same pointer every time.
    assert_eq!(mr_strerror(MR_EINVAL), mr_strerror(MR_EINVAL));
}

#[test]
fn last_error_is_thread_local() {
    // A fresh thread has no error yet.
    let fresh = std::thread::spawn(|| from_c(mr_last_error())).join().unwrap();
    assert_eq!(fresh.as_deref(), Some(""));

    let srv = server_new();
    assert_eq!(server_listen(srv, c"not an address".as_ptr()), MR_EINVAL);
    let mine = last_error();
    assert!(mine.contains("not an address"), "{mine}");

    // Another thread fails differently; this thread's text is unchanged,
    // and that thread did not see ours.
    let other = std::thread::spawn(|| {
        let before = from_c(mr_last_error()).unwrap();
        let rc = resp_set_status(null_mut(), 200);
        (before, rc, from_c(mr_last_error()).unwrap())
    })
    .join()
    .unwrap();
    assert_eq!(other.0, "");
    assert_eq!(other.1, MR_EINVAL);
    assert!(other.2.contains("resp"), "{}", other.2);
    assert_eq!(last_error(), mine);

    // Successful calls do not clear it.
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    let _ = mr_version();
    assert_eq!(last_error(), mine);

    // A later failure replaces it.
    assert_eq!(server_start(null_mut()), MR_EINVAL);
    assert_ne!(last_error(), mine);
    server_free(srv);
}

#[test]
fn last_error_inside_a_handler() {
    let (srv, log) = one(|log, _, resp| {
        resp_set_status(resp, 42);
        log.note(format!("status: {}", last_error()));
        resp_set_header(resp, c"X".as_ptr(), c"a\r\nb".as_ptr());
        log.note(format!("header: {}", last_error()));
        resp_redirect(resp, c"javascript:x".as_ptr(), 302);
        log.note(format!("redirect: {}", last_error()));
        0
    });
    get_t(srv.port);
    let got = log.take();
    assert_eq!(got.len(), 3);
    assert!(got[0].contains("status code"), "{got:?}");
    assert!(got[1].contains("header value"), "{got:?}");
    assert!(got[2].contains("scheme"), "{got:?}");
}

#[test]
fn version_matches_the_crate() {
    assert_eq!(from_c(mr_version()).as_deref(), Some("0.1.0"));
    assert_eq!(from_c(mr_version()).as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        MR_VERSION_MAJOR,
        env!("CARGO_PKG_VERSION_MAJOR").parse::<c_int>().unwrap()
    );
    assert_eq!(
        MR_VERSION_MINOR,
        env!("CARGO_PKG_VERSION_MINOR").parse::<c_int>().unwrap()
    );
    assert_eq!(
        MR_VERSION_PATCH,
        env!("CARGO_PKG_VERSION_PATCH").parse::<c_int>().unwrap()
    );
    // The generated header agrees.
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/microroute.h")).unwrap();
    for (name, v) in [
        ("MR_VERSION_MAJOR", MR_VERSION_MAJOR),
        ("MR_VERSION_MINOR", MR_VERSION_MINOR),
        ("MR_VERSION_PATCH", MR_VERSION_PATCH),
    ] {
        assert!(
            header.contains(&format!("#define {name} {v}\n")),
            "{name} in the header"
        );
    }
}

// ---- NULL handles ------------------------------------------------------------------

#[test]
fn null_handles_everywhere() {
    let e = MR_EINVAL;
    let (req, resp, srv): (*mut mr_req, *mut mr_resp, *mut mr_server) = (null_mut(), null_mut(), null_mut());
    let n: *const c_char = null();
    let a = c"a".as_ptr();

    // req_*
    assert!(req_method(req).is_null());
    assert!(req_path(req).is_null());
    assert!(req_query(req).is_null());
    assert!(req_query_param(req, a).is_null());
    assert!(req_query_param(req, n).is_null());
    assert!(req_param(req, a).is_null());
    assert!(req_header(req, a).is_null());
    assert_eq!(req_header_count(req), 0);
    let (mut hn, mut hv) = (a, a);
    assert_eq!(req_header_at(req, 0, &mut hn, &mut hv), e);
    assert_eq!((hn, hv), (a, a), "outputs untouched");
    assert_eq!(req_header_at(req, 0, null_mut(), null_mut()), e);
    assert!(req_cookie(req, a).is_null());
    let mut len = 7usize;
    assert!(req_body(req, &mut len).is_null());
    assert_eq!(len, 7);
    assert!(req_body(req, null_mut()).is_null());
    assert!(req_form_value(req, a).is_null());
    assert!(req_remote_addr(req).is_null());
    assert!(req_host(req).is_null());
    assert_eq!(req_http_version(req), e);
    assert!(last_error().contains("req"), "{}", last_error());

    // resp_*
    assert_eq!(resp_set_status(resp, 200), e);
    assert_eq!(resp_status(resp), e);
    assert_eq!(resp_set_header(resp, a, a), e);
    assert_eq!(resp_set_header(resp, n, n), e);
    assert_eq!(resp_add_header(resp, a, a), e);
    assert_eq!(resp_remove_header(resp, a), e);
    assert!(resp_header(resp, a).is_null());
    assert_eq!(resp_set_mime_type(resp, a), e);
    assert_eq!(resp_set_cookie(resp, a, a), e);
    assert_eq!(resp_set_cookie_ex(resp, a, a, -1, n, n, 0), e);
    assert_eq!(resp_delete_cookie(resp, a), e);
    assert_eq!(resp_set_text(resp, a), e);
    assert_eq!(resp_set_html(resp, a), e);
    assert_eq!(resp_set_content(resp, a.cast(), 1), e);
    assert_eq!(resp_set_content(resp, null(), 0), e);
    assert_eq!(resp_set_json(resp, c"{}".as_ptr()), e);
    assert_eq!(resp_send_header(resp, n, null(), 0), e);
    assert_eq!(resp_send(resp, a.cast(), 1), e);
    assert_eq!(resp_send_str(resp, a), e);
    assert_eq!(resp_flush(resp), e);
    assert_eq!(resp_redirect(resp, c"/x".as_ptr(), 302), e);
    assert_eq!(resp_abort(resp, 500, n, n), e);
    assert_eq!(resp_close(resp), e);
    assert_eq!(resp_client_fd(resp), e);
    assert!(last_error().contains("resp"), "{}", last_error());

    // server_*
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), e);
    assert_eq!(
        server_route(srv, c"GET".as_ptr(), c"/".as_ptr(), Some(trampoline), null_mut()),
        e
    );
    assert_eq!(server_set_fallback(srv, Some(trampoline), null_mut()), e);
    assert_eq!(server_set_fallback(srv, None, null_mut()), e);
    assert_eq!(server_set_workers(srv, 1), e);
    assert_eq!(server_set_max_connections(srv, 1), e);
    assert_eq!(server_set_limits(srv, 4096, 4096), e);
    assert_eq!(server_set_max_headers(srv, 10), e);
    assert_eq!(server_set_timeouts(srv, 1, 1, 1), e);
    assert_eq!(server_set_body_timeout(srv, 1), e);
    assert_eq!(server_set_log(srv, Some(log_collect), null_mut()), e);
    assert_eq!(server_set_log(srv, None, null_mut()), e);
    assert_eq!(server_start(srv), e);
    assert_eq!(server_port(srv, 0), e);
    assert_eq!(server_run(srv), e);
    assert_eq!(server_stop(srv, 0), e);
    assert!(last_error().contains("server"), "{}", last_error());
    server_free(srv); // a no-op

    // NULL required arguments with a valid server.
    let s = server_new();
    assert!(!s.is_null());
    assert_eq!(server_listen(s, n), e);
    assert_eq!(server_route(s, c"GET".as_ptr(), n, Some(trampoline), null_mut()), e);
    assert_eq!(server_route(s, c"GET".as_ptr(), c"/".as_ptr(), None, null_mut()), e);
    server_free(s);
}

#[test]
fn user_date_header_replaces_the_library_one() {
    let (srv, _log) =
        one(|_, _, resp| resp_set_header(resp, c"Date".as_ptr(), c"Thu, 01 Jan 1970 00:00:00 GMT".as_ptr()));
    let r = get_t(srv.port);
    assert_eq!(r.headers_named("Date"), ["Thu, 01 Jan 1970 00:00:00 GMT"]);
}

#[test]
fn head_with_a_declared_length_and_no_body() {
    let (srv, _log) = one(|_, _, resp| {
        resp_set_mime_type(resp, c"application/zip".as_ptr());
        resp_set_header(resp, c"Content-Length".as_ptr(), c"1234".as_ptr())
    });
    let mut cl = Client::new(srv.port);
    let r = cl.roundtrip(b"HEAD /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: 1234\r\n\r\n"
    );
    let r = cl.roundtrip(b"HEAD /t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200, "nothing stray after a HEAD answer");
}

#[test]
fn send_to_a_client_that_does_not_read_times_out() {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| {
        assert_eq!(server_set_timeouts(srv, 10_000, 5_000, 300), MR_OK);
        let l = l2.clone();
        on(srv, "GET", "/flood", move |_, resp| {
            let _busy = l.busy();
            let piece = vec![b'x'; 64 * 1024];
            let started = Instant::now();
            // At most 256 MiB: far more than any socket buffer.
            for _ in 0..4096 {
                let rc = resp_send(resp, piece.as_ptr().cast(), piece.len());
                if rc != MR_OK {
                    l.rc("send", rc);
                    l.note(format!("fd-after={}", resp_client_fd(resp)));
                    l.note(format!("quick={}", started.elapsed() < Duration::from_secs(30)));
                    return 0;
                }
            }
            l.note("never blocked");
            0
        });
    });
    let mut s = connect(srv.port);
    send(&mut s, b"GET /flood HTTP/1.1\r\nHost: t\r\n\r\n");
    // Do not read; wait for the handler to give up.
    let got = log.take_when(3, Duration::from_secs(40));
    assert_eq!(
        got,
        [
            format!("send={MR_ETIMEDOUT}"),
            format!("fd-after={MR_ECLOSED}"),
            "quick=true".into()
        ]
    );
    drop(s);
}

#[test]
fn send_to_a_client_that_went_away_fails_with_eclosed() {
    let (gone_tx, gone_rx) = mpsc::channel::<()>();
    let gone_rx = Mutex::new(gone_rx);
    let (srv, log) = one(move |log, _, resp| {
        let gone = gone_rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).is_ok();
        log.note(format!("gone={gone}"));
        let piece = vec![b'x'; 64 * 1024];
        for _ in 0..2000 {
            let rc = resp_send(resp, piece.as_ptr().cast(), piece.len());
            if rc != MR_OK {
                log.rc("send", rc);
                log.rc("send-again", resp_send(resp, piece.as_ptr().cast(), 1));
                return 0;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        log.note("never failed");
        0
    });
    let mut s = connect(srv.port);
    send(&mut s, b"GET /t HTTP/1.1\r\nHost: t\r\n\r\n");
    // Give the handler time to start, then go away.
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    gone_tx.send(()).unwrap();
    assert_eq!(
        log.take(),
        [
            "gone=true".to_string(),
            format!("send={MR_ECLOSED}"),
            format!("send-again={MR_ECLOSED}")
        ]
    );
}

#[test]
fn http10_keep_alive_is_announced_and_kept() {
    let (srv, _log) = one(|_, _, resp| resp_set_text(resp, c"ten".as_ptr()));
    let mut cl = Client::new(srv.port);
    for _ in 0..2 {
        let r = cl.roundtrip(b"GET /t HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            r.head_without_date(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\
             Connection: keep-alive\r\n\r\n"
        );
        assert_eq!(r.body, b"ten");
    }
    // Without keep-alive, HTTP/1.0 closes after the answer.
    let r = cl.roundtrip(b"GET /t HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(cl.closed_within(IO_TIMEOUT));
}

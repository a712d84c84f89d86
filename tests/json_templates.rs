//! The JSON builder (`resp_json_set_*`, seed: `resp.json.hello = "world!"`),
//! Jinja2 templates (`resp_load_template`, seed: `load_template(...)` with
//! `Api(templates_dir=...)`), named routes (`server_route_named`,
//! `resp_redirect_route*`, seed: `resp.redirect(view=Index)`) and lookups
//! into a request's JSON body (`req_json_*`), over real sockets with exact
//! bytes.
//!
//! Handlers record the return codes of their calls in a shared log; the
//! test compares that log and the response bytes after the exchange.
//! Template tests each work in a fresh temporary folder, removed at the end.
mod common;
use common::*;

use std::ffi::{c_char, c_int, CString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ---- helpers local to this file ------------------------------------------

/// The class of the last error on this thread, from its prefix.
fn err_class() -> &'static str {
    let e = last_error();
    if e.starts_with("not found:") {
        "NOTFOUND"
    } else if e.starts_with("invalid argument:") {
        "INVAL"
    } else if e.starts_with("limit exceeded:") {
        "TOOLARGE"
    } else if e.starts_with("not valid now:") {
        "STATE"
    } else {
        "OTHER"
    }
}

/// A server whose routes `setup` registers, with a shared log.
fn serve(setup: impl FnOnce(*mut mr_server, &Log)) -> (Running, Log) {
    let log = Log::default();
    let l2 = log.clone();
    let srv = start(move |srv| setup(srv, &l2));
    (srv, log)
}

/// Registers `f` (with the log and busy marker) for `method pattern`.
fn on_logged(
    srv: *mut mr_server,
    log: &Log,
    method: &str,
    pattern: &str,
    f: impl Fn(&Log, *mut mr_req, *mut mr_resp) -> c_int + Send + Sync + 'static,
) {
    let l = log.clone();
    on(srv, method, pattern, move |req, resp| {
        let _busy = l.busy();
        f(&l, req, resp)
    });
}

fn get(port: u16, path: &str) -> Resp {
    roundtrip(port, format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

fn post(port: u16, path: &str, body: &[u8]) -> Resp {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    roundtrip(port, &req)
}

fn json_head(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
}

fn html_head(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len}\r\n\r\n")
}

fn text_head(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n\r\n")
}

/// Asserts an exact JSON response: head and body.
fn assert_json(r: &Resp, body: &str) {
    assert_eq!(r.head_without_date(), json_head(body.len()), "{r:?}");
    assert_eq!(r.text(), body);
}

fn set_str(resp: *mut mr_resp, path: &str, v: &str) -> c_int {
    resp_json_set_str(resp, cs(path).as_ptr(), cs(v).as_ptr())
}
fn set_int(resp: *mut mr_resp, path: &str, v: i64) -> c_int {
    resp_json_set_int(resp, cs(path).as_ptr(), v)
}
fn set_dbl(resp: *mut mr_resp, path: &str, v: f64) -> c_int {
    resp_json_set_double(resp, cs(path).as_ptr(), v)
}
fn set_bool(resp: *mut mr_resp, path: &str, v: c_int) -> c_int {
    resp_json_set_bool(resp, cs(path).as_ptr(), v)
}
fn set_null(resp: *mut mr_resp, path: &str) -> c_int {
    resp_json_set_null(resp, cs(path).as_ptr())
}
fn set_raw(resp: *mut mr_resp, path: &str, json: &str) -> c_int {
    resp_json_set_raw(resp, cs(path).as_ptr(), cs(json).as_ptr())
}
fn resp_ct(resp: *mut mr_resp) -> String {
    from_c(resp_header(resp, c"Content-Type".as_ptr())).unwrap_or_else(|| "NULL".into())
}

/// A deferred handle moved to another thread.
struct Handle(*mut mr_resp);
// SAFETY: the deferred handle is used from one thread at a time.
unsafe impl Send for Handle {}
impl Handle {
    fn get(self) -> *mut mr_resp {
        self.0
    }
}

const EINVAL: c_int = MR_EINVAL;
const ESTATE: c_int = MR_ESTATE;
const ENOTFOUND: c_int = MR_ENOTFOUND;

// ===========================================================================
// 1. JSON builder
// ===========================================================================

#[test]
fn seed_json_hello_world() {
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/json", |log, _, resp| {
            log.rc("hello", set_str(resp, "hello", "world!"));
            log.note(format!("ct={}", resp_ct(resp)));
            MR_OK
        });
    });
    let r = get(srv.port, "/json");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n"
    );
    assert_eq!(r.body, br#"{"hello":"world!"}"#);
    assert_eq!(log.take(), ["hello=0", "ct=application/json"]);

    // HEAD: the same head (with the real Content-Length), no body; the next
    // request on the connection proves no body bytes were sent.
    let mut c = Client::new(srv.port);
    let h = c.roundtrip(b"HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(h.head_without_date(), json_head(18));
    assert!(h.body.is_empty());
    let g = c.roundtrip(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_json(&g, r#"{"hello":"world!"}"#);
    assert_eq!(
        log.take(),
        ["hello=0", "ct=application/json", "hello=0", "ct=application/json"]
    );
}

#[test]
fn json_nested_paths_all_types_and_key_order() {
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/all", |log, _, resp| {
            let codes = [
                set_str(resp, "z", "first"),
                set_str(resp, "a.b.c", "deep"),
                set_int(resp, "a.b.n", -7),
                set_int(resp, "min", i64::MIN),
                set_int(resp, "max", i64::MAX),
                set_dbl(resp, "d.half", 1.5),
                set_dbl(resp, "d.two", 2.0),
                set_dbl(resp, "d.neg", -0.25),
                set_dbl(resp, "d.big", 1e300),
                set_dbl(resp, "d.tenth", 0.1),
                set_bool(resp, "t", 1),
                set_bool(resp, "f", 0),
                set_bool(resp, "seven", 7),
                set_null(resp, "nil"),
                set_raw(resp, "arr", "[1, {\"x\": [true, null]}, \"s\"]"),
                set_raw(resp, "obj", " {\"k\" : 1.50 } "),
                set_raw(resp, "ord", "{\"b\":1,\"a\":2}"),
                set_raw(resp, "rs", "\"raw string\""),
                set_raw(resp, "num", "-12"),
                // Replacing keeps the key where it was first set.
                set_str(resp, "z", "replaced"),
                set_str(resp, "a.b.c", "deep2"),
                set_int(resp, "a.b.n", 8),
                // Into an object that came from raw JSON.
                set_raw(resp, "a.b.o", "{}"),
                set_str(resp, "a.b.o.x", "in raw"),
                set_str(resp, "ord.c", "3"),
            ];
            log.note(format!("{codes:?}"));
            MR_OK
        });
        on_logged(srv, log, "GET", "/flatten", |log, _, resp| {
            log.rc("a.b", set_int(resp, "a.b", 1));
            log.rc("k", set_int(resp, "k", 2));
            // An object replaced by a value at the leaf: allowed.
            log.rc("a", set_str(resp, "a", "flat"));
            // Below the now-flat value: refused.
            log.rc("a.x", set_int(resp, "a.x", 3));
            MR_OK
        });
    });
    let r = get(srv.port, "/all");
    assert_json(
        &r,
        r#"{"z":"replaced","a":{"b":{"c":"deep2","n":8,"o":{"x":"in raw"}}},"min":-9223372036854775808,"max":9223372036854775807,"d":{"half":1.5,"two":2.0,"neg":-0.25,"big":1e+300,"tenth":0.1},"t":true,"f":false,"seven":true,"nil":null,"arr":[1,{"x":[true,null]},"s"],"obj":{"k":1.5},"ord":{"b":1,"a":2,"c":"3"},"rs":"raw string","num":-12}"#,
    );
    assert_eq!(log.take(), [format!("{:?}", [0; 25])]);
    let r = get(srv.port, "/flatten");
    assert_json(&r, r#"{"a":"flat","k":2}"#);
    assert_eq!(log.take(), ["a.b=0", "k=0", "a=0", format!("a.x={EINVAL}").as_str()]);
}

#[test]
fn json_escaping_of_strings_and_keys() {
    let value = "q\"b\\n\nr\rt\tc\u{1}\u{8}\u{c}\u{1f}\u{7f}é€😀</x>";
    let (srv, log) = serve(move |srv, log| {
        on_logged(srv, log, "GET", "/esc", move |log, _, resp| {
            log.rc("s", set_str(resp, "s", value));
            log.rc("key", set_str(resp, "k\"e\\y é", "v"));
            log.rc("emoji", set_str(resp, "😀", "ü"));
            MR_OK
        });
        on_logged(srv, log, "GET", "/nonutf8", |log, _, resp| {
            log.rc("ok", set_int(resp, "ok", 1));
            let bad = CString::new(vec![b'a', 0xff, b'b']).unwrap();
            log.rc("value", resp_json_set_str(resp, c"v".as_ptr(), bad.as_ptr()));
            log.rc("path", resp_json_set_int(resp, bad.as_ptr(), 1));
            log.rc("raw", resp_json_set_raw(resp, c"r".as_ptr(), bad.as_ptr()));
            MR_OK
        });
    });
    let r = get(srv.port, "/esc");
    let expected = concat!(
        r#"{"s":"q\"b\\n\nr\rt\tc\u0001\b\f\u001f"#,
        "\u{7f}é€😀</x>\",",
        r#""k\"e\\y é":"v","😀":"ü"}"#
    );
    assert_json(&r, expected);
    assert_eq!(log.take(), ["s=0", "key=0", "emoji=0"]);
    let r = get(srv.port, "/nonutf8");
    assert_json(&r, r#"{"ok":1}"#);
    assert_eq!(
        log.take(),
        [
            "ok=0".to_string(),
            format!("value={EINVAL}"),
            format!("path={EINVAL}"),
            format!("raw={EINVAL}")
        ]
    );
}

#[test]
fn json_refusals_change_nothing() {
    let (srv, log) = serve(|srv, log| {
        // Invalid raw JSON.
        on_logged(srv, log, "GET", "/raw", |log, _, resp| {
            log.rc("ok", set_int(resp, "ok", 1));
            for bad in [
                "{",
                "[1,]",
                "",
                "1 2",
                "{'a':1}",
                "NaN",
                "tru",
                "\"unterminated",
                "{\"a\":1}}",
            ] {
                let rc = set_raw(resp, "bad", bad);
                log.note(format!("{bad:?}={rc} {}", last_error().contains("JSON")));
            }
            MR_OK
        });
        // Below values that are not objects.
        on_logged(srv, log, "GET", "/below", |log, _, resp| {
            log.rc("n", set_int(resp, "n", 5));
            log.rc("arr", set_raw(resp, "arr", "[1]"));
            log.rc("str", set_str(resp, "str", "v"));
            log.rc("nil", set_null(resp, "nil"));
            log.rc("deep", set_bool(resp, "o.p.q", 1));
            log.rc("n.sub", set_str(resp, "n.sub", "x"));
            log.rc("n.sub.deeper", set_int(resp, "n.sub.deeper", 1));
            log.rc("arr.0", set_str(resp, "arr.0", "x"));
            log.rc("str.x", set_null(resp, "str.x"));
            log.rc("nil.x", set_raw(resp, "nil.x", "{}"));
            log.rc("o.p.q.r", set_dbl(resp, "o.p.q.r", 1.0));
            log.note(format!("mentions-path={}", last_error().contains("o.p.q.r")));
            MR_OK
        });
        // NaN and infinities.
        on_logged(srv, log, "GET", "/nan", |log, _, resp| {
            log.rc("ok", set_bool(resp, "ok", 1));
            log.rc("nan", set_dbl(resp, "x", f64::NAN));
            log.rc("inf", set_dbl(resp, "x", f64::INFINITY));
            log.rc("-inf", set_dbl(resp, "x", f64::NEG_INFINITY));
            log.rc("nested-nan", set_dbl(resp, "y.z", f64::NAN));
            MR_OK
        });
        // Raw JSON nested far too deep: refused, no crash.
        on_logged(srv, log, "GET", "/deep", |log, _, resp| {
            log.rc("ok", set_int(resp, "ok", 1));
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            log.rc("deep", set_raw(resp, "deep", &deep));
            MR_OK
        });
        // Bad paths and NULL arguments.
        on_logged(srv, log, "GET", "/paths", |log, _, resp| {
            log.rc("ok", set_str(resp, "ok", "yes"));
            for bad in ["", "a..b", ".a", "a.", ".", "ok..x"] {
                log.rc(&format!("{bad:?}"), set_str(resp, bad, "x"));
                log.rc(&format!("int {bad:?}"), set_int(resp, bad, 1));
            }
            log.rc("null path str", resp_json_set_str(resp, null(), c"x".as_ptr()));
            log.rc("null value str", resp_json_set_str(resp, c"v".as_ptr(), null()));
            log.rc("null path int", resp_json_set_int(resp, null(), 1));
            log.rc("null path dbl", resp_json_set_double(resp, null(), 1.0));
            log.rc("null path bool", resp_json_set_bool(resp, null(), 1));
            log.rc("null path null", resp_json_set_null(resp, null()));
            log.rc("null path raw", resp_json_set_raw(resp, null(), c"1".as_ptr()));
            log.rc("null json raw", resp_json_set_raw(resp, c"r".as_ptr(), null()));
            log.rc(
                "null resp str",
                resp_json_set_str(null_mut(), c"a".as_ptr(), c"x".as_ptr()),
            );
            log.rc("null resp int", resp_json_set_int(null_mut(), c"a".as_ptr(), 1));
            log.rc("null resp dbl", resp_json_set_double(null_mut(), c"a".as_ptr(), 1.0));
            log.rc("null resp bool", resp_json_set_bool(null_mut(), c"a".as_ptr(), 1));
            log.rc("null resp null", resp_json_set_null(null_mut(), c"a".as_ptr()));
            log.rc(
                "null resp raw",
                resp_json_set_raw(null_mut(), c"a".as_ptr(), c"1".as_ptr()),
            );
            MR_OK
        });
        // A failing FIRST builder call leaves the earlier body alone.
        on_logged(srv, log, "GET", "/first-fails", |log, _, resp| {
            log.rc("text", resp_set_text(resp, c"keep me".as_ptr()));
            log.rc("path", set_str(resp, "a..b", "x"));
            log.rc("nan", set_dbl(resp, "x", f64::NAN));
            log.rc("raw", set_raw(resp, "x", "{"));
            log.rc("null", resp_json_set_str(resp, c"x".as_ptr(), null()));
            log.note(format!("ct={}", resp_ct(resp)));
            MR_OK
        });
    });

    assert_json(&get(srv.port, "/raw"), r#"{"ok":1}"#);
    let mut want = vec!["ok=0".to_string()];
    for bad in [
        "{",
        "[1,]",
        "",
        "1 2",
        "{'a':1}",
        "NaN",
        "tru",
        "\"unterminated",
        "{\"a\":1}}",
    ] {
        want.push(format!("{bad:?}={EINVAL} true"));
    }
    assert_eq!(log.take(), want);

    assert_json(
        &get(srv.port, "/below"),
        r#"{"n":5,"arr":[1],"str":"v","nil":null,"o":{"p":{"q":true}}}"#,
    );
    let mut want: Vec<String> = ["n=0", "arr=0", "str=0", "nil=0", "deep=0"].map(String::from).to_vec();
    for l in ["n.sub", "n.sub.deeper", "arr.0", "str.x", "nil.x", "o.p.q.r"] {
        want.push(format!("{l}={EINVAL}"));
    }
    want.push("mentions-path=true".into());
    assert_eq!(log.take(), want);

    assert_json(&get(srv.port, "/nan"), r#"{"ok":true}"#);
    assert_eq!(
        log.take(),
        [
            "ok=0".to_string(),
            format!("nan={EINVAL}"),
            format!("inf={EINVAL}"),
            format!("-inf={EINVAL}"),
            format!("nested-nan={EINVAL}"),
        ]
    );

    assert_json(&get(srv.port, "/deep"), r#"{"ok":1}"#);
    assert_eq!(log.take(), ["ok=0".to_string(), format!("deep={EINVAL}")]);

    assert_json(&get(srv.port, "/paths"), r#"{"ok":"yes"}"#);
    let got = log.take();
    assert_eq!(got[0], "ok=0");
    assert_eq!(got.len(), 1 + 12 + 14, "{got:?}");
    for l in &got[1..] {
        assert!(l.ends_with(&format!("={EINVAL}")), "{l} in {got:?}");
    }

    let r = get(srv.port, "/first-fails");
    assert_eq!(r.head_without_date(), text_head(7));
    assert_eq!(r.body, b"keep me");
    assert_eq!(
        log.take(),
        [
            "text=0".to_string(),
            format!("path={EINVAL}"),
            format!("nan={EINVAL}"),
            format!("raw={EINVAL}"),
            format!("null={EINVAL}"),
            "ct=text/plain; charset=utf-8".into(),
        ]
    );
}

#[test]
fn json_builder_and_other_body_setters_in_call_order() {
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/m1", |log, _, resp| {
            log.rc("set", set_int(resp, "a", 1));
            log.rc("set_json", resp_set_json(resp, c"{\"x\": [1, 2]}".as_ptr()));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m2", |log, _, resp| {
            log.rc("set_json", resp_set_json(resp, c"{\"old\":true}".as_ptr()));
            log.rc("set", set_int(resp, "k", 1));
            log.note(format!("ct={}", resp_ct(resp)));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m3", |log, _, resp| {
            log.rc("set", set_int(resp, "a", 1));
            log.rc("text", resp_set_text(resp, c"text wins".as_ptr()));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m4", |log, _, resp| {
            log.rc("text", resp_set_text(resp, c"gone".as_ptr()));
            log.rc("set", set_int(resp, "a", 1));
            log.note(format!("ct={}", resp_ct(resp)));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m5", |log, _, resp| {
            log.rc("set a", set_int(resp, "a", 1));
            log.rc("text", resp_set_text(resp, c"x".as_ptr()));
            log.rc("set b", set_int(resp, "b", 2));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m6", |log, _, resp| {
            log.rc("set a", set_int(resp, "a", 1));
            log.rc("mime", resp_set_mime_type(resp, c"application/problem+json".as_ptr()));
            log.rc("set b", set_int(resp, "b", 2));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m7", |log, _, resp| {
            log.rc("set", set_int(resp, "a", 1));
            log.rc("redirect", resp_redirect(resp, c"/elsewhere".as_ptr(), 0));
            log.rc("set after redirect", set_int(resp, "b", 2));
            log.rc("raw after redirect", set_raw(resp, "b", "[]"));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m8", |log, _, resp| {
            log.rc("set", set_int(resp, "a", 1));
            log.rc("bad set_json", resp_set_json(resp, c"not json".as_ptr()));
            log.rc("set", set_int(resp, "b", 2));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m9", |log, _, resp| {
            log.rc("set", set_int(resp, "a", 1));
            log.rc("html", resp_set_html(resp, c"<p>h</p>".as_ptr()));
            log.rc("content", resp_set_content(resp, b"\x00\x01".as_ptr().cast(), 2));
            MR_OK
        });
        on_logged(srv, log, "GET", "/m10", |log, _, resp| {
            log.rc("status", resp_set_status(resp, 201));
            log.rc("header", resp_set_header(resp, c"X-A".as_ptr(), c"1".as_ptr()));
            log.rc("set", set_str(resp, "created", "yes"));
            log.rc("cookie", resp_set_cookie(resp, c"k".as_ptr(), c"v".as_ptr()));
            MR_OK
        });
    });

    let r = get(srv.port, "/m1");
    assert_json(&r, "{\"x\": [1, 2]}");
    assert_eq!(log.take(), ["set=0", "set_json=0"]);

    let r = get(srv.port, "/m2");
    assert_json(&r, r#"{"k":1}"#);
    assert_eq!(log.take(), ["set_json=0", "set=0", "ct=application/json"]);

    let r = get(srv.port, "/m3");
    assert_eq!(r.head_without_date(), text_head(9));
    assert_eq!(r.body, b"text wins");
    assert_eq!(log.take(), ["set=0", "text=0"]);

    let r = get(srv.port, "/m4");
    assert_json(&r, r#"{"a":1}"#);
    assert_eq!(r.headers_named("Content-Type"), ["application/json"]);
    assert_eq!(log.take(), ["text=0", "set=0", "ct=application/json"]);

    let r = get(srv.port, "/m5");
    assert_json(&r, r#"{"b":2}"#);
    assert_eq!(log.take(), ["set a=0", "text=0", "set b=0"]);

    let r = get(srv.port, "/m6");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/problem+json\r\nContent-Length: 13\r\n\r\n"
    );
    assert_eq!(r.body, br#"{"a":1,"b":2}"#);
    assert_eq!(log.take(), ["set a=0", "mime=0", "set b=0"]);

    let r = get(srv.port, "/m7");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(r.body.is_empty());
    assert_eq!(
        log.take(),
        [
            "set=0".to_string(),
            "redirect=0".into(),
            format!("set after redirect={ESTATE}"),
            format!("raw after redirect={ESTATE}"),
        ]
    );

    let r = get(srv.port, "/m8");
    assert_json(&r, r#"{"a":1,"b":2}"#);
    assert_eq!(
        log.take(),
        ["set=0".to_string(), format!("bad set_json={EINVAL}"), "set=0".into()]
    );

    let r = get(srv.port, "/m9");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\n"
    );
    assert_eq!(r.body, b"\x00\x01");
    assert_eq!(log.take(), ["set=0", "html=0", "content=0"]);

    let r = get(srv.port, "/m10");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("X-A"), Some("1"));
    assert_eq!(r.header("Set-Cookie"), Some("k=v; Path=/; HttpOnly; SameSite=Lax"));
    assert_eq!(r.header("Content-Length"), Some("17"));
    assert_eq!(r.body, br#"{"created":"yes"}"#);
    assert_eq!(log.take(), ["status=0", "header=0", "set=0", "cookie=0"]);
}

#[test]
fn json_set_after_the_head_was_sent_is_refused() {
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/sent", |log, _, resp| {
            log.rc("send_header", resp_send_header(resp, null(), b"x".as_ptr().cast(), 1));
            log.rc("str", set_str(resp, "a", "b"));
            log.rc("int", set_int(resp, "a", 1));
            log.rc("dbl", set_dbl(resp, "a", 1.0));
            log.rc("bool", set_bool(resp, "a", 1));
            log.rc("null", set_null(resp, "a"));
            log.rc("raw", set_raw(resp, "a", "{}"));
            log.rc("send", resp_send(resp, b"y".as_ptr().cast(), 1));
            MR_OK
        });
    });
    let r = get(srv.port, "/sent");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(r.body, b"xy");
    let mut want = vec!["send_header=0".to_string()];
    for l in ["str", "int", "dbl", "bool", "null", "raw"] {
        want.push(format!("{l}={ESTATE}"));
    }
    want.push("send=0".into());
    assert_eq!(log.take_when(8, Duration::from_secs(5)), want);
}

#[test]
fn json_on_a_deferred_handle_finished_from_a_thread() {
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/deferred", |log, _, resp| {
            log.rc("before defer", set_str(resp, "dropped?", "no: kept"));
            let d = resp_defer(resp);
            log.note(format!("defer null={}", d.is_null()));
            log.rc("original after defer", set_str(resp, "x", "y"));
            let (h, l) = (Handle(d), log.clone());
            std::thread::spawn(move || {
                let d = h.get();
                std::thread::sleep(Duration::from_millis(50));
                l.rc("from", set_str(d, "from", "thread"));
                l.rc("n", set_int(d, "nested.n", 7));
                l.rc("bad", set_dbl(d, "nested.n.x", 1.0));
                l.note(format!("ct={}", resp_ct(d)));
                l.rc("finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let r = get(srv.port, "/deferred");
    assert_json(&r, r#"{"dropped?":"no: kept","from":"thread","nested":{"n":7}}"#);
    assert_eq!(
        log.take_when(8, Duration::from_secs(5)),
        [
            "before defer=0".to_string(),
            "defer null=false".into(),
            format!("original after defer={ESTATE}"),
            "from=0".into(),
            "n=0".into(),
            format!("bad={EINVAL}"),
            "ct=application/json".into(),
            "finish=0".into(),
        ]
    );
}

#[test]
fn json_documents_do_not_leak_between_requests_on_a_connection() {
    let (srv, _log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/k/{key}", |_, req, resp| {
            let key = from_c(req_param(req, c"key".as_ptr())).unwrap();
            set_int(resp, &key, 1)
        });
    });
    let mut c = Client::new(srv.port);
    assert_json(&c.roundtrip(b"GET /k/one HTTP/1.1\r\nHost: t\r\n\r\n"), r#"{"one":1}"#);
    assert_json(&c.roundtrip(b"GET /k/two HTTP/1.1\r\nHost: t\r\n\r\n"), r#"{"two":1}"#);
    // Pipelined.
    c.send(b"GET /k/three HTTP/1.1\r\nHost: t\r\n\r\nHEAD /k/four HTTP/1.1\r\nHost: t\r\n\r\nGET /k/five HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_json(&c.response(false), r#"{"three":1}"#);
    let h = c.response(true);
    assert_eq!(h.head_without_date(), json_head(r#"{"four":1}"#.len()));
    assert_json(&c.response(false), r#"{"five":1}"#);
}

// ===========================================================================
// 2. Templates
// ===========================================================================

/// Templates go in a temp dir's `tpl` subfolder; files beside it are
/// "outside".
impl TempDir {
    fn with_tpl(tag: &str) -> Self {
        let d = TempDir::new(tag);
        fs::create_dir(d.join("tpl")).expect("create tpl");
        d
    }

    fn tpl(&self) -> PathBuf {
        self.0.join("tpl")
    }

    /// Writes a template (relative to `tpl`), creating folders.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.tpl().join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, text).expect("write a template");
        p
    }
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// Percent-encodes everything but unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `/render?name=...` handler: renders `name` with the request body as
/// the context (POST) or NULL (GET/HEAD). On failure it answers 500 with
/// `rc=<code> err=<mr_last_error>`, read in the handler.
fn render_handler(req: *mut mr_req, resp: *mut mr_resp) -> c_int {
    let name = req_query_param(req, c"name".as_ptr());
    let method = from_c(req_method(req)).unwrap();
    let ctx: Option<CString> = if method == "POST" {
        let mut len = 0usize;
        let b = req_body(req, &mut len);
        assert!(!b.is_null());
        // SAFETY: the body is `len` bytes, valid during the handler.
        let bytes = unsafe { std::slice::from_raw_parts(b, len) };
        Some(CString::new(bytes).unwrap())
    } else {
        None
    };
    let rc = resp_load_template(resp, name, ctx.as_ref().map_or(null(), |c| c.as_ptr()));
    if rc != MR_OK {
        let err = last_error();
        resp_set_status(resp, 500);
        resp_set_text(resp, cs(&format!("rc={rc} err={err}")).as_ptr());
    }
    MR_OK
}

/// A server with templates from `dir` (reload as given, or the default)
/// and `/render`, plus whatever `extra` adds.
fn tmpl_server(dir: &Path, reload: Option<bool>, extra: impl FnOnce(*mut mr_server)) -> Running {
    let d = cpath(dir);
    start(move |srv| {
        if let Some(r) = reload {
            assert_eq!(server_set_templates_reload(srv, c_int::from(r)), MR_OK);
        }
        assert_eq!(server_set_templates_dir(srv, d.as_ptr()), MR_OK, "{}", last_error());
        on(srv, "*", "/render", render_handler);
        extra(srv);
    })
}

fn render(port: u16, name: &str) -> Resp {
    get(port, &format!("/render?name={}", pct(name)))
}

fn render_ctx(port: u16, name: &str, ctx: &str) -> Resp {
    post(port, &format!("/render?name={}", pct(name)), ctx.as_bytes())
}

/// Asserts an exact HTML response.
fn assert_html(r: &Resp, body: &str) {
    assert_eq!(r.head_without_date(), html_head(body.len()), "{:?}", r.text());
    assert_eq!(r.text(), body);
}

/// Asserts a failed render: 500 with `rc=<code>`; returns mr_last_error.
fn assert_render_fails(r: &Resp, code: c_int) -> String {
    assert_eq!(r.status, 500, "{:?}", r.text());
    let t = r.text();
    let prefix = format!("rc={code} err=");
    assert!(t.starts_with(&prefix), "want {prefix:?}, got {t:?}");
    t[prefix.len()..].to_string()
}

#[test]
fn seed_template_example_html() {
    let dir = TempDir::with_tpl("seed");
    dir.write(
        "example.html",
        "<!doctype html>\n<title>Example</title>\n<p>{{ var }}</p>\n",
    );
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    let r = render_ctx(srv.port, "example.html", r#"{"var": "foobar"}"#);
    // Jinja2 drops the single trailing newline by default.
    assert_html(&r, "<!doctype html>\n<title>Example</title>\n<p>foobar</p>");
    // HEAD: the head with the real length, no body.
    let mut c = Client::new(srv.port);
    let h = c.roundtrip(b"HEAD /render?name=example.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        h.head_without_date(),
        html_head("<!doctype html>\n<title>Example</title>\n<p></p>".len())
    );
    let g = c.roundtrip(b"GET /render?name=example.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_html(&g, "<!doctype html>\n<title>Example</title>\n<p></p>");
}

#[test]
fn template_inheritance_include_loops_and_filters() {
    let dir = TempDir::with_tpl("features");
    dir.write(
        "base.html",
        "<title>{% block title %}Default{% endblock %}</title>|<main>{% block body %}{% endblock %}</main>",
    );
    dir.write("partials/item.html", "<li>{{ loop.index }}:{{ it.name }}</li>");
    dir.write(
        "pages/list.html",
        concat!(
            "{% extends \"base.html\" %}",
            "{% block title %}{{ title|upper }}{% endblock %}",
            "{% block body %}<ul>{% for it in items %}{% include \"partials/item.html\" %}{% endfor %}</ul>",
            "n={{ items|length }} m={{ missing|default(\"none\") }} t={{ title|length }}",
            "{% if items|length > 1 %} many{% endif %}{% endblock %}"
        ),
    );
    dir.write("plain.html", "{{ title }}");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    let r = render_ctx(
        srv.port,
        "pages/list.html",
        r#"{"title": "Shop é", "items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}"#,
    );
    assert_html(
        &r,
        "<title>SHOP É</title>|<main><ul><li>1:a</li><li>2:b</li><li>3:c</li></ul>n=3 m=none t=6 many</main>",
    );
    // The parent alone: its defaults.
    assert_html(&render(srv.port, "base.html"), "<title>Default</title>|<main></main>");
    // UTF-8 in the context: Content-Length counts bytes.
    let r = render_ctx(srv.port, "plain.html", r#"{"title": "é😀"}"#);
    assert_html(&r, "é😀");
    assert_eq!(r.header("Content-Length"), Some("6"));
}

#[test]
fn template_autoescape_by_extension() {
    let dir = TempDir::with_tpl("escape");
    for name in ["a.html", "a.htm", "a.xml", "a.txt", "sub/b.html"] {
        dir.write(name, "[{{ v }}]");
    }
    dir.write("safe.html", "[{{ v|safe }}]");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    let ctx = r#"{"v": "<b>\"x\" & 'y'"}"#;
    let escaped = "[&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;]";
    for name in ["a.html", "a.htm", "a.xml", "sub/b.html"] {
        assert_html(&render_ctx(srv.port, name, ctx), escaped);
    }
    // Not escaped for .txt, nor with |safe; still text/html (the header
    // says the body is text/html for every template).
    assert_html(&render_ctx(srv.port, "a.txt", ctx), "[<b>\"x\" & 'y']");
    assert_html(&render_ctx(srv.port, "safe.html", ctx), "[<b>\"x\" & 'y']");
}

#[test]
fn template_contexts() {
    let dir = TempDir::with_tpl("ctx");
    dir.write("hello.html", "Hello {{ name|default(\"anon\") }}!");
    let (srv, log) = {
        let log = Log::default();
        let l2 = log.clone();
        let srv = tmpl_server(&dir.tpl(), None, move |srv| {
            on_logged(srv, &l2, "GET", "/keep", |log, _, resp| {
                log.rc("text", resp_set_text(resp, c"before".as_ptr()));
                log.rc(
                    "array",
                    resp_load_template(resp, c"hello.html".as_ptr(), c"[1]".as_ptr()),
                );
                log.rc(
                    "bad json",
                    resp_load_template(resp, c"hello.html".as_ptr(), c"{".as_ptr()),
                );
                log.rc("missing", resp_load_template(resp, c"nope.html".as_ptr(), null()));
                log.rc("null name", resp_load_template(resp, null(), null()));
                log.rc(
                    "null resp",
                    resp_load_template(null_mut(), c"hello.html".as_ptr(), null()),
                );
                MR_OK
            });
            on_logged(srv, &l2, "GET", "/json-then-tmpl", |log, _, resp| {
                log.rc("json", set_int(resp, "a", 1));
                log.rc(
                    "tmpl",
                    resp_load_template(resp, c"hello.html".as_ptr(), c"{\"name\":\"J\"}".as_ptr()),
                );
                MR_OK
            });
            on_logged(srv, &l2, "GET", "/tmpl-then-json", |log, _, resp| {
                log.rc("tmpl", resp_load_template(resp, c"hello.html".as_ptr(), null()));
                log.rc("json", set_int(resp, "a", 1));
                MR_OK
            });
            on_logged(srv, &l2, "GET", "/tmpl-sent", |log, _, resp| {
                log.rc("send_header", resp_send_header(resp, null(), b"x".as_ptr().cast(), 1));
                log.rc("tmpl", resp_load_template(resp, c"hello.html".as_ptr(), null()));
                MR_OK
            });
            on_logged(srv, &l2, "GET", "/tmpl-redirect", |log, _, resp| {
                log.rc("redirect", resp_redirect(resp, c"/r".as_ptr(), 0));
                log.rc("tmpl", resp_load_template(resp, c"hello.html".as_ptr(), null()));
                MR_OK
            });
            on_logged(srv, &l2, "GET", "/tmpl-deferred", |log, _, resp| {
                let (h, l) = (Handle(resp_defer(resp)), log.clone());
                std::thread::spawn(move || {
                    let d = h.get();
                    l.rc(
                        "tmpl",
                        resp_load_template(d, c"hello.html".as_ptr(), c"{\"name\":\"thread\"}".as_ptr()),
                    );
                    l.rc("finish", resp_finish(d));
                });
                MR_OK
            });
        });
        (srv, log)
    };
    // NULL context: no variables.
    assert_html(&render(srv.port, "hello.html"), "Hello anon!");
    assert_html(&render_ctx(srv.port, "hello.html", r#"{"name": "Bo"}"#), "Hello Bo!");
    assert_html(&render_ctx(srv.port, "hello.html", r#"{}"#), "Hello anon!");
    // Contexts that are not JSON objects.
    for bad in ["[1]", "\"str\"", "3", "null", "true", "{", "", "{\"a\":1} x"] {
        let e = assert_render_fails(&render_ctx(srv.port, "hello.html", bad), EINVAL);
        assert!(e.starts_with("invalid argument:"), "{bad:?}: {e}");
    }
    // A refused call changes nothing.
    let r = get(srv.port, "/keep");
    assert_eq!(r.head_without_date(), text_head(6));
    assert_eq!(r.body, b"before");
    assert_eq!(
        log.take(),
        [
            "text=0".to_string(),
            format!("array={EINVAL}"),
            format!("bad json={EINVAL}"),
            format!("missing={ENOTFOUND}"),
            format!("null name={EINVAL}"),
            format!("null resp={EINVAL}"),
        ]
    );
    assert_html(&get(srv.port, "/json-then-tmpl"), "Hello J!");
    assert_eq!(log.take(), ["json=0", "tmpl=0"]);
    assert_json(&get(srv.port, "/tmpl-then-json"), r#"{"a":1}"#);
    assert_eq!(log.take(), ["tmpl=0", "json=0"]);
    let r = get(srv.port, "/tmpl-sent");
    assert_eq!(r.body, b"x");
    assert_eq!(
        log.take_when(2, Duration::from_secs(5)),
        ["send_header=0".to_string(), format!("tmpl={ESTATE}")]
    );
    let r = get(srv.port, "/tmpl-redirect");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /r\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(log.take(), ["redirect=0".to_string(), format!("tmpl={ESTATE}")]);
    assert_html(&get(srv.port, "/tmpl-deferred"), "Hello thread!");
    assert_eq!(log.take_when(2, Duration::from_secs(5)), ["tmpl=0", "finish=0"]);
}

#[test]
fn template_missing_and_syntax_errors() {
    let dir = TempDir::with_tpl("errors");
    dir.write("bad.html", "<p>one</p>\n<p>two</p>\n{% if %}\n<p>four</p>\n");
    dir.write("partials/broken.html", "ok\n{{ x + }}\n");
    dir.write("includes-broken.html", "head\n{% include \"partials/broken.html\" %}\n");
    dir.write("includes-missing.html", "head\n{% include \"nope.html\" %}\n");
    dir.write("extends-missing.html", "{% extends \"nobase.html\" %}\n");
    dir.write("render-error.html", "line one\n{% for x in 42 %}{{ x }}{% endfor %}\n");
    dir.write("unclosed.html", "a\nb\n{% for x in xs %}\nc\n");
    fs::create_dir_all(dir.tpl().join("folder.html")).unwrap();
    let srv = tmpl_server(&dir.tpl(), None, |_| {});

    // Missing templates.
    for name in ["nope.html", "sub/nope.html", "folder.html", "BAD.HTML", "bad.html.bak"] {
        let e = assert_render_fails(&render(srv.port, name), ENOTFOUND);
        assert!(e.starts_with("not found:"), "{name}: {e}");
    }

    // A syntax error: EINVAL, the template name and the line in mr_last_error.
    let e = assert_render_fails(&render(srv.port, "bad.html"), EINVAL);
    assert!(e.contains("bad.html"), "{e}");
    assert!(e.contains("bad.html:3") || e.contains("line 3"), "{e}");

    let e = assert_render_fails(&render(srv.port, "unclosed.html"), EINVAL);
    assert!(e.contains("unclosed.html"), "{e}");

    // A render error (iterating a number), on line 2.
    let e = assert_render_fails(&render(srv.port, "render-error.html"), EINVAL);
    assert!(e.contains("render-error.html"), "{e}");
    assert!(e.contains("render-error.html:2") || e.contains("line 2"), "{e}");

    // A syntax error in an included template names that template.
    let e = assert_render_fails(&render(srv.port, "includes-broken.html"), EINVAL);
    assert!(e.contains("broken.html"), "{e}");
}

/// A template that includes itself, or two that include each other: an
/// error (the engine's recursion limit), not a crash of the server.
#[test]
fn template_recursion_is_an_error_not_a_crash() {
    let dir = TempDir::with_tpl("recursion");
    dir.write("self.html", "x{% include \"self.html\" %}");
    dir.write("a.html", "a{% include \"b.html\" %}");
    dir.write("b.html", "b{% include \"a.html\" %}");
    dir.write("ok.html", "fine");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    for name in ["self.html", "a.html"] {
        let r = render(srv.port, name);
        assert_eq!(r.status, 500, "{name}: {:?}", r.text());
        assert!(
            r.text().starts_with(&format!("rc={EINVAL} err=")),
            "{name}: {:?}",
            r.text()
        );
    }
    assert_html(&render(srv.port, "ok.html"), "fine");
}

/// A template that exists but includes or extends a missing one: the
/// message must not say that the existing template is missing.
#[test]
fn template_including_a_missing_template_names_the_missing_one() {
    let dir = TempDir::with_tpl("inc-missing");
    dir.write("includes-missing.html", "head\n{% include \"nope.html\" %}\n");
    dir.write("extends-missing.html", "{% extends \"nobase.html\" %}\n");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    for (name, missing) in [
        ("includes-missing.html", "nope.html"),
        ("extends-missing.html", "nobase.html"),
    ] {
        let r = render(srv.port, name);
        assert_eq!(r.status, 500, "{name}: {:?}", r.text());
        let t = r.text();
        assert!(
            t.contains(missing),
            "{name}: mr_last_error should name the missing {missing:?}: {t:?}"
        );
    }
}

#[test]
fn template_names_cannot_leave_the_folder() {
    let dir = TempDir::with_tpl("escape-names");
    dir.write("example.html", "inside");
    dir.write(".hidden", "hidden");
    dir.write("sub/.hidden.html", "hidden");
    dir.write("sub/page.html", "sub page");
    // Files outside the template folder, which a naive join would find.
    fs::write(dir.0.join("outside.html"), "OUTSIDE").unwrap();
    fs::create_dir_all(dir.0.join("other")).unwrap();
    fs::write(dir.0.join("other/x"), "OUTSIDE X").unwrap();
    // Links inside pointing outside (file and folder), and one inside.
    std::os::unix::fs::symlink(dir.0.join("outside.html"), dir.tpl().join("link.html")).unwrap();
    std::os::unix::fs::symlink("../outside.html", dir.tpl().join("rel-link.html")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("other"), dir.tpl().join("linkdir")).unwrap();
    std::os::unix::fs::symlink("example.html", dir.tpl().join("alias.html")).unwrap();
    let srv = tmpl_server(&dir.tpl(), None, |_| {});

    let outside_abs = dir.0.join("outside.html").to_str().unwrap().to_string();
    let names = [
        "../outside.html",
        "../other/x",
        outside_abs.as_str(),
        "/etc/passwd",
        "a/../../outside.html",
        "sub/../../outside.html",
        "sub/../example.html",
        "./example.html",
        ".hidden",
        "sub/.hidden.html",
        "sub//page.html",
        "link.html",
        "rel-link.html",
        "linkdir/x",
        "..",
        ".",
        "",
        "sub\\..\\..\\outside.html",
    ];
    for name in names {
        let r = render(srv.port, name);
        assert!(!r.text().contains("OUTSIDE"), "{name:?} leaked: {r:?}");
        let e = assert_render_fails(&r, ENOTFOUND);
        assert!(e.starts_with("not found:"), "{name:?}: {e}");
    }
    // What is inside still works, a link that stays inside too.
    assert_html(&render(srv.port, "example.html"), "inside");
    assert_html(&render(srv.port, "sub/page.html"), "sub page");
    assert_html(&render(srv.port, "alias.html"), "inside");
}

#[test]
fn template_includes_cannot_leave_the_folder_either() {
    let dir = TempDir::with_tpl("escape-include");
    fs::write(dir.0.join("outside.html"), "OUTSIDE").unwrap();
    dir.write("inc.html", "[{% include \"../outside.html\" %}]");
    dir.write("ext.html", "{% extends \"/etc/passwd\" %}");
    std::os::unix::fs::symlink(dir.0.join("outside.html"), dir.tpl().join("link.html")).unwrap();
    dir.write("inc-link.html", "[{% include \"link.html\" %}]");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    for name in ["inc.html", "ext.html", "inc-link.html"] {
        let r = render(srv.port, name);
        assert_eq!(r.status, 500, "{name}: {r:?}");
        assert!(
            !r.text().contains("OUTSIDE") && !r.text().contains("root:"),
            "{name} leaked: {r:?}"
        );
    }
}

#[test]
fn templates_without_a_folder_and_folder_settings() {
    let dir = TempDir::with_tpl("settings");
    dir.write("x.html", "x");
    fs::write(dir.0.join("file"), "not a folder").unwrap();
    // Setting the folder: missing, a file, NULL.
    let srv = server_new();
    let missing = cpath(&dir.0.join("missing"));
    assert_eq!(server_set_templates_dir(srv, missing.as_ptr()), ENOTFOUND);
    assert!(last_error().starts_with("not found:"), "{}", last_error());
    assert_eq!(
        server_set_templates_dir(srv, cpath(&dir.0.join("file")).as_ptr()),
        ENOTFOUND
    );
    assert_eq!(server_set_templates_dir(srv, null()), EINVAL);
    assert_eq!(server_set_templates_dir(null_mut(), cpath(&dir.tpl()).as_ptr()), EINVAL);
    assert_eq!(server_set_templates_reload(null_mut(), 1), EINVAL);
    assert_eq!(server_set_templates_reload(srv, 0), MR_OK);
    assert_eq!(server_set_templates_reload(srv, 1), MR_OK);
    server_free(srv);

    // No folder set: MR_ESTATE, and the handler can still answer.
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "GET", "/t", |log, _, resp| {
            log.rc("tmpl", resp_load_template(resp, c"x.html".as_ptr(), null()));
            log.note(err_class());
            resp_set_text(resp, c"no templates".as_ptr())
        });
    });
    let r = get(srv.port, "/t");
    assert_eq!(r.body, b"no templates");
    assert_eq!(log.take(), [format!("tmpl={ESTATE}"), "STATE".into()]);
    drop(srv);

    // After start: MR_ESTATE for both settings.
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    assert_eq!(server_set_templates_dir(srv.srv, cpath(&dir.tpl()).as_ptr()), ESTATE);
    assert_eq!(server_set_templates_reload(srv.srv, 0), ESTATE);
    assert_html(&render(srv.port, "x.html"), "x");
}

/// Rewrites `path` with `text` and moves its mtime to `mtime`.
fn rewrite(path: &Path, text: &str, mtime: SystemTime) {
    fs::write(path, text).unwrap();
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(mtime).unwrap();
}

#[test]
fn templates_reload_when_a_file_changes() {
    let dir = TempDir::with_tpl("reload");
    let page = dir.write("page.html", "v1 {% include \"part.html\" %}");
    let part = dir.write("part.html", "p1");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    assert_html(&render(srv.port, "page.html"), "v1 p1");
    rewrite(
        &page,
        "v2 {% include \"part.html\" %}",
        SystemTime::now() + Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_html(&render(srv.port, "page.html"), "v2 p1");
    // A change in an included template shows in the page using it.
    rewrite(&part, "p2", SystemTime::now() + Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1100));
    assert_html(&render(srv.port, "page.html"), "v2 p2");
    // A new file is found at once.
    dir.write("new.html", "new");
    assert_html(&render(srv.port, "new.html"), "new");
}

#[test]
fn templates_are_not_reloaded_when_reloading_is_off() {
    let dir = TempDir::with_tpl("noreload");
    let page = dir.write("page.html", "v1");
    dir.write("other.html", "o1");
    let srv = tmpl_server(&dir.tpl(), Some(false), |_| {});
    assert_html(&render(srv.port, "page.html"), "v1");
    rewrite(&page, "v2", SystemTime::now() + Duration::from_secs(5));
    rewrite(
        &dir.tpl().join("other.html"),
        "o2",
        SystemTime::now() + Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_html(&render(srv.port, "page.html"), "v1");
    // A template never compiled before is read as it is now.
    assert_html(&render(srv.port, "other.html"), "o2");
}

/// A file replaced by one with an OLDER modification time (what `rsync -t`,
/// `tar x` or `cp -p` do on deployment) is a change too.
#[test]
fn templates_reload_a_file_whose_mtime_went_back() {
    let dir = TempDir::with_tpl("reload-back");
    let page = dir.write("page.html", "v1");
    dir.write("newest.html", "n");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    assert_html(&render(srv.port, "page.html"), "v1");
    rewrite(&page, "v2", UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    std::thread::sleep(Duration::from_millis(1100));
    assert_html(&render(srv.port, "page.html"), "v2");
}

/// A template deleted from the folder is no longer served from the cache
/// (here another file in the folder is newer than the deleted one).
#[test]
fn templates_reload_notices_a_deleted_file() {
    let dir = TempDir::with_tpl("reload-delete");
    let page = dir.write("page.html", "v1");
    dir.write("other.html", "written after page.html");
    let srv = tmpl_server(&dir.tpl(), None, |_| {});
    assert_html(&render(srv.port, "page.html"), "v1");
    fs::remove_file(&page).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_render_fails(&render(srv.port, "page.html"), ENOTFOUND);
}

// ===========================================================================
// 3. Named routes
// ===========================================================================

/// Registers a closure under a route name; returns the code.
fn named(
    srv: *mut mr_server,
    name: &str,
    method: &str,
    pattern: &str,
    f: impl Fn(*mut mr_req, *mut mr_resp) -> c_int + Send + Sync + 'static,
) -> c_int {
    server_route_named(
        srv,
        cs(name).as_ptr(),
        cs(method).as_ptr(),
        cs(pattern).as_ptr(),
        Some(trampoline),
        handler_ud(f),
    )
}

/// Calls resp_redirect_route_params with `params` (None: a NULL list),
/// each entry `None` being a NULL slot before the terminator.
fn redirect_params(resp: *mut mr_resp, name: &str, params: Option<&[Option<&str>]>, code: c_int) -> c_int {
    let owned: Vec<Option<CString>> = params.unwrap_or(&[]).iter().map(|p| p.map(cs)).collect();
    let mut ptrs: Vec<*const c_char> = owned
        .iter()
        .map(|p| p.as_ref().map_or(null(), |c| c.as_ptr()))
        .collect();
    ptrs.push(null());
    let list = if params.is_some() { ptrs.as_ptr() } else { null() };
    resp_redirect_route_params(resp, cs(name).as_ptr(), list, code)
}

#[test]
fn seed_redirect_to_a_named_route() {
    let codes = Arc::new(Mutex::new(Vec::new()));
    let c2 = codes.clone();
    let srv = start(move |srv| {
        c2.lock().unwrap().push(named(srv, "index", "GET", "/", |_, resp| {
            resp_set_html(resp, c"<h1>Index</h1>".as_ptr())
        }));
        on(srv, "GET", "/redirect/internal", |_, resp| {
            resp_redirect_route(resp, c"index".as_ptr())
        });
    });
    assert_eq!(*codes.lock().unwrap(), [MR_OK]);
    let r = get(srv.port, "/redirect/internal");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(r.body.is_empty());
    // Following it lands on the index (a named route is a normal route too).
    let r = get(srv.port, r.header("Location").unwrap());
    assert_eq!(r.body, b"<h1>Index</h1>");
}

#[test]
fn named_route_redirect_errors() {
    let (srv, log) = serve(|srv, log| {
        assert_eq!(
            named(srv, "index", "GET", "/", |_, resp| resp_set_text(resp, c"i".as_ptr())),
            MR_OK
        );
        assert_eq!(named(srv, "user", "GET", "/users/{id}", |_, _| MR_OK), MR_OK);
        on_logged(srv, log, "GET", "/bad", |log, _, resp| {
            log.rc("unknown", resp_redirect_route(resp, c"nope".as_ptr()));
            log.note(err_class());
            log.rc("needs params", resp_redirect_route(resp, c"user".as_ptr()));
            log.note(err_class());
            log.rc("null name", resp_redirect_route(resp, null()));
            log.rc("null resp", resp_redirect_route(null_mut(), c"index".as_ptr()));
            log.rc("params null name", resp_redirect_route_params(resp, null(), null(), 0));
            log.rc(
                "params null resp",
                resp_redirect_route_params(null_mut(), c"index".as_ptr(), null(), 0),
            );
            log.rc("case", resp_redirect_route(resp, c"Index".as_ptr()));
            resp_set_text(resp, c"still mine".as_ptr())
        });
        on_logged(srv, log, "GET", "/after-head", |log, _, resp| {
            log.rc("send_header", resp_send_header(resp, null(), b"x".as_ptr().cast(), 1));
            log.rc("redirect", resp_redirect_route(resp, c"index".as_ptr()));
            MR_OK
        });
    });
    let r = get(srv.port, "/bad");
    assert_eq!(r.head_without_date(), text_head(10));
    assert_eq!(r.body, b"still mine");
    assert_eq!(
        log.take(),
        [
            format!("unknown={ENOTFOUND}"),
            "NOTFOUND".into(),
            format!("needs params={EINVAL}"),
            "INVAL".into(),
            format!("null name={EINVAL}"),
            format!("null resp={EINVAL}"),
            format!("params null name={EINVAL}"),
            format!("params null resp={EINVAL}"),
            format!("case={ENOTFOUND}"),
        ]
    );
    let r = get(srv.port, "/after-head");
    assert_eq!(r.body, b"x");
    assert_eq!(
        log.take_when(2, Duration::from_secs(5)),
        ["send_header=0".to_string(), format!("redirect={ESTATE}")]
    );
}

#[test]
fn named_route_redirect_with_params() {
    let (srv, log) = serve(|srv, log| {
        let echo = |req: *mut mr_req, resp: *mut mr_resp| {
            let id = from_c(req_param(req, c"id".as_ptr())).unwrap_or_else(|| "-".into());
            let rest = from_c(req_param(req, c"rest".as_ptr())).unwrap_or_else(|| "-".into());
            resp_set_text(resp, cs(&format!("id={id} rest={rest}")).as_ptr())
        };
        assert_eq!(named(srv, "user", "GET", "/users/{id}", echo), MR_OK);
        assert_eq!(named(srv, "file", "GET", "/files/{rest...}", echo), MR_OK);
        assert_eq!(named(srv, "both", "GET", "/u/{id}/f/{rest...}", echo), MR_OK);
        on_logged(srv, log, "GET", "/go/{case}", |log, req, resp| {
            let case = from_c(req_param(req, c"case".as_ptr())).unwrap();
            let rc = match case.as_str() {
                "space-slash" => redirect_params(resp, "user", Some(&[Some("id"), Some("a b/c")]), 0),
                "rest" => redirect_params(resp, "file", Some(&[Some("rest"), Some("x y/z/ü.txt")]), 303),
                "both" => redirect_params(
                    resp,
                    "both",
                    Some(&[Some("rest"), Some("d/e?f#g"), Some("id"), Some("42")]),
                    307,
                ),
                "reserved" => redirect_params(resp, "user", Some(&[Some("id"), Some("%41?#\"<>\\")]), 0),
                "odd" => redirect_params(resp, "user", Some(&[Some("id"), None]), 0),
                "missing" => redirect_params(resp, "user", Some(&[Some("other"), Some("1")]), 0),
                "null-list" => redirect_params(resp, "user", None, 0),
                "empty" => redirect_params(resp, "user", Some(&[Some("id"), Some("")]), 0),
                "bad-code" => redirect_params(resp, "user", Some(&[Some("id"), Some("1")]), 200),
                "unknown" => redirect_params(resp, "nope", Some(&[Some("id"), Some("1")]), 0),
                "nonutf8" => {
                    let bad = CString::new(vec![b'a', 0xff]).unwrap();
                    let p = [c"id".as_ptr(), bad.as_ptr(), null()];
                    resp_redirect_route_params(resp, c"user".as_ptr(), p.as_ptr(), 0)
                }
                _ => unreachable!(),
            };
            log.rc(&case, rc);
            if rc != MR_OK {
                log.note(err_class());
                return resp_set_text(resp, c"refused".as_ptr());
            }
            MR_OK
        });
    });
    let redirect_head =
        |line: &str, loc: &str| format!("HTTP/1.1 {line}\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n");

    // {id}: a space and a slash are percent-encoded; the target decodes back.
    let r = get(srv.port, "/go/space-slash");
    assert_eq!(r.head_without_date(), redirect_head("302 Found", "/users/a%20b%2Fc"));
    assert_eq!(get(srv.port, "/users/a%20b%2Fc").body, b"id=a b/c rest=-");
    // {rest...}: slashes kept, the rest encoded; 303.
    let r = get(srv.port, "/go/rest");
    assert_eq!(
        r.head_without_date(),
        redirect_head("303 See Other", "/files/x%20y/z/%C3%BC.txt")
    );
    assert_eq!(
        get(srv.port, "/files/x%20y/z/%C3%BC.txt").body,
        "id=- rest=x y/z/ü.txt".as_bytes()
    );
    // Two parameters given in another order; '?' and '#' encoded; 307.
    let r = get(srv.port, "/go/both");
    assert_eq!(
        r.head_without_date(),
        redirect_head("307 Temporary Redirect", "/u/42/f/d/e%3Ff%23g")
    );
    assert_eq!(get(srv.port, "/u/42/f/d/e%3Ff%23g").body, b"id=42 rest=d/e?f#g");
    // '%' itself is encoded (no double meaning), as are quotes and brackets.
    let r = get(srv.port, "/go/reserved");
    assert_eq!(
        r.head_without_date(),
        redirect_head("302 Found", "/users/%2541%3F%23%22%3C%3E%5C")
    );
    assert_eq!(
        get(srv.port, "/users/%2541%3F%23%22%3C%3E%5C").body,
        b"id=%41?#\"<>\\ rest=-"
    );
    assert_eq!(log.take(), ["space-slash=0", "rest=0", "both=0", "reserved=0"]);

    for (case, code, class) in [
        ("odd", EINVAL, "INVAL"),
        ("missing", EINVAL, "INVAL"),
        ("null-list", EINVAL, "INVAL"),
        ("empty", EINVAL, "INVAL"),
        ("bad-code", EINVAL, "INVAL"),
        ("unknown", ENOTFOUND, "NOTFOUND"),
        ("nonutf8", EINVAL, "INVAL"),
    ] {
        let r = get(srv.port, &format!("/go/{case}"));
        assert_eq!(r.head_without_date(), text_head(7), "{case}");
        assert_eq!(r.body, b"refused", "{case}");
        assert_eq!(log.take(), [format!("{case}={code}"), class.to_string()], "{case}");
    }
}

#[test]
fn named_route_registration_rules() {
    let dup = Arc::new(Mutex::new(Vec::new()));
    let d2 = dup.clone();
    let srv = start(move |srv| {
        let mut v = d2.lock().unwrap();
        v.push((
            "first",
            named(srv, "page", "GET", "/page", |_, r| resp_set_text(r, c"page".as_ptr())),
        ));
        // The same name again, another pattern: refused, and not routed.
        v.push((
            "dup",
            named(srv, "page", "GET", "/other", |_, r| resp_set_text(r, c"other".as_ptr())),
        ));
        v.push(("dup-other-method", named(srv, "page", "POST", "/page", |_, _| MR_OK)));
        v.push(("empty", named(srv, "", "GET", "/empty", |_, _| MR_OK)));
        v.push((
            "null name",
            server_route_named(
                srv,
                null(),
                c"GET".as_ptr(),
                c"/n".as_ptr(),
                Some(trampoline),
                handler_ud(|_, _| 0),
            ),
        ));
        v.push((
            "null handler",
            server_route_named(srv, c"h".as_ptr(), c"GET".as_ptr(), c"/h".as_ptr(), None, null_mut()),
        ));
        v.push((
            "null srv",
            server_route_named(
                null_mut(),
                c"s".as_ptr(),
                c"GET".as_ptr(),
                c"/s".as_ptr(),
                Some(trampoline),
                handler_ud(|_, _| 0),
            ),
        ));
        // A pattern already registered for that method, under a new name.
        v.push(("dup pattern", named(srv, "page2", "GET", "/page", |_, _| MR_OK)));
        v.push(("bad pattern", named(srv, "bad", "GET", "nope", |_, _| MR_OK)));
        // The refused names are still free.
        v.push((
            "empty reused",
            named(srv, "page2", "GET", "/page2", |_, r| resp_set_text(r, c"p2".as_ptr())),
        ));
        // Any-method route with a name (NULL method).
        v.push((
            "null method",
            server_route_named(
                srv,
                c"any".as_ptr(),
                null(),
                c"/any".as_ptr(),
                Some(trampoline),
                handler_ud(|_, r| resp_set_text(r, c"any".as_ptr())),
            ),
        ));
        on(srv, "GET", "/to/{name}", |req, resp| {
            let name = req_param(req, c"name".as_ptr());
            let rc = resp_redirect_route(resp, name);
            if rc != MR_OK {
                return resp_set_text(resp, cs(&format!("rc={rc}")).as_ptr());
            }
            MR_OK
        });
    });
    assert_eq!(
        *dup.lock().unwrap(),
        [
            ("first", MR_OK),
            ("dup", EINVAL),
            ("dup-other-method", EINVAL),
            ("empty", EINVAL),
            ("null name", EINVAL),
            ("null handler", EINVAL),
            ("null srv", EINVAL),
            ("dup pattern", EINVAL),
            ("bad pattern", EINVAL),
            ("empty reused", MR_OK),
            ("null method", MR_OK),
        ]
    );
    assert_eq!(get(srv.port, "/page").body, b"page");
    assert_eq!(get(srv.port, "/other").status, 404);
    assert_eq!(get(srv.port, "/empty").status, 404);
    assert_eq!(get(srv.port, "/page2").body, b"p2");
    assert_eq!(get(srv.port, "/to/page").header("Location"), Some("/page"));
    assert_eq!(get(srv.port, "/to/page2").header("Location"), Some("/page2"));
    assert_eq!(get(srv.port, "/to/any").header("Location"), Some("/any"));
    // The refused registrations left no name behind.
    assert_eq!(get(srv.port, "/to/bad").body, format!("rc={ENOTFOUND}").as_bytes());
    assert_eq!(get(srv.port, "/to/").status, 404);

    // After start: MR_ESTATE, nothing added.
    assert_eq!(named(srv.srv, "late", "GET", "/late", |_, _| MR_OK), ESTATE);
    assert_eq!(get(srv.port, "/late").status, 404);
    assert_eq!(get(srv.port, "/to/late").body, format!("rc={ENOTFOUND}").as_bytes());
}

#[test]
fn named_route_redirect_from_a_deferred_handle() {
    let (srv, log) = serve(|srv, log| {
        assert_eq!(named(srv, "home", "GET", "/home", |_, _| MR_OK), MR_OK);
        on_logged(srv, log, "GET", "/later", |log, _, resp| {
            let (h, l) = (Handle(resp_defer(resp)), log.clone());
            std::thread::spawn(move || {
                let d = h.get();
                l.rc("redirect", resp_redirect_route(d, c"home".as_ptr()));
                l.rc("finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let r = get(srv.port, "/later");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /home\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(log.take_when(2, Duration::from_secs(5)), ["redirect=0", "finish=0"]);
}

// ===========================================================================
// 4. Request JSON
// ===========================================================================

const DOC: &str = r#"{
  "user": {"name": "Ann", "age": 42, "score": 9.5, "admin": true, "off": false, "nick": null, "tags": []},
  "items": [{"name": "a"}, {"name": "b", "tags": ["x", "y"]}],
  "big": 9223372036854775807, "toobig": 9223372036854775808,
  "neg": -9223372036854775808, "tooneg": -9223372036854775809,
  "f": 1.0, "e": 1e2, "s": "q\"uo\\te é😀\n", "zero": 0, "empty": ""
}"#;

fn js(req: *mut mr_req, path: &str) -> String {
    match from_c(req_json_str(req, cs(path).as_ptr())) {
        Some(v) => format!("{v:?}"),
        None => format!("NULL {}", err_class()),
    }
}
fn ji(req: *mut mr_req, path: &str) -> String {
    let mut v: i64 = 12345;
    let rc = req_json_int(req, cs(path).as_ptr(), &mut v);
    if rc == MR_OK {
        format!("{v}")
    } else {
        format!("rc={rc} out={v}")
    }
}
fn jd(req: *mut mr_req, path: &str) -> String {
    let mut v: f64 = -1.25;
    let rc = req_json_double(req, cs(path).as_ptr(), &mut v);
    if rc == MR_OK {
        format!("{v:?}")
    } else {
        format!("rc={rc} out={v:?}")
    }
}
fn jb(req: *mut mr_req, path: &str) -> String {
    let mut v: c_int = 99;
    let rc = req_json_bool(req, cs(path).as_ptr(), &mut v);
    if rc == MR_OK {
        format!("{v}")
    } else {
        format!("rc={rc} out={v}")
    }
}
fn jr(req: *mut mr_req, path: Option<&str>) -> String {
    let p = path.map(cs);
    match from_c(req_json_raw(req, p.as_ref().map_or(null(), |c| c.as_ptr()))) {
        Some(v) => v,
        None => format!("NULL {}", err_class()),
    }
}

/// A server with `POST /j` running `f` on the request; the report lines go
/// into the log.
fn json_server(
    limits: Option<usize>,
    f: impl Fn(*mut mr_req) -> Vec<String> + Send + Sync + 'static,
) -> (Running, Log) {
    serve(move |srv, log| {
        if let Some(max) = limits {
            assert_eq!(server_set_limits(srv, 16384, max), MR_OK);
        }
        on_logged(srv, log, "*", "/j", move |log, req, resp| {
            for l in f(req) {
                log.note(l);
            }
            resp_set_text(resp, c"done".as_ptr())
        });
        route(srv, "GET", "/", h_ok, null_mut());
    })
}

#[test]
fn request_json_lookups() {
    let (srv, log) = json_server(None, |req| {
        vec![
            format!("str user.name {}", js(req, "user.name")),
            format!("str items.1.name {}", js(req, "items.1.name")),
            format!("str items.1.tags.0 {}", js(req, "items.1.tags.0")),
            format!("str s {}", js(req, "s")),
            format!("str empty {}", js(req, "empty")),
            format!("str user.x {}", js(req, "user.x")),
            format!("str items.5.name {}", js(req, "items.5.name")),
            format!("str items.x {}", js(req, "items.x")),
            format!("str user.name.x {}", js(req, "user.name.x")),
            format!("str user.age {}", js(req, "user.age")),
            format!("str user.nick {}", js(req, "user.nick")),
            format!("str user {}", js(req, "user")),
            format!("str a..b {}", js(req, "a..b")),
            format!("int user.age {}", ji(req, "user.age")),
            format!("int big {}", ji(req, "big")),
            format!("int neg {}", ji(req, "neg")),
            format!("int zero {}", ji(req, "zero")),
            format!("int toobig {}", ji(req, "toobig")),
            format!("int tooneg {}", ji(req, "tooneg")),
            format!("int f {}", ji(req, "f")),
            format!("int s {}", ji(req, "s")),
            format!("int user.nick {}", ji(req, "user.nick")),
            format!("int absent {}", ji(req, "absent")),
            format!("dbl user.score {}", jd(req, "user.score")),
            format!("dbl user.age {}", jd(req, "user.age")),
            format!("dbl big {}", jd(req, "big")),
            format!("dbl toobig {}", jd(req, "toobig")),
            format!("dbl e {}", jd(req, "e")),
            format!("dbl s {}", jd(req, "s")),
            format!("dbl user.nick {}", jd(req, "user.nick")),
            format!("dbl user.admin {}", jd(req, "user.admin")),
            format!("dbl absent {}", jd(req, "absent")),
            format!("bool user.admin {}", jb(req, "user.admin")),
            format!("bool user.off {}", jb(req, "user.off")),
            format!("bool user.nick {}", jb(req, "user.nick")),
            format!("bool user.age {}", jb(req, "user.age")),
            format!("bool zero {}", jb(req, "zero")),
            format!("bool absent {}", jb(req, "absent")),
            format!("raw user {}", jr(req, Some("user"))),
            format!("raw items {}", jr(req, Some("items"))),
            format!("raw items.1.tags {}", jr(req, Some("items.1.tags"))),
            format!("raw s {}", jr(req, Some("s"))),
            format!("raw user.nick {}", jr(req, Some("user.nick"))),
            format!("raw user.age {}", jr(req, Some("user.age"))),
            format!("raw user.tags {}", jr(req, Some("user.tags"))),
            format!("raw absent {}", jr(req, Some("absent"))),
        ]
    });
    let r = post(srv.port, "/j", DOC.as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"done");
    let nf = format!("rc={ENOTFOUND}");
    let inv = format!("rc={EINVAL}");
    let want = [
        "str user.name \"Ann\"".to_string(),
        "str items.1.name \"b\"".into(),
        "str items.1.tags.0 \"x\"".into(),
        "str s \"q\\\"uo\\\\te é😀\\n\"".into(),
        "str empty \"\"".into(),
        "str user.x NULL NOTFOUND".into(),
        "str items.5.name NULL NOTFOUND".into(),
        "str items.x NULL NOTFOUND".into(),
        "str user.name.x NULL NOTFOUND".into(),
        "str user.age NULL INVAL".into(),
        "str user.nick NULL INVAL".into(),
        "str user NULL INVAL".into(),
        "str a..b NULL INVAL".into(),
        "int user.age 42".into(),
        format!("int big {}", i64::MAX),
        format!("int neg {}", i64::MIN),
        "int zero 0".into(),
        format!("int toobig {inv} out=12345"),
        format!("int tooneg {inv} out=12345"),
        format!("int f {inv} out=12345"),
        format!("int s {inv} out=12345"),
        format!("int user.nick {inv} out=12345"),
        format!("int absent {nf} out=12345"),
        "dbl user.score 9.5".into(),
        "dbl user.age 42.0".into(),
        "dbl big 9.223372036854776e18".into(),
        "dbl toobig 9.223372036854776e18".into(),
        "dbl e 100.0".into(),
        format!("dbl s {inv} out=-1.25"),
        format!("dbl user.nick {inv} out=-1.25"),
        format!("dbl user.admin {inv} out=-1.25"),
        format!("dbl absent {nf} out=-1.25"),
        "bool user.admin 1".into(),
        "bool user.off 0".into(),
        format!("bool user.nick {inv} out=99"),
        format!("bool user.age {inv} out=99"),
        format!("bool zero {inv} out=99"),
        format!("bool absent {nf} out=99"),
        r#"raw user {"name":"Ann","age":42,"score":9.5,"admin":true,"off":false,"nick":null,"tags":[]}"#.into(),
        r#"raw items [{"name":"a"},{"name":"b","tags":["x","y"]}]"#.into(),
        r#"raw items.1.tags ["x","y"]"#.into(),
        "raw s \"q\\\"uo\\\\te é😀\\n\"".into(),
        "raw user.nick null".into(),
        "raw user.age 42".into(),
        "raw user.tags []".into(),
        "raw absent NULL NOTFOUND".into(),
    ];
    assert_eq!(log.take(), want);
}

#[test]
fn request_json_whole_document_and_string_lifetimes() {
    let (srv, log) = json_server(None, |req| {
        // Pointers from many calls, copied only at the end.
        let ptrs: Vec<(&str, *const c_char)> = vec![
            ("a", req_json_str(req, c"a".as_ptr())),
            ("whole", req_json_raw(req, null())),
            ("list", req_json_raw(req, c"list".as_ptr())),
            ("list.1.k", req_json_str(req, c"list.1.k".as_ptr())),
            ("missing", req_json_str(req, c"missing".as_ptr())),
            ("a again", req_json_str(req, c"a".as_ptr())),
            ("o", req_json_raw(req, c"o".as_ptr())),
            ("u", req_json_str(req, c"u".as_ptr())),
        ];
        // More lookups in between (including failing ones) must not
        // invalidate the earlier strings.
        let mut n = 0i64;
        for _ in 0..100 {
            req_json_int(req, c"n".as_ptr(), &mut n);
            req_json_str(req, c"n".as_ptr());
            req_json_raw(req, c"list".as_ptr());
        }
        let mut out: Vec<String> = ptrs
            .iter()
            .map(|(l, p)| format!("{l}: {}", from_c(*p).unwrap_or_else(|| "NULL".into())))
            .collect();
        out.push(format!("n: {n}"));
        out
    });
    let body = "{ \"a\" : \"x y\", \"n\": 5,\n \"list\": [ 1, {\"k\": \"v\"}, [] ], \"o\": {\"z\": 1, \"a\": {}}, \"u\": \"\\u00e9\\ud83d\\ude00\" }";
    let r = post(srv.port, "/j", body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(
        log.take(),
        [
            "a: x y",
            r#"whole: {"a":"x y","n":5,"list":[1,{"k":"v"},[]],"o":{"z":1,"a":{}},"u":"é😀"}"#,
            r#"list: [1,{"k":"v"},[]]"#,
            "list.1.k: v",
            "missing: NULL",
            "a again: x y",
            r#"o: {"z":1,"a":{}}"#,
            "u: é😀",
            "n: 5",
        ]
    );
    // Top-level arrays and scalars.
    let (srv2, log2) = json_server(None, |req| {
        vec![ji(req, "0.id"), js(req, "1"), jr(req, None), js(req, "2")]
    });
    post(srv2.port, "/j", br#"[{"id": 7}, "two"]"#);
    assert_eq!(log2.take(), ["7", "\"two\"", r#"[{"id":7},"two"]"#, "NULL NOTFOUND"]);
    post(srv2.port, "/j", b"  \"just a string\"  ");
    assert_eq!(
        log2.take(),
        [
            format!("rc={ENOTFOUND} out=12345"),
            "NULL NOTFOUND".into(),
            "\"just a string\"".into(),
            "NULL NOTFOUND".into()
        ]
    );
}

#[test]
fn request_json_bad_bodies_and_null_arguments() {
    let (srv, log) = json_server(None, |req| {
        let mut i = 0i64;
        let mut d = 0f64;
        let mut b: c_int = 0;
        vec![
            js(req, "a"),
            ji(req, "a"),
            jd(req, "a"),
            jb(req, "a"),
            jr(req, Some("a")),
            jr(req, None),
            format!("mentions JSON: {}", last_error().contains("JSON")),
            format!("str null req: {:?}", from_c(req_json_str(null_mut(), c"a".as_ptr()))),
            format!("str null path: {:?} {}", from_c(req_json_str(req, null())), err_class()),
            format!("int null req: {}", req_json_int(null_mut(), c"a".as_ptr(), &mut i)),
            format!("int null path: {}", req_json_int(req, null(), &mut i)),
            format!("int null out: {}", req_json_int(req, c"a".as_ptr(), null_mut())),
            format!("dbl null req: {}", req_json_double(null_mut(), c"a".as_ptr(), &mut d)),
            format!("dbl null path: {}", req_json_double(req, null(), &mut d)),
            format!("dbl null out: {}", req_json_double(req, c"a".as_ptr(), null_mut())),
            format!("bool null req: {}", req_json_bool(null_mut(), c"a".as_ptr(), &mut b)),
            format!("bool null path: {}", req_json_bool(req, null(), &mut b)),
            format!("bool null out: {}", req_json_bool(req, c"a".as_ptr(), null_mut())),
            format!(
                "raw null req: {:?} {}",
                from_c(req_json_raw(null_mut(), null())),
                err_class()
            ),
        ]
    });
    let nulls = |first: &[String]| {
        let mut v = first.to_vec();
        v.extend([
            "mentions JSON: true".to_string(),
            "str null req: None".into(),
            "str null path: None INVAL".into(),
            format!("int null req: {EINVAL}"),
            format!("int null path: {EINVAL}"),
            format!("int null out: {EINVAL}"),
            format!("dbl null req: {EINVAL}"),
            format!("dbl null path: {EINVAL}"),
            format!("dbl null out: {EINVAL}"),
            format!("bool null req: {EINVAL}"),
            format!("bool null path: {EINVAL}"),
            format!("bool null out: {EINVAL}"),
            "raw null req: None INVAL".into(),
        ]);
        v
    };
    let not_json = [
        "NULL INVAL".to_string(),
        format!("rc={EINVAL} out=12345"),
        format!("rc={EINVAL} out=-1.25"),
        format!("rc={EINVAL} out=99"),
        "NULL INVAL".into(),
        "NULL INVAL".into(),
    ];
    for body in [
        &b"not json"[..],
        b"{\"a\": 1",
        b"{\"a\": 1} trailing",
        b"\xff\xfe{}",
        b"{\"a\":1,}",
    ] {
        let r = post(srv.port, "/j", body);
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(log.take(), nulls(&not_json), "{:?}", String::from_utf8_lossy(body));
    }
    // Nesting far deeper than any parser should recurse: refused, no crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = post(srv.port, "/j", deep.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(log.take(), nulls(&not_json));
    // No body at all (GET): not JSON either.
    let r = get(srv.port, "/j");
    assert_eq!(r.status, 200);
    assert_eq!(log.take(), nulls(&not_json));
    // A body with a JSON object works with the very same calls.
    let r = post(srv.port, "/j", br#"{"a": true}"#);
    assert_eq!(r.status, 200);
    let ok = [
        "NULL INVAL".to_string(),
        format!("rc={EINVAL} out=12345"),
        format!("rc={EINVAL} out=-1.25"),
        "1".into(),
        "true".into(),
        r#"{"a":true}"#.into(),
    ];
    assert_eq!(log.take(), nulls(&ok));
}

#[test]
fn request_json_body_over_the_limit_is_413() {
    let (srv, log) = json_server(Some(32), |req| {
        let mut v = 0i64;
        let rc = req_json_int(req, c"a".as_ptr(), &mut v);
        let class = if rc == MR_OK { "-" } else { err_class() };
        vec![
            format!("int rc={rc} {class}"),
            format!("str {}", js(req, "a")),
            format!("raw {}", jr(req, None)),
        ]
    });
    let big = format!("{{\"a\": 1, \"pad\": \"{}\"}}", "x".repeat(64));
    let mut c = Client::new(srv.port);
    let mut req = format!(
        "POST /j HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(big.as_bytes());
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 413, "{r:?}");
    assert_ne!(r.body, b"done");
    let got = log.take();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], format!("int rc={} TOOLARGE", MR_ETOOLARGE));
    assert!(got[1].starts_with("str NULL"), "{got:?}");
    assert!(got[2].starts_with("raw NULL"), "{got:?}");

    // Chunked, over the limit: 413 too.
    let mut c = Client::new(srv.port);
    let half = &big.as_bytes()[..big.len() / 2];
    let rest = &big.as_bytes()[big.len() / 2..];
    let mut req = b"POST /j HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(format!("{:x}\r\n", half.len()).as_bytes());
    req.extend_from_slice(half);
    req.extend_from_slice(format!("\r\n{:x}\r\n", rest.len()).as_bytes());
    req.extend_from_slice(rest);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 413, "{r:?}");
    let got = log.take();
    assert_eq!(got[0], format!("int rc={} TOOLARGE", MR_ETOOLARGE));
    // Within the limit, it works.
    let r = post(srv.port, "/j", br#"{"a": 7}"#);
    assert_eq!(r.body, b"done");
    assert_eq!(
        log.take(),
        [
            "int rc=0 -".to_string(),
            "str NULL INVAL".into(),
            r#"raw {"a":7}"#.into()
        ]
    );
    assert_healthy(srv.port);
}

#[test]
fn request_json_chunked_body_and_fresh_parse_per_request() {
    let (srv, log) = json_server(None, |req| vec![js(req, "name"), ji(req, "n"), jr(req, None)]);
    let mut c = Client::new(srv.port);
    // A chunked body split inside a string and inside a number.
    let r = c.roundtrip(
        b"POST /j HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          7\r\n{\"name\"\r\n6\r\n: \"Bo \r\n5\r\nb\", \"\r\n6\r\nn\": 12\r\n3\r\n34}\r\n0\r\n\r\n",
    );
    assert_eq!(r.body, b"done");
    assert_eq!(log.take(), ["\"Bo b\"", "1234", r#"{"name":"Bo b","n":1234}"#]);
    // The next request on the same connection is parsed afresh.
    let body = br#"{"name": "second", "n": -1}"#;
    let mut req = format!("POST /j HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(body);
    let r = c.roundtrip(&req);
    assert_eq!(r.body, b"done");
    assert_eq!(log.take(), ["\"second\"", "-1", r#"{"name":"second","n":-1}"#]);
    // And a request without a body after them is not JSON.
    let r = c.roundtrip(b"GET /j HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"done");
    assert_eq!(
        log.take(),
        [
            "NULL INVAL".to_string(),
            format!("rc={EINVAL} out=12345"),
            "NULL INVAL".into()
        ]
    );
}

#[test]
fn request_json_and_req_body_share_the_body() {
    let (srv, log) = serve(|srv, log| {
        on_logged(srv, log, "POST", "/body-first", |log, req, resp| {
            let mut len = 0usize;
            let b = req_body(req, &mut len);
            log.note(format!("body len={len} null={}", b.is_null()));
            log.note(js(req, "k"));
            // The body is still there after the JSON lookups.
            let mut len2 = 0usize;
            let b2 = req_body(req, &mut len2);
            log.note(format!("again len={len2} same={}", b == b2));
            resp_set_text(resp, c"ok".as_ptr())
        });
        on_logged(srv, log, "POST", "/json-first", |log, req, resp| {
            log.note(js(req, "k"));
            let mut len = 0usize;
            let b = req_body(req, &mut len);
            // SAFETY: `len` bytes valid during the handler.
            let s = unsafe { std::slice::from_raw_parts(b, len) };
            log.note(format!("body {:?}", String::from_utf8_lossy(s)));
            resp_set_text(resp, c"ok".as_ptr())
        });
    });
    post(srv.port, "/body-first", br#"{"k": "v"}"#);
    assert_eq!(
        log.take(),
        ["body len=10 null=false", "\"v\"", "again len=10 same=true"]
    );
    post(srv.port, "/json-first", br#"{"k": "w"}"#);
    assert_eq!(log.take(), ["\"w\"", "body \"{\\\"k\\\": \\\"w\\\"}\""]);
}

//! The `req_*` C functions and the router, through real requests over
//! sockets. Handlers are `extern "C"` functions (a trampoline that calls a
//! Rust closure); they report what they saw in the response body, and the
//! test compares it exactly.
mod common;
use common::*;

use std::ffi::{c_char, c_int, CStr};
use std::ptr::{null, null_mut};

// ---- helpers local to this file ------------------------------------------

/// `server_route` with the raw return code (for the error cases).
fn try_route(srv: *mut mr_server, method: Option<&str>, pattern: Option<&str>) -> c_int {
    let m = method.map(cs);
    let p = pattern.map(cs);
    server_route(
        srv,
        m.as_ref().map_or(null(), |m| m.as_ptr()),
        p.as_ref().map_or(null(), |p| p.as_ptr()),
        Some(trampoline),
        handler_ud(|_, resp| reply(resp, "x")),
    )
}

/// Sets a text body.
fn reply(resp: *mut mr_resp, s: &str) -> c_int {
    resp_set_text(resp, cs(s).as_ptr())
}

/// A returned C string for a report: `"value"` (Rust debug quoting) or NULL.
fn q(p: *const c_char) -> String {
    match from_c(p) {
        Some(s) => format!("{s:?}"),
        None => "NULL".to_string(),
    }
}

/// The request's basics, one per line.
fn describe(req: *mut mr_req) -> String {
    format!(
        "method={}\npath={}\nquery={}\nhost={}\nversion={}\n",
        q(req_method(req)),
        q(req_path(req)),
        q(req_query(req)),
        q(req_host(req)),
        req_http_version(req)
    )
}

fn expect_describe(method: &str, path: &str, query: &str, host: Option<&str>, version: i32) -> String {
    format!(
        "method={method:?}\npath={path:?}\nquery={query:?}\nhost={}\nversion={version}\n",
        host.map_or("NULL".to_string(), |h| format!("{h:?}"))
    )
}

fn get(port: u16, target: &str) -> Resp {
    roundtrip(port, format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

fn body_of(port: u16, target: &str) -> String {
    let r = get(port, target);
    assert_eq!(r.status, 200, "GET {target}: {r:?}");
    r.text()
}

// ---- method, path, query, host, version --------------------------------

#[test]
fn method_path_and_query_are_raw() {
    let srv = start(|srv| {
        let ud = handler_ud(|req, resp| reply(resp, &describe(req)));
        assert_eq!(server_set_fallback(srv, Some(trampoline), ud), MR_OK);
        on(srv, "PURGE", "/cache", |req, resp| reply(resp, &describe(req)));
    });
    let p = srv.port;
    assert_eq!(
        body_of(p, "/a%20b/c?x=1&y=%20+z"),
        expect_describe("GET", "/a%20b/c", "x=1&y=%20+z", Some("t"), 11)
    );
    assert_eq!(
        body_of(p, "/plain"),
        expect_describe("GET", "/plain", "", Some("t"), 11)
    );
    assert_eq!(body_of(p, "/p?"), expect_describe("GET", "/p", "", Some("t"), 11));
    assert_eq!(body_of(p, "/"), expect_describe("GET", "/", "", Some("t"), 11));
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = roundtrip(
            p,
            format!("{m} /m?z HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), expect_describe(m, "/m", "z", Some("t"), 11));
    }
    // A method that only exists because a route was registered with it.
    let r = roundtrip(p, b"PURGE /cache HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), expect_describe("PURGE", "/cache", "", Some("t"), 11));
    // Absolute form: the path part, and the authority as the host.
    let r = roundtrip(
        p,
        b"GET http://example.com:8080/abs/x?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        expect_describe("GET", "/abs/x", "q=1", Some("example.com:8080"), 11)
    );
}

#[test]
fn host_and_http_version() {
    let srv = start(|srv| {
        on(srv, "GET", "/v", |req, resp| reply(resp, &describe(req)));
    });
    let p = srv.port;
    let r = roundtrip(p, b"GET /v HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
    assert_eq!(r.text(), expect_describe("GET", "/v", "", Some("example.com:8080"), 11));

    let r = roundtrip(p, b"GET /v HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), expect_describe("GET", "/v", "", None, 10));

    let r = roundtrip(p, b"GET /v HTTP/1.0\r\nHost: h10\r\n\r\n");
    assert_eq!(r.text(), expect_describe("GET", "/v", "", Some("h10"), 10));

    // A later 1.x minor version is treated as 1.1; the answer is HTTP/1.1.
    let r = roundtrip(p, b"GET /v HTTP/1.2\r\nHost: h12\r\n\r\n");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.raw_head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(r.text(), expect_describe("GET", "/v", "", Some("h12"), 11));
}

#[test]
fn query_params_are_decoded() {
    let srv = start(|srv| {
        on(srv, "GET", "/q", |req, resp| {
            let mut out = String::new();
            for name in [
                "q",
                "empty",
                "flag",
                "enc name",
                "plus name",
                "pct",
                "nul",
                "missing",
                "Q",
                "utf",
            ] {
                out += &format!("{name}={}\n", q(req_query_param(req, cs(name).as_ptr())));
            }
            out += &format!("null-name={}\n", q(req_query_param(req, null())));
            reply(resp, &out)
        });
    });
    let body = body_of(
        srv.port,
        "/q?q=a+b%21&q=second&empty=&flag&enc%20name=v&plus+name=w&pct=%41%2b%2F&nul=a%00b&utf=%C3%A9",
    );
    assert_eq!(
        body,
        "q=\"a b!\"\nempty=\"\"\nflag=\"\"\nenc name=\"v\"\nplus name=\"w\"\npct=\"A+/\"\n\
         nul=\"a\"\nmissing=NULL\nQ=NULL\nutf=\"é\"\nnull-name=NULL\n"
    );
    // No query at all: every parameter is absent.
    let srv2 = start(|srv| {
        on(srv, "GET", "/q", |req, resp| {
            reply(
                resp,
                &format!("{} {}", q(req_query(req)), q(req_query_param(req, c"a".as_ptr()))),
            )
        });
    });
    assert_eq!(body_of(srv2.port, "/q"), "\"\" NULL");
}

// ---- route captures and the router --------------------------------------

#[test]
fn route_params_are_percent_decoded_without_plus() {
    let srv = start(|srv| {
        on(srv, "GET", "/users/{id}", |req, resp| {
            reply(
                resp,
                &format!(
                    "id={} other={} null={}",
                    q(req_param(req, c"id".as_ptr())),
                    q(req_param(req, c"other".as_ptr())),
                    q(req_param(req, null()))
                ),
            )
        });
        on(srv, "GET", "/files/{path...}", |req, resp| {
            reply(resp, &format!("path={}", q(req_param(req, c"path".as_ptr()))))
        });
        on(srv, "GET", "/a/{x}/b/{y}", |req, resp| {
            reply(
                resp,
                &format!(
                    "x={} y={}",
                    q(req_param(req, c"x".as_ptr())),
                    q(req_param(req, c"y".as_ptr()))
                ),
            )
        });
    });
    let p = srv.port;
    assert_eq!(body_of(p, "/users/a%20b+c"), "id=\"a b+c\" other=NULL null=NULL");
    assert_eq!(body_of(p, "/users/42?id=query"), "id=\"42\" other=NULL null=NULL");
    assert_eq!(body_of(p, "/users/%2F"), "id=\"/\" other=NULL null=NULL");
    assert_eq!(
        body_of(p, "/files/dir/sub%2Fx/f%20g+h.txt"),
        "path=\"dir/sub/x/f g+h.txt\""
    );
    assert_eq!(body_of(p, "/files/one"), "path=\"one\"");
    assert_eq!(body_of(p, "/a/1/b/%7E2"), "x=\"1\" y=\"~2\"");
    // Headers are not route params, and params are not headers.
    let srv2 = start(|srv| {
        on(srv, "GET", "/h/{host}", |req, resp| {
            reply(
                resp,
                &format!(
                    "param={} header={} count={}",
                    q(req_param(req, c"Host".as_ptr())),
                    q(req_header(req, c"host".as_ptr())),
                    req_header_count(req)
                ),
            )
        });
    });
    assert_eq!(body_of(srv2.port, "/h/zz"), "param=NULL header=\"t\" count=1");
}

#[test]
fn literal_beats_param_beats_rest_whatever_the_order() {
    let srv = start(|srv| {
        // Registered in the "wrong" order on purpose.
        on(srv, "GET", "/x/{rest...}", |req, resp| {
            reply(
                resp,
                &format!("rest:{}", from_c(req_param(req, c"rest".as_ptr())).unwrap()),
            )
        });
        on(srv, "GET", "/x/{p}", |req, resp| {
            reply(
                resp,
                &format!("param:{}", from_c(req_param(req, c"p".as_ptr())).unwrap()),
            )
        });
        on(srv, "GET", "/x/lit", |_, resp| reply(resp, "literal"));
        // Backtracking: the literal branch dead-ends, the param one matches.
        on(srv, "GET", "/y/{p}/other", |req, resp| {
            reply(
                resp,
                &format!("y-param:{}", from_c(req_param(req, c"p".as_ptr())).unwrap()),
            )
        });
        on(srv, "GET", "/y/lit/end", |_, resp| reply(resp, "y-literal"));
    });
    let p = srv.port;
    assert_eq!(body_of(p, "/x/lit"), "literal");
    assert_eq!(body_of(p, "/x/other"), "param:other");
    assert_eq!(body_of(p, "/x/a/b"), "rest:a/b");
    assert_eq!(body_of(p, "/x/lit/more"), "rest:lit/more");
    assert_eq!(body_of(p, "/y/lit/end"), "y-literal");
    assert_eq!(body_of(p, "/y/lit/other"), "y-param:lit");
    assert_eq!(body_of(p, "/y/zz/other"), "y-param:zz");
    assert_eq!(get(p, "/y/zz/end").status, 404);
}

#[test]
fn not_found_versus_fallback() {
    // Built-in 404.
    let srv = start_basic(|_| {});
    let r = get(srv.port, "/nope");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n"
    );
    assert_eq!(r.body, b"404 Not Found\n");

    // A fallback answers unmatched paths, but not paths of other methods.
    let srv = start_basic(|srv| {
        let ud = handler_ud(|req, resp| {
            resp_set_status(resp, 404);
            reply(resp, &format!("fallback:{}", from_c(req_path(req)).unwrap()))
        });
        assert_eq!(server_set_fallback(srv, Some(trampoline), ud), MR_OK);
    });
    let r = get(srv.port, "/nope/deeper?x=1");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "fallback:/nope/deeper");
    let r = roundtrip(srv.port, b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405, "a path of another method is 405, not the fallback");
    assert_eq!(get(srv.port, "/").text(), "ok");

    // A NULL handler goes back to the built-in 404.
    let srv = start_basic(|srv| {
        let ud = handler_ud(|_, resp| reply(resp, "fallback"));
        assert_eq!(server_set_fallback(srv, Some(trampoline), ud), MR_OK);
        assert_eq!(server_set_fallback(srv, None, null_mut()), MR_OK);
    });
    let r = get(srv.port, "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"404 Not Found\n");

    assert_eq!(server_set_fallback(null_mut(), Some(trampoline), null_mut()), MR_EINVAL);
}

fn allow_set(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r
        .header("Allow")
        .unwrap_or_else(|| panic!("no Allow header: {r:?}"))
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn method_not_allowed_gives_405_with_allow() {
    let srv = start(|srv| {
        on(srv, "GET", "/r", |_, resp| reply(resp, "get"));
        on(srv, "POST", "/r", |_, resp| reply(resp, "post"));
        on(srv, "DELETE", "/r", |_, resp| reply(resp, "delete"));
        on(srv, "POST", "/s", |_, resp| reply(resp, "post-s"));
        on(srv, "PUT", "/p/{id}", |_, resp| reply(resp, "put-p"));
    });
    let p = srv.port;
    let r = roundtrip(p, b"PUT /r HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.reason, "Method Not Allowed");
    assert_eq!(allow_set(&r), ["DELETE", "GET", "HEAD", "POST"]);
    assert_eq!(r.body, b"405 Method Not Allowed\n");

    let r = roundtrip(p, b"GET /s HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Allow: POST\r\nContent-Length: 23\r\n\r\n"
    );
    // HEAD is only implied by GET.
    let r = roundtrip(p, b"HEAD /s HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    let r = roundtrip(p, b"GET /p/7 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("PUT"));
    // The allowed ones still work.
    let r = roundtrip(p, b"DELETE /r HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "delete");
}

#[test]
fn star_and_null_methods_match_any() {
    let srv = start(|srv| {
        on(srv, "*", "/any", |req, resp| {
            reply(resp, &format!("star:{}", from_c(req_method(req)).unwrap()))
        });
        let ud = handler_ud(|req, resp| reply(resp, &format!("null:{}", from_c(req_method(req)).unwrap())));
        assert_eq!(
            server_route(srv, null(), c"/any2".as_ptr(), Some(trampoline), ud),
            MR_OK
        );
        on(srv, "*", "/mix", |_, resp| reply(resp, "any"));
        on(srv, "GET", "/mix", |_, resp| reply(resp, "get"));
    });
    let p = srv.port;
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for (path, tag) in [("/any", "star"), ("/any2", "null")] {
            let r = roundtrip(
                p,
                format!("{m} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").as_bytes(),
            );
            assert_eq!(r.status, 200, "{m} {path}: {r:?}");
            assert_eq!(r.text(), format!("{tag}:{m}"));
        }
    }
    // An exact method beats "*".
    assert_eq!(body_of(p, "/mix"), "get");
    let r = roundtrip(p, b"POST /mix HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.text(), "any");
}

#[test]
fn head_is_served_by_the_get_route_without_a_body() {
    let srv = start(|srv| {
        on(srv, "GET", "/h", |req, resp| {
            resp_set_header(resp, c"X-Method".as_ptr(), req_method(req));
            reply(resp, "hello")
        });
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nX-Method: HEAD\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n"
    );
    assert!(r.body.is_empty());
    // The next response on the connection starts right after the head: no
    // stray body bytes were sent.
    let r = c.roundtrip(b"GET /h HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("GET"));
    assert_eq!(r.body, b"hello");
}

#[test]
fn duplicate_routes_are_refused() {
    let srv = server_new();
    assert_eq!(try_route(srv, Some("GET"), Some("/d")), MR_OK);
    assert_eq!(try_route(srv, Some("GET"), Some("/d")), MR_EINVAL);
    assert!(last_error().contains("already"), "{}", last_error());
    assert_eq!(try_route(srv, Some("POST"), Some("/d")), MR_OK);
    assert_eq!(try_route(srv, Some("*"), Some("/d")), MR_OK);
    assert_eq!(
        try_route(srv, None, Some("/d")),
        MR_EINVAL,
        "NULL and \"*\" are the same"
    );
    assert_eq!(try_route(srv, Some("GET"), Some("/u/{id}")), MR_OK);
    assert_eq!(
        try_route(srv, Some("GET"), Some("/u/{name}")),
        MR_EINVAL,
        "same shape, other name"
    );
    assert_eq!(try_route(srv, Some("POST"), Some("/u/{name}")), MR_OK);
    assert_eq!(try_route(srv, Some("GET"), Some("/f/{p...}")), MR_OK);
    assert_eq!(try_route(srv, Some("GET"), Some("/f/{q...}")), MR_EINVAL);
    assert_eq!(
        try_route(srv, Some("GET"), Some("/f/{p}")),
        MR_OK,
        "one segment is not the rest"
    );
    server_free(srv);
}

#[test]
fn invalid_patterns_and_methods_are_refused() {
    let srv = server_new();
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    for bad in [
        "",
        "noslash",
        "/{}",
        "/{a",
        "/a}",
        "/x{a}",
        "/{a}x",
        "/{rest...}/more",
        "/{a}/{a}",
        "/{a}/{a...}",
        "/a b",
        "/a?b",
        "/a#b",
        "/a\tb",
        "/{a b}",
        "/{...}",
        "/{a.b}",
    ] {
        assert_eq!(try_route(srv, Some("GET"), Some(bad)), MR_EINVAL, "pattern {bad:?}");
        assert!(!last_error().is_empty());
    }
    for bad in ["", "G T", "GET\r\n", "GE(T"] {
        assert_eq!(try_route(srv, Some(bad), Some("/ok")), MR_EINVAL, "method {bad:?}");
    }
    assert_eq!(try_route(srv, Some("GET"), None), MR_EINVAL, "NULL pattern");
    assert_eq!(
        server_route(srv, c"GET".as_ptr(), c"/ok".as_ptr(), None, null_mut()),
        MR_EINVAL,
        "NULL handler"
    );
    assert_eq!(
        server_route(
            null_mut(),
            c"GET".as_ptr(),
            c"/ok".as_ptr(),
            Some(trampoline),
            null_mut()
        ),
        MR_EINVAL
    );
    // None of that left anything behind: valid routes still work.
    on(srv, "GET", "/ok", |_, resp| reply(resp, "fine"));
    on(srv, "GET", "/", |_, resp| reply(resp, "root"));
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    assert_eq!(body_of(port, "/ok"), "fine");
    assert_eq!(body_of(port, "/"), "root");
    assert_eq!(get(port, "/a").status, 404);
    server_free(srv);
}

// ---- headers and cookies -----------------------------------------------

#[test]
fn request_headers() {
    let srv = start(|srv| {
        on(srv, "GET", "/h", |req, resp| {
            let mut out = String::new();
            for name in ["x-ONE", "X-Spaced", "host", "accept", "Missing"] {
                out += &format!("{name}={}\n", q(req_header(req, cs(name).as_ptr())));
            }
            out += &format!("null={}\n", q(req_header(req, null())));
            let n = req_header_count(req);
            out += &format!("count={n}\n");
            for i in 0..n {
                let (mut name, mut value): (*const c_char, *const c_char) = (null(), null());
                let rc = req_header_at(req, i, &mut name, &mut value);
                out += &format!("{i}:{rc}:{}:{}\n", q(name), q(value));
            }
            // Out of range: MR_EINVAL and the outputs are left alone.
            let sentinel = c"untouched".as_ptr();
            let (mut name, mut value) = (sentinel, sentinel);
            let rc = req_header_at(req, n, &mut name, &mut value);
            out += &format!("oob:{rc}:{}:{}\n", q(name), q(value));
            let rc = req_header_at(req, usize::MAX, &mut name, &mut value);
            out += &format!("max:{rc}\n");
            // NULL outputs are allowed.
            let rc1 = req_header_at(req, 1, null_mut(), &mut value);
            out += &format!("name-null:{rc1}:{}\n", q(value));
            let rc2 = req_header_at(req, 2, &mut name, null_mut());
            out += &format!("value-null:{rc2}:{}\n", q(name));
            let rc3 = req_header_at(req, 0, null_mut(), null_mut());
            out += &format!("both-null:{rc3}\n");
            out += &format!("null-req:{}\n", req_header_at(null(), 0, null_mut(), null_mut()));
            reply(resp, &out)
        });
    });
    let r = roundtrip(
        srv.port,
        b"GET /h HTTP/1.1\r\nHost: t\r\nX-One: first\r\nx-one: second\r\nX-Spaced:   padded value  \r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        format!(
            "x-ONE=\"first\"\nX-Spaced=\"padded value\"\nhost=\"t\"\naccept=\"*/*\"\nMissing=NULL\nnull=NULL\n\
             count=5\n\
             0:0:\"Host\":\"t\"\n1:0:\"X-One\":\"first\"\n2:0:\"x-one\":\"second\"\n\
             3:0:\"X-Spaced\":\"padded value\"\n4:0:\"Accept\":\"*/*\"\n\
             oob:{e}:\"untouched\":\"untouched\"\nmax:{e}\n\
             name-null:0:\"first\"\nvalue-null:0:\"x-one\"\nboth-null:0\nnull-req:{e}\n",
            e = MR_EINVAL
        )
    );
}

#[test]
fn request_cookies() {
    let srv = start(|srv| {
        on(srv, "GET", "/c", |req, resp| {
            let mut out = String::new();
            for name in ["a", "b", "c", "d", "e", "f", "novalue", "missing", "A", ""] {
                out += &format!("{name}={}\n", q(req_cookie(req, cs(name).as_ptr())));
            }
            out += &format!("null={}\n", q(req_cookie(req, null())));
            reply(resp, &out)
        });
    });
    let r = roundtrip(
        srv.port,
        b"GET /c HTTP/1.1\r\nHost: t\r\nCookie: a=1; b=\"quoted\"\r\nX-Other: 1\r\n\
          Cookie: c=3;  d = 4 ;e=%41;a=dup;novalue;f=x=y\r\n\r\n",
    );
    assert_eq!(
        r.text(),
        "a=\"1\"\nb=\"quoted\"\nc=\"3\"\nd=\"4\"\ne=\"%41\"\nf=\"x=y\"\nnovalue=NULL\nmissing=NULL\nA=NULL\n=NULL\nnull=NULL\n"
    );
    // No Cookie header at all.
    let r = roundtrip(srv.port, b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(r.text().starts_with("a=NULL\nb=NULL\n"), "{}", r.text());
}

// ---- bodies ----------------------------------------------------------------

/// Reports what req_body returned: length, bytes, the NUL after them, that
/// a second call (with `len` NULL) gives the same pointer, or the failure.
fn body_report(req: *mut mr_req) -> String {
    let mut len = usize::MAX;
    let p = req_body(req, &mut len);
    if p.is_null() {
        return format!("NULL len-untouched={} err={}", len == usize::MAX, last_error());
    }
    // SAFETY: the library promises `len` bytes plus a NUL at `p`.
    let (bytes, nul) = unsafe { (std::slice::from_raw_parts(p, len), *p.add(len)) };
    let again = req_body(req, null_mut());
    format!(
        "len={len} nul={nul} same={} body={:?}",
        again == p,
        String::from_utf8_lossy(bytes)
    )
}

fn body_server(max_body: Option<usize>) -> Running {
    start(|srv| {
        if let Some(m) = max_body {
            assert_eq!(server_set_limits(srv, 16384, m), MR_OK);
        }
        on(srv, "*", "/body", |req, resp| {
            let r = body_report(req);
            reply(resp, &r)
        });
    })
}

#[test]
fn body_with_content_length_and_chunked() {
    let srv = body_server(None);
    let p = srv.port;
    let r = roundtrip(
        p,
        b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello\0world",
    );
    assert_eq!(r.text(), "len=11 nul=0 same=true body=\"hello\\0world\"");

    let r = roundtrip(
        p,
        b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(r.text(), "len=11 nul=0 same=true body=\"hello world\"");

    // Sent byte by byte: the framing does not depend on how bytes arrive.
    let r = roundtrip_bytewise(
        p,
        b"PUT /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(r.text(), "len=3 nul=0 same=true body=\"abc\"");

    // Two requests with bodies on one connection.
    let mut c = Client::new(p);
    let r = c.roundtrip(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none");
    assert_eq!(r.text(), "len=3 nul=0 same=true body=\"one\"");
    let r = c.roundtrip(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo");
    assert_eq!(r.text(), "len=3 nul=0 same=true body=\"two\"");
}

#[test]
fn empty_body_is_not_null() {
    let srv = body_server(None);
    for req in [
        &b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"[..],
        b"GET /body HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /body HTTP/1.0\r\n\r\n",
    ] {
        let r = roundtrip(srv.port, req);
        assert_eq!(
            r.text(),
            "len=0 nul=0 same=true body=\"\"",
            "{}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn body_over_max_body_bytes_gives_413() {
    let srv = body_server(Some(10));
    let p = srv.port;
    // Exactly at the limit is fine.
    let r = roundtrip(
        p,
        b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    assert_eq!(r.text(), "len=10 nul=0 same=true body=\"0123456789\"");

    let expected_head = "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n\
                         Content-Length: 22\r\nConnection: close\r\n\r\n";
    let mut c = Client::new(p);
    let r = c.roundtrip(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n0123456789A");
    assert_eq!(r.head_without_date(), expected_head, "the handler's text is replaced");
    assert_eq!(r.body, b"413 Content Too Large\n");
    assert!(c.closed_within(IO_TIMEOUT));

    let mut c = Client::new(p);
    let r = c.roundtrip(
        b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n6789AB\r\n0\r\n\r\n",
    );
    assert_eq!(r.head_without_date(), expected_head);
    assert!(c.closed_within(IO_TIMEOUT));
    assert_healthy_body(p);
}

/// The server still answers after an error (with a body route only).
fn assert_healthy_body(port: u16) {
    let r = roundtrip(port, b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(r.text(), "len=2 nul=0 same=true body=\"ok\"");
}

#[test]
fn handler_sees_null_and_the_reason_for_a_too_large_body() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = seen.clone();
    let srv = start(|srv| {
        assert_eq!(server_set_limits(srv, 16384, 4), MR_OK);
        on(srv, "POST", "/b", move |req, resp| {
            *s2.lock().unwrap() = body_report(req);
            reply(resp, "handler")
        });
    });
    let r = roundtrip(
        srv.port,
        b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde",
    );
    assert_eq!(r.status, 413);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.starts_with("NULL len-untouched=true err="), "{seen}");
    assert!(
        seen.to_lowercase().contains("max_body_bytes") || seen.contains("large"),
        "{seen}"
    );
}

#[test]
fn form_values() {
    let srv = start(|srv| {
        on(srv, "POST", "/form", |req, resp| {
            let mut out = String::new();
            for name in ["a", "b", "c", "e n", "missing", "A"] {
                out += &format!("{name}={}\n", q(req_form_value(req, cs(name).as_ptr())));
            }
            out += &format!("null={}\n", q(req_form_value(req, null())));
            let mut len = 0;
            let p = req_body(req, &mut len);
            out += &format!(
                "raw={}\n",
                if p.is_null() {
                    "NULL".to_string()
                } else {
                    // SAFETY: `len` bytes at `p`.
                    format!(
                        "{:?}",
                        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p, len) })
                    )
                }
            );
            reply(resp, &out)
        });
    });
    let body = "a=1+2&b=%41%42%2B&a=second&c&e%20n=v";
    let r = roundtrip(
        srv.port,
        format!(
            "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(
        r.text(),
        format!("a=\"1 2\"\nb=\"AB+\"\nc=\"\"\ne n=\"v\"\nmissing=NULL\nA=NULL\nnull=NULL\nraw={body:?}\n")
    );
    // Another content type, or none: not a form.
    for ct in [
        "Content-Type: text/plain\r\n",
        "Content-Type: multipart/form-data; boundary=x\r\n",
        "",
    ] {
        let r = roundtrip(
            srv.port,
            format!(
                "POST /form HTTP/1.1\r\nHost: t\r\n{ct}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(
            r.text(),
            format!("a=NULL\nb=NULL\nc=NULL\ne n=NULL\nmissing=NULL\nA=NULL\nnull=NULL\nraw={body:?}\n"),
            "{ct:?}"
        );
    }
}

// ---- remote address ----------------------------------------------------

fn remote_route(srv: *mut mr_server) {
    on(srv, "GET", "/remote", |req, resp| {
        reply(resp, &from_c(req_remote_addr(req)).unwrap_or_default())
    });
}

#[test]
fn remote_addr_ipv4_matches_the_client_port() {
    let srv = start(remote_route);
    let mut c = Client::new(srv.port);
    let local = c.s.local_addr().unwrap();
    let r = c.roundtrip(b"GET /remote HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), format!("127.0.0.1:{}", local.port()));
    // Same connection, same address.
    let r = c.roundtrip(b"GET /remote HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), format!("127.0.0.1:{}", local.port()));
}

#[test]
fn remote_addr_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED remote_addr_ipv6: ::1 is not available on this machine");
        return;
    }
    let srv = server_new();
    assert_eq!(server_listen(srv, c"[::1]:0".as_ptr()), MR_OK);
    remote_route(srv);
    assert_eq!(server_start(srv), MR_OK, "{}", last_error());
    let port = server_port(srv, 0) as u16;
    let s = std::net::TcpStream::connect(("::1", port)).expect("connect [::1]");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let local = s.local_addr().unwrap();
    let mut c = Client { s, buf: Vec::new() };
    let r = c.roundtrip(b"GET /remote HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    assert_eq!(r.text(), format!("[::1]:{}", local.port()));
    drop(c);
    server_free(srv);
}

// ---- NULL arguments inside a handler -----------------------------------

#[test]
fn null_name_arguments_give_null_inside_a_handler() {
    let srv = start(|srv| {
        on(srv, "POST", "/n", |req, resp| {
            let vals = [
                req_header(req, null()),
                req_query_param(req, null()),
                req_param(req, null()),
                req_cookie(req, null()),
                req_form_value(req, null()),
            ];
            let all_null = vals.iter().all(|p| p.is_null());
            let err = unsafe { CStr::from_ptr(mr_last_error()) }
                .to_string_lossy()
                .into_owned();
            reply(resp, &format!("{all_null} {}", !err.is_empty()))
        });
    });
    let r = roundtrip(
        srv.port,
        b"POST /n?a=1 HTTP/1.1\r\nHost: t\r\nCookie: a=1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1",
    );
    assert_eq!(r.text(), "true true");
}

#[test]
fn expect_100_continue_is_sent_when_the_body_is_read() {
    let srv = body_server(None);
    let mut c = Client::new(srv.port);
    c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    // The interim response comes before we send the body.
    let want = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = Vec::new();
    let mut tmp = [0u8; 64];
    while got.len() < want.len() {
        use std::io::Read;
        let n = c.s.read(&mut tmp[..want.len() - got.len()]).expect("read 100 Continue");
        assert!(n > 0, "closed before 100 Continue");
        got.extend_from_slice(&tmp[..n]);
    }
    assert_eq!(got, want);
    c.send(b"hello");
    let r = c.response(false);
    assert_eq!(r.text(), "len=5 nul=0 same=true body=\"hello\"");
    // The connection is still usable.
    let r = c.roundtrip(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(r.text(), "len=2 nul=0 same=true body=\"ok\"");
}

#[test]
fn expect_100_continue_is_not_sent_when_the_body_is_not_read() {
    let srv = start_basic(|_| {});
    let mut c = Client::new(srv.port);
    // GET / never reads the body: the final answer comes without 100.
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 405, "{r:?}");
    let srv2 = start(|srv| on(srv, "POST", "/x", |_, resp| reply(resp, "unread")));
    let mut c = Client::new(srv2.port);
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "unread");
    // The body never came: the connection cannot carry another request.
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(IO_TIMEOUT));
}

#[test]
fn large_body_is_read_whole() {
    let srv = start(|srv| {
        on(srv, "POST", "/sum", |req, resp| {
            let mut len = 0;
            let p = req_body(req, &mut len);
            if p.is_null() {
                return 1;
            }
            // SAFETY: `len` bytes at `p`.
            let b = unsafe { std::slice::from_raw_parts(p, len) };
            let sum: u64 = b
                .iter()
                .enumerate()
                .map(|(i, &x)| (i as u64 % 251) * u64::from(x))
                .sum();
            reply(resp, &format!("{len} {sum}"))
        });
    });
    let body: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let sum: u64 = body
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as u64 % 251) * u64::from(x))
        .sum();
    let mut req = format!(
        "POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    assert_eq!(roundtrip(srv.port, &req).text(), format!("{} {sum}", body.len()));
    // The same, chunked in uneven pieces.
    let mut req = b"POST /sum HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(65_537) {
        req.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(roundtrip(srv.port, &req).text(), format!("{} {sum}", body.len()));
}

#[test]
fn broken_chunked_body_gives_400_and_close() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = seen.clone();
    let srv = start(|srv| {
        on(srv, "POST", "/b", move |req, resp| {
            *s2.lock().unwrap() = body_report(req);
            reply(resp, "handler")
        });
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(r.body, b"400 Bad Request\n");
    assert!(c.closed_within(IO_TIMEOUT));
    assert!(seen.lock().unwrap().starts_with("NULL"), "{}", seen.lock().unwrap());
}

#[test]
fn stalled_body_gives_408() {
    let srv = start(|srv| {
        assert_eq!(server_set_body_timeout(srv, 300), MR_OK);
        on(srv, "POST", "/b", |req, resp| {
            let r = body_report(req);
            reply(resp, &r)
        });
    });
    let mut c = Client::new(srv.port);
    let started = std::time::Instant::now();
    let r = c.roundtrip(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert!(c.closed_within(IO_TIMEOUT));
}

#[test]
fn percent_encoded_literals_match_their_decoding() {
    let srv = start(|srv| {
        on(srv, "GET", "/caf%C3%A9/{x}", |req, resp| {
            reply(
                resp,
                &format!("{} {}", q(req_path(req)), q(req_param(req, c"x".as_ptr()))),
            )
        });
    });
    // Any spelling of the same bytes reaches the route; the path stays raw.
    assert_eq!(body_of(srv.port, "/caf%c3%a9/1"), "\"/caf%c3%a9/1\" \"1\"");
    assert_eq!(body_of(srv.port, "/caf%C3%A9/%31"), "\"/caf%C3%A9/%31\" \"1\"");
    assert_eq!(get(srv.port, "/cafe/1").status, 404);
}

//! `server_*`: creating, configuring, starting and stopping a server.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::Arc;
use std::time::Duration;

use super::error::{code_of, einval, status, MR_EINTERNAL};
use super::guard::guard;
use super::resp::RespHandle;
use super::{arg_str, mr_req, mr_resp, mr_server, opt_str};
use crate::error::Error;
use crate::exchange::Exchange;
use crate::router::Handler;
use crate::server::shared::{LogFn, LogLevel};
use crate::server::Server;

/// Log level of lines about server faults (accept failed, a bug caught).
pub const MR_LOG_ERROR: c_int = 1;
/// Log level of lines about client errors (bad request, timeout).
pub const MR_LOG_WARN: c_int = 2;
/// Log level of the access line written for every request.
pub const MR_LOG_INFO: c_int = 3;

/// A request handler.
///
/// Called on a worker thread with the request, the response to fill in and
/// the `userdata` given at registration. Return 0 on success; a non-zero
/// return with nothing sent yet gives a 500, and after part of the response
/// was sent it closes the connection without finishing the body (the
/// client sees the truncation). `req` and `resp` are valid until the
/// handler returns.
pub type mr_handler =
    Option<unsafe extern "C" fn(req: *mut mr_req, resp: *mut mr_resp, userdata: *mut c_void) -> c_int>;

/// A log callback: receives one NUL-terminated line per call, at level
/// MR_LOG_ERROR, MR_LOG_WARN or MR_LOG_INFO. `line` is valid during the call.
/// Called from worker threads, possibly several at once.
pub type mr_log_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, level: c_int, line: *const c_char)>;

/// A C handler and its userdata, callable from any worker.
struct CHandler {
    f: unsafe extern "C" fn(*mut mr_req, *mut mr_resp, *mut c_void) -> c_int,
    userdata: *mut c_void,
}

// SAFETY: the header tells C users that handlers run on worker threads,
// several at once; the userdata pointer is passed back untouched.
unsafe impl Send for CHandler {}
// SAFETY: as above; calling the function does not mutate `CHandler`.
unsafe impl Sync for CHandler {}

impl CHandler {
    fn call(&self, ex: &mut Exchange<'_>) -> bool {
        let p: *mut Exchange<'_> = ex;
        let mut resp = RespHandle::Inline(p.cast());
        let r: *mut RespHandle = &mut resp;
        // SAFETY: a C function pointer supplied by the user; `p` and `r` are
        // valid for the whole call and only used through the req_/resp_
        // functions.
        unsafe { (self.f)(p.cast(), r.cast(), self.userdata) == 0 }
    }
}

fn c_handler(
    f: unsafe extern "C" fn(*mut mr_req, *mut mr_resp, *mut c_void) -> c_int,
    userdata: *mut c_void,
) -> Handler {
    let h = CHandler { f, userdata };
    Arc::new(move |ex: &mut Exchange<'_>| h.call(ex))
}

struct CLog {
    f: unsafe extern "C" fn(*mut c_void, c_int, *const c_char),
    userdata: *mut c_void,
}

// SAFETY: documented in the header: the callback is called from worker threads.
unsafe impl Send for CLog {}
// SAFETY: as above.
unsafe impl Sync for CLog {}

impl CLog {
    fn call(&self, level: LogLevel, line: &CStr) {
        // SAFETY: user-supplied callback; `line` is valid for the call.
        unsafe { (self.f)(self.userdata, level as c_int, line.as_ptr()) }
    }
}

fn server<'a>(srv: *const mr_server) -> Result<&'a Server, c_int> {
    // SAFETY: a non-NULL `mr_server` comes from `server_new` and stays valid
    // until `server_free`; only shared references are made, so a handler
    // calling `server_stop` while `server_run` waits is fine.
    match unsafe { srv.as_ref() } {
        Some(s) => Ok(&s.inner),
        None => Err(einval("server is NULL")),
    }
}

/// Creates a server with the default settings.
///
/// Defaults: workers = number of CPUs, max connections 512, max header bytes
/// 16384 with at most 64 header fields, max body 1 MiB, header timeout 10 s,
/// idle keep-alive timeout 5 s, write timeout 10 s, body timeout 10 s.
///
/// Returns: a new server, or NULL if memory is exhausted.
/// Ownership: the caller owns the server; free it with server_free.
/// Thread: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn server_new() -> *mut mr_server {
    guard(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(mr_server { inner: Server::new() }))
    })
}

/// Adds an address to listen on, bound by server_start.
///
/// `addr` is "ip:port" ("127.0.0.1:8080", "0.0.0.0:80"), "[ipv6]:port"
/// ("[::]:0", "[::1]:8080") or "localhost:port". Port 0 picks a free port
/// (see server_port). May be called several times for several listeners.
/// IPv6 listeners are IPv6-only, so "[::]:80" and "0.0.0.0:80" can coexist.
///
/// Returns: MR_OK; MR_EINVAL if an argument is NULL or not an address;
/// MR_ESTATE if the server is running.
/// Ownership: `addr` is copied.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_listen(srv: *mut mr_server, addr: *const c_char) -> c_int {
    guard(MR_EINTERNAL, || {
        let (srv, addr) = match (server(srv), arg_str(addr, "addr")) {
            (Ok(s), Ok(a)) => (s, a),
            (Err(c), _) | (_, Err(c)) => return c,
        };
        status(srv.listen(addr))
    })
}

/// Registers a handler for a method and a path pattern.
///
/// `method` is a method name ("GET", "POST", or any token such as
/// "PROPFIND"; case-sensitive), or "*" / NULL for any method the server
/// knows: the standard ones (GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH,
/// TRACE) and every method some route names. Other methods are answered 501
/// before routing (RFC 9110 §9.1), and "get" is not GET. `pattern` starts with '/' and is made of
/// literal segments, `{name}` (one segment) and `{name...}` (the rest of
/// the path, last only): "/users/{id}", "/files/{path...}". Literal beats
/// {param} beats {rest...} whatever the registration order. A path that
/// matches only routes of other methods is answered 405 with an `Allow`
/// header; a GET route also answers HEAD (without the body).
///
/// Returns: MR_OK; MR_EINVAL for a NULL argument, a bad method or pattern,
/// or a route already registered for that method and pattern; MR_ESTATE if
/// the server is running.
/// Ownership: `method` and `pattern` are copied; `userdata` is passed to
/// every call of `handler` and stays the caller's.
/// Thread: any thread, not concurrently with server_start. The handler
/// itself runs on worker threads, possibly on several at once.
#[unsafe(no_mangle)]
pub extern "C" fn server_route(
    srv: *mut mr_server,
    method: *const c_char,
    pattern: *const c_char,
    handler: mr_handler,
    userdata: *mut c_void,
) -> c_int {
    guard(MR_EINTERNAL, || {
        let srv = match server(srv) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let method = match opt_str(method, "method") {
            Ok(m) => m,
            Err(c) => return c,
        };
        let pattern = match arg_str(pattern, "pattern") {
            Ok(p) => p,
            Err(c) => return c,
        };
        let Some(f) = handler else {
            return einval("handler is NULL");
        };
        status(srv.route(method, pattern, c_handler(f, userdata), None))
    })
}

/// Registers a handler under a name, for resp_redirect_route.
///
/// As server_route, plus `name` (unique per server), the seed's
/// `redirect(view=Index)`: resp_redirect_route(resp, "index") then sends a
/// 302 to the route's path.
///
/// Returns: the codes of server_route; MR_EINVAL also for a NULL, empty or
/// already used `name`.
/// Ownership: `name`, `method` and `pattern` are copied; `userdata` stays
/// the caller's.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_route_named(
    srv: *mut mr_server,
    name: *const c_char,
    method: *const c_char,
    pattern: *const c_char,
    handler: mr_handler,
    userdata: *mut c_void,
) -> c_int {
    guard(MR_EINTERNAL, || {
        let srv = match server(srv) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let args = (
            arg_str(name, "name"),
            opt_str(method, "method"),
            arg_str(pattern, "pattern"),
        );
        let (name, method, pattern) = match args {
            (Ok(n), Ok(m), Ok(p)) => (n, m, p),
            (Err(c), ..) | (_, Err(c), _) | (.., Err(c)) => return c,
        };
        let Some(f) = handler else {
            return einval("handler is NULL");
        };
        status(srv.route(method, pattern, c_handler(f, userdata), Some(name)))
    })
}

/// Sets the folder resp_load_template loads Jinja2 templates from.
///
/// Template names are paths relative to it ("pages/about.html") and cannot
/// leave it (no `.`/`..` segments; links out of the folder are not
/// followed).
///
/// Returns: MR_OK; MR_EINVAL for NULL arguments; MR_ENOTFOUND if `dir` is
/// not an existing folder; MR_ESTATE if the server is running;
/// MR_EUNSUPPORTED in a build without the `templates` feature.
/// Ownership: `dir` is copied.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_templates_dir(srv: *mut mr_server, dir: *const c_char) -> c_int {
    guard(MR_EINTERNAL, || match (server(srv), arg_str(dir, "dir")) {
        (Ok(s), Ok(d)) => status(s.set_templates_dir(d)),
        (Err(c), _) | (_, Err(c)) => c,
    })
}

/// Turns reloading of changed template files on (non-zero) or off (0).
///
/// On by default; turn it off in production to skip the file checks.
///
/// While on, the template folder is checked at most once a second and the
/// compiled templates are dropped when a file in it changed.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if the server is
/// running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_templates_reload(srv: *mut mr_server, enabled: c_int) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => status(s.set_templates_reload(enabled != 0)),
        Err(c) => c,
    })
}

/// Sets the handler for requests that match no route (instead of 404).
///
/// A path that matches a route of another method still gets 405. Pass a
/// NULL handler to go back to the built-in 404.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
/// Ownership: `userdata` stays the caller's.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_fallback(srv: *mut mr_server, handler: mr_handler, userdata: *mut c_void) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => status(s.set_fallback(handler.map(|f| c_handler(f, userdata)))),
        Err(c) => c,
    })
}

/// Static folder flag: list a folder that has no `index.html` (HTML-escaped).
pub const MR_STATIC_LISTING: c_uint = 1;
/// Static folder flag: follow symbolic links that lead out of the folder.
pub const MR_STATIC_FOLLOW_SYMLINKS: c_uint = 2;
/// Static folder flag: ignore pre-compressed `.br` / `.gz` twins.
pub const MR_STATIC_NO_PRECOMPRESSED: c_uint = 4;

/// Serves a folder under a URL prefix (GET and HEAD).
///
/// `GET /static/css/site.css` with server_static(srv, "/static", "www")
/// sends `www/css/site.css` as resp_send_file does (types, ETag,
/// Last-Modified, 304, ranges, HEAD). A folder gets its `index.html`; a
/// folder asked without its trailing slash is redirected (301) to the slash
/// form; a folder without `index.html` gets 403 (no listing; see
/// server_static_ex). Pre-compressed twins are used when the client accepts
/// them: `file.br` (br) or `file.gz` (gzip), with `Content-Encoding` and
/// `Vary: Accept-Encoding`. What is opened always stays inside the folder:
/// each path segment is decoded once; `.` and `..` segments and encoded
/// `/`, `\` or NUL get 400; the result is compared with the folder by path
/// components after resolving symbolic links (a link out of the folder
/// gives 404); only regular files are sent. Routes registered for paths
/// under the prefix keep priority.
///
/// Returns: MR_OK; MR_EINVAL for a NULL argument or a prefix not starting
/// with '/' or holding dot segments, braces, '%', '?', '#' or controls;
/// MR_ENOTFOUND if `dir` is not an existing folder; MR_ESTATE if the server
/// is running; MR_EINVAL if routes already cover that prefix.
/// Ownership: `url_prefix` and `dir` are copied (the folder is resolved to
/// its real path now, and looked up by that path for each request: a
/// folder replaced there, as deployments do, is served at once). Each
/// worker keeps the last 16 files it sent from static folders open, and
/// checks each against its path (one stat) before sending it again, so a
/// file changed, replaced or removed is sent as it is now; a removed
/// file's descriptor, and its disk space, is released when the path is
/// next asked for, when newer files push it out, or when the server
/// stops.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_static(srv: *mut mr_server, url_prefix: *const c_char, dir: *const c_char) -> c_int {
    guard(MR_EINTERNAL, || {
        server_static_ex(srv, url_prefix, dir, 0, std::ptr::null(), std::ptr::null())
    })
}

/// Serves a folder under a URL prefix, with options.
///
/// As server_static, plus: `flags`, a combination of MR_STATIC_LISTING,
/// MR_STATIC_FOLLOW_SYMLINKS and MR_STATIC_NO_PRECOMPRESSED;
/// `cache_control` (NULL: none), a `Cache-Control` value added to the
/// mount's answers (files, 304, 206/416, folder redirects; not the
/// 400/403/404 error pages), e.g. "public, max-age=3600";
/// `spa_fallback` (NULL: none), a file relative to the folder
/// ("index.html") answered for paths that do not exist, for single-page
/// applications.
///
/// Returns: as server_static; MR_EINVAL also for unknown flags, an invalid
/// `cache_control` value or an `spa_fallback` that is absolute or has `.`,
/// `..` or empty segments.
/// Ownership: all strings are copied.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_static_ex(
    srv: *mut mr_server,
    url_prefix: *const c_char,
    dir: *const c_char,
    flags: c_uint,
    cache_control: *const c_char,
    spa_fallback: *const c_char,
) -> c_int {
    guard(MR_EINTERNAL, || {
        let srv = match server(srv) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let args = (
            arg_str(url_prefix, "url_prefix"),
            arg_str(dir, "dir"),
            opt_str(cache_control, "cache_control"),
            opt_str(spa_fallback, "spa_fallback"),
        );
        match args {
            (Ok(p), Ok(d), Ok(cc), Ok(spa)) => status(srv.static_dir(p, d, flags, cc, spa)),
            (Err(c), ..) | (_, Err(c), ..) | (_, _, Err(c), _) | (.., Err(c)) => c,
        }
    })
}

fn configure(srv: *mut mr_server, f: impl FnOnce(&mut crate::config::Config) -> Result<(), Error>) -> c_int {
    match server(srv) {
        Ok(s) => status(s.update_config(f)),
        Err(c) => c,
    }
}

/// Sets the number of worker threads (0: one per CPU, the default).
///
/// Handlers run inline on workers: a handler that blocks holds one worker
/// while the others keep serving. On Linux a connection stays on one worker
/// (each new one goes to the worker with the fewest open connections), so
/// the other connections of a worker whose handler blocks wait for it.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `n` > 1024; MR_ESTATE if
/// running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_workers(srv: *mut mr_server, n: c_uint) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            if n > 1024 {
                return Err(Error::invalid("at most 1024 workers"));
            }
            c.workers = n as usize;
            Ok(())
        })
    })
}

/// Sets the most connections open at once (default 512).
///
/// When the limit is reached, the keep-alive connection that has waited
/// longest for its next request is closed to admit the new one (see
/// server_set_lru_purge). When none is idle, the new connection is
/// answered `503 Service Unavailable` with `Retry-After: 1` and closed.
/// On firmware keep it below the socket limit (`CONFIG_LWIP_MAX_SOCKETS`)
/// minus the listener and the reactor's descriptors.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `n` is 0; MR_ESTATE if
/// running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_max_connections(srv: *mut mr_server, n: c_uint) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            if n == 0 {
                return Err(Error::invalid("max connections must be at least 1"));
            }
            c.max_connections = n as usize;
            Ok(())
        })
    })
}

/// Sets the request size limits.
///
/// `max_header_bytes` bounds the request line plus header fields (default
/// 16384; a larger head gets 431, or 414 when the request line alone is
/// too long). `max_body_bytes` bounds what the library buffers for
/// req_body and req_form_value (default 1 MiB; a larger body gets 413).
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `max_header_bytes` is
/// below 256 or above 1 MiB; MR_ESTATE if running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_limits(srv: *mut mr_server, max_header_bytes: usize, max_body_bytes: usize) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            if !(256..=1024 * 1024).contains(&max_header_bytes) {
                return Err(Error::invalid("max_header_bytes must be within 256..=1048576"));
            }
            c.max_header_bytes = max_header_bytes;
            c.max_body_bytes = max_body_bytes.min(isize::MAX as usize - 1);
            Ok(())
        })
    })
}

/// Sets the most header fields a request may have (default 64; more get 431).
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `n` is not within
/// 1..=1024; MR_ESTATE if running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_max_headers(srv: *mut mr_server, n: c_uint) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            if !(1..=1024).contains(&n) {
                return Err(Error::invalid("max headers must be within 1..=1024"));
            }
            c.max_headers = n as usize;
            Ok(())
        })
    })
}

fn ms(v: c_uint, what: &str) -> Result<Duration, Error> {
    if v == 0 {
        return Err(Error::invalid(format!("{what} must be at least 1 ms")));
    }
    Ok(Duration::from_millis(u64::from(v)))
}

/// Sets the timeouts, in milliseconds.
///
/// `header_ms` (default 10000): total time for a request head, counted from
/// its first byte; trickling bytes does not extend it. Expiry gets 408 and
/// a close. `idle_ms` (default 5000): how long a kept-alive connection (or
/// a new one) may wait for the next request before it is closed.
/// `write_ms` (default 10000): how long the client may take no data while a
/// response is written; then sending fails with MR_ETIMEDOUT and the
/// connection closes.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or a value is 0; MR_ESTATE if
/// running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_timeouts(
    srv: *mut mr_server,
    header_ms: c_uint,
    idle_ms: c_uint,
    write_ms: c_uint,
) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            c.header_timeout = ms(header_ms, "header_ms")?;
            c.idle_timeout = ms(idle_ms, "idle_ms")?;
            c.write_timeout = ms(write_ms, "write_ms")?;
            Ok(())
        })
    })
}

/// Limits the connections one client address may hold open.
///
/// 0, the default, means no limit. A connection over the limit is answered `503 Service Unavailable` with
/// `Retry-After: 1` and closed; other addresses are unaffected. IPv4 and
/// IPv6 addresses are counted as the peer address the socket reports.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_max_connections_per_ip(srv: *mut mr_server, n: c_uint) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            c.max_connections_per_ip = n as usize;
            Ok(())
        })
    })
}

/// Turns the "LRU purge" on (nonzero, the default) or off (0).
///
/// On: at the connection limit, the keep-alive connection idle the
/// longest is closed (quietly, between requests) to admit a new one, as
/// esp_http_server's `lru_purge_enable` does. Off: new connections get
/// `503` with `Retry-After: 1` until one closes by itself. A request whose
/// first bytes already arrived is never cut off by a purge.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_lru_purge(srv: *mut mr_server, enable: c_int) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            c.lru_purge = enable != 0;
            Ok(())
        })
    })
}

/// Sets the request-body read timeout.
///
/// Sets how long the client may send no request-body bytes while a handler
/// reads the body (default 10000 ms). Expiry answers 408 and closes.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `body_ms` is 0;
/// MR_ESTATE if running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_body_timeout(srv: *mut mr_server, body_ms: c_uint) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            c.body_timeout = ms(body_ms, "body_ms")?;
            Ok(())
        })
    })
}

/// Sets the stack size of the server's own threads, in bytes.
///
/// Applies to the worker threads (where handlers run) and to the thread
/// that finishes a stop. 0, the default, keeps the platform's default
/// (8 MiB on Linux; on ESP-IDF set it, e.g. 8192–16384, sized for the
/// deepest handler). Other threads are not the server's: the reactor
/// thread and the pool that runs resp_stream producers take their stacks
/// from `RUST_MIN_STACK` and their count from `BLOCKING_MAX_THREADS`
/// (both environment variables, read once at first use).
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `bytes` is nonzero and
/// below 8192; MR_ESTATE if running.
/// Ownership: none.
/// Thread: any thread, not concurrently with server_start.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_stack_size(srv: *mut mr_server, bytes: usize) -> c_int {
    guard(MR_EINTERNAL, || {
        configure(srv, |c| {
            if bytes != 0 && bytes < 8192 {
                return Err(Error::invalid(format!("stack size {bytes} is below 8192 bytes")));
            }
            c.stack_size = bytes;
            Ok(())
        })
    })
}

/// Sets a callback for log lines, or turns logging off (NULL `log_fn`).
///
/// One MR_LOG_INFO access line per request:
/// `127.0.0.1:50312 "GET /path?q HTTP/1.1" 200 5 0.042ms`
/// (remote address, request line, status, body bytes sent, duration), and
/// MR_LOG_WARN / MR_LOG_ERROR lines for bad requests, timeouts and server
/// faults. Logging costs nothing when no callback is set.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
/// Ownership: `userdata` stays the caller's; `line` is valid only during
/// the callback.
/// Thread: any thread, not concurrently with server_start. The callback
/// runs on worker threads, possibly on several at once.
#[unsafe(no_mangle)]
pub extern "C" fn server_set_log(srv: *mut mr_server, log_fn: mr_log_fn, userdata: *mut c_void) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => {
            let log: Option<LogFn> = log_fn.map(|f| {
                let l = CLog { f, userdata };
                Arc::new(move |level: LogLevel, line: &CStr| l.call(level, line)) as LogFn
            });
            status(s.set_log(log))
        }
        Err(c) => c,
    })
}

/// Binds every listener and starts serving; returns at once.
///
/// Binding happens in the calling thread, so a busy or invalid address
/// fails here. Serving goes on in the worker threads until server_stop.
/// Configuration calls fail with MR_ESTATE while the server runs. A stopped
/// server may be started again.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_EADDR if an address
/// cannot be bound (detail in mr_last_error); MR_ESTATE if already running
/// or no address was added with server_listen; MR_EIO if a thread could
/// not be started.
/// Ownership: none.
/// Thread: any thread except a handler of this server.
#[unsafe(no_mangle)]
pub extern "C" fn server_start(srv: *mut mr_server) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => status(s.start()),
        Err(c) => c,
    })
}

/// The port a listener is bound to (the one the system chose for port 0).
///
/// Listeners are numbered from 0 in server_listen order.
///
/// Returns: the port (1..65535); MR_EINVAL if `srv` is NULL or there is no
/// such listener; MR_ESTATE if the server was never started.
/// Ownership: none.
/// Thread: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn server_port(srv: *const mr_server, listener_index: usize) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => match s.port(listener_index) {
            Ok(p) => c_int::from(p),
            Err(e) => code_of(&e),
        },
        Err(c) => c,
    })
}

/// Starts the server if needed and blocks until it is stopped.
///
/// Starts the server if needed, then blocks until it is stopped (by
/// server_stop from a handler or another thread).
///
/// Returns: MR_OK once stopped; MR_EINVAL if `srv` is NULL; the codes of
/// server_start; MR_ESTATE when called from a handler of this server.
/// Ownership: none.
/// Thread: any thread except a handler of this server.
#[unsafe(no_mangle)]
pub extern "C" fn server_run(srv: *mut mr_server) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => status(s.run()),
        Err(c) => c,
    })
}

/// Stops the server gracefully.
///
/// Listeners close at once (new connections are refused), idle connections
/// close, requests in progress may finish for up to `grace_ms`; then what
/// is left is closed. Handlers that are running are not interrupted: the
/// stop completes when they return. Stopping a server that is not running
/// does nothing.
///
/// Called from a handler of this server it begins the stop and returns at
/// once (the current response is still sent). From any other thread it
/// returns when the server has stopped.
///
/// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_EIO if the stop thread
/// could not be started.
/// Ownership: none.
/// Thread: any thread, including a handler.
#[unsafe(no_mangle)]
pub extern "C" fn server_stop(srv: *mut mr_server, grace_ms: c_uint) -> c_int {
    guard(MR_EINTERNAL, || match server(srv) {
        Ok(s) => status(s.stop(Duration::from_millis(u64::from(grace_ms)))),
        Err(c) => c,
    })
}

/// Stops the server if it runs (no grace period) and frees it.
///
/// Returns: nothing. NULL is a no-op.
/// Ownership: takes `srv`; it must not be used afterwards. Userdata given
/// to handlers and the log callback is not freed: it stays the caller's.
/// Thread: any thread, once no other thread uses `srv`. Do not call it from
/// one of the server's own handlers.
#[unsafe(no_mangle)]
pub extern "C" fn server_free(srv: *mut mr_server) {
    guard((), || {
        if srv.is_null() {
            return;
        }
        // SAFETY: `srv` came from `server_new` (Box::into_raw) and the caller
        // gives it back exactly once.
        drop(unsafe { Box::from_raw(srv) });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::static_flags;

    #[test]
    fn static_flags_match_the_core() {
        assert_eq!(MR_STATIC_LISTING, static_flags::LISTING);
        assert_eq!(MR_STATIC_FOLLOW_SYMLINKS, static_flags::FOLLOW_SYMLINKS);
        assert_eq!(MR_STATIC_NO_PRECOMPRESSED, static_flags::NO_PRECOMPRESSED);
        assert_eq!(
            MR_STATIC_LISTING | MR_STATIC_FOLLOW_SYMLINKS | MR_STATIC_NO_PRECOMPRESSED,
            static_flags::ALL
        );
    }
}

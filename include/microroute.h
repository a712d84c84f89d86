/*
 * microroute: an embeddable HTTP/1.1 server library with a stable C ABI.
 *
 * GENERATED FILE: do not edit. build.rs writes it with cbindgen from src/ffi/.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */

#ifndef MICROROUTE_H
#define MICROROUTE_H

#include <stddef.h>
#include <stdint.h>

// Success.
#define MR_OK 0

// Bad argument: NULL, invalid header name/value (CR, LF, NUL), bad status code, invalid JSON, a string argument that is not UTF-8 (any function), a length above PTRDIFF_MAX, an empty key in a JSON path (req_json_* too).
#define MR_EINVAL -1

// Not valid now: header change after headers were sent, body after a redirect or abort, configuration after `server_start`.
#define MR_ESTATE -2

// The peer did not take (or send) the data within the timeout.
#define MR_ETIMEDOUT -3

// The connection is closed (the peer went away, or `resp_close` was called).
#define MR_ECLOSED -4

// Another I/O error (detail in `mr_last_error`).
#define MR_EIO -5

// A file, template or route name does not exist.
#define MR_ENOTFOUND -6

// A path escapes its root, or is not a regular file.
#define MR_EFORBIDDEN -7

// A configured limit was exceeded.
#define MR_ETOOLARGE -8

// Cannot bind or listen on the address.
#define MR_EADDR -9

// The feature is not compiled into this build.
#define MR_EUNSUPPORTED -10

// An internal fault was caught at the boundary (a bug: please report it).
#define MR_EINTERNAL -11

// Major version of the library this header belongs to.
#define MR_VERSION_MAJOR 0

// Minor version of the library this header belongs to.
#define MR_VERSION_MINOR 1

// Patch version of the library this header belongs to.
#define MR_VERSION_PATCH 0

// Cookie flag: `Secure` (sent over HTTPS only).
#define MR_COOKIE_SECURE 1

// Cookie flag: `HttpOnly` (hidden from scripts).
#define MR_COOKIE_HTTPONLY 2

// Cookie flag: `SameSite=Lax`.
#define MR_COOKIE_SAMESITE_LAX 4

// Cookie flag: `SameSite=Strict`.
#define MR_COOKIE_SAMESITE_STRICT 8

// Cookie flag: `SameSite=None` (requires MR_COOKIE_SECURE).
#define MR_COOKIE_SAMESITE_NONE 16

// Log level of lines about server faults (accept failed, a bug caught).
#define MR_LOG_ERROR 1

// Log level of lines about client errors (bad request, timeout).
#define MR_LOG_WARN 2

// Log level of the access line written for every request.
#define MR_LOG_INFO 3

// Static folder flag: list a folder that has no `index.html` (HTML-escaped).
#define MR_STATIC_LISTING 1

// Static folder flag: follow symbolic links that lead out of the folder.
#define MR_STATIC_FOLLOW_SYMLINKS 2

// Static folder flag: ignore pre-compressed `.br` / `.gz` twins.
#define MR_STATIC_NO_PRECOMPRESSED 4

// The request being handled. Valid until the handler returns.
typedef struct mr_req mr_req;

// The response being built. Valid until the handler returns.
typedef struct mr_resp mr_resp;

// An HTTP server. Create with `server_new`, free with `server_free`.
typedef struct mr_server mr_server;

// A body producer for resp_stream.
//
// Called on a thread of the library's blocking pool, never on a worker,
// so it may block or sleep. Fill `buf` with up to `cap` bytes and return
// the count; return 0 at the end of the body, or a negative value on an
// error (the connection is then closed without finishing the body).
typedef ptrdiff_t (*mr_stream_fn)(void *userdata, void *buf, size_t cap);

// Releases a producer's userdata; called exactly once.
typedef void (*mr_free_fn)(void *userdata);

// A request handler.
//
// Called on a worker thread with the request, the response to fill in and
// the `userdata` given at registration. Return 0 on success; a non-zero
// return with nothing sent yet gives a 500, and after part of the response
// was sent it closes the connection without finishing the body (the
// client sees the truncation). `req` and `resp` are valid until the
// handler returns.
typedef int (*mr_handler)(mr_req *req, mr_resp *resp, void *userdata);

// A log callback: receives one NUL-terminated line per call, at level
// MR_LOG_ERROR, MR_LOG_WARN or MR_LOG_INFO. `line` is valid during the call.
// Called from worker threads, possibly several at once.
typedef void (*mr_log_fn)(void *userdata, int level, const char *line);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// The library version as a string, e.g. "0.1.0".
//
// Compare with MR_VERSION_MAJOR/MINOR/PATCH to detect a header/library
// mismatch at run time.
//
// Returns: a static NUL-terminated string, never NULL.
// Ownership: the string belongs to the library; do not free it.
// Thread: any thread.
const char *mr_version(void);

// The fixed English text of an `MR_*` code.
//
// Returns: a static NUL-terminated string, never NULL ("unknown error
// code" for values that are not codes).
// Ownership: the string belongs to the library; do not free it.
// Thread: any thread.
const char *mr_strerror(int code);

// Detail about the last call that failed on this thread.
//
// Says which argument, which limit or which OS error. Successful calls do
// not clear it.
//
// Returns: a NUL-terminated string, "" if nothing failed yet; never NULL.
// Ownership: owned by the library; valid until the next failing call on
// this thread. Copy it to keep it.
// Thread: thread-local: each thread sees its own last error.
const char *mr_last_error(void);

// The MIME type for a file name (seed: MIME_TYPES_MAP).
//
// Looked up by extension, case-insensitively, in the table resp_send_file
// uses. Text types carry `; charset=utf-8` ("text/html; charset=utf-8",
// "application/json; charset=utf-8"); others are bare ("image/png").
//
// Returns: a static NUL-terminated string, never NULL;
// "application/octet-stream" for an unknown or missing extension, a NULL
// `path` or a path that is not UTF-8.
// Ownership: the string belongs to the library and lives forever; do not
// free it. `path` is only read.
// Thread: any thread.
const char *mr_mime_for_path(const char *path);

// The code of the last call that failed on this thread.
//
// For the calls that return a pointer (NULL on failure), such as req_body
// or req_json_str: the MR_E* code behind the NULL (MR_ETOOLARGE,
// MR_ENOTFOUND, ...). Successful calls do not clear it.
//
// Returns: a negative MR_E* code; MR_OK if nothing failed yet on this
// thread.
// Ownership: none.
// Thread: thread-local, like mr_last_error.
int mr_last_error_code(void);

// The request method, e.g. "GET" (case-sensitive, as received).
//
// Returns: the method, or NULL if `req` is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_method(const mr_req *req);

// The request path as received, without the query.
//
// The request path as received (still percent-encoded), without the query:
// "/a%20b" for "GET /a%20b?x=1". For an absolute-form request
// ("GET http://host/p") it is the path part ("/p").
//
// Returns: the path, or NULL if `req` is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_path(const mr_req *req);

// The raw query string without the '?' ("" when there is none).
//
// Returns: the query, or NULL if `req` is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_query(const mr_req *req);

// The first value of a query parameter, decoded.
//
// The first value of a query parameter, percent-decoded with '+' as a
// space ("?q=a+b%21" gives "a b!"). A parameter without '=' has the value "".
// Names are compared after decoding, case-sensitively.
//
// Returns: the value; NULL if there is no such parameter or an argument is
// NULL. A decoded "%00" ends the C string early.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_query_param(mr_req *req, const char *name);

// A route capture, percent-decoded.
//
// A route capture: for the pattern "/users/{id}" and the path
// "/users/a%20b", req_param(req, "id") is "a b" (percent-decoded; '+' stays
// '+'). A `{rest...}` capture holds the rest of the path, slashes included.
//
// Returns: the value, or NULL if the route has no such parameter or an
// argument is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_param(const mr_req *req, const char *name);

// The first value of a request header.
//
// The first value of a request header; the name is case-insensitive.
// Use req_header_at to see repeated headers.
//
// Returns: the value (without surrounding whitespace), or NULL if the
// header is absent or an argument is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_header(const mr_req *req, const char *name);

// The number of header fields in the request (repeated ones counted).
//
// Returns: the count; 0 if `req` is NULL.
// Ownership: none.
// Thread: the thread running the handler.
size_t req_header_count(const mr_req *req);

// The header field at `index`, in the order received.
//
// The header field at `index` (0-based, in the order received). Either
// output pointer may be NULL if not wanted; outputs are written only on
// success.
//
// Returns: MR_OK; MR_EINVAL if `req` is NULL or `index` is not below
// req_header_count.
// Ownership: `*name` and `*value` are borrowed; valid until the handler
// returns.
// Thread: the thread running the handler.
int req_header_at(const mr_req *req, size_t index, const char **name, const char **value);

// A cookie sent by the client.
//
// A cookie sent by the client (from all Cookie headers), as sent: cookies
// are not percent-decoded (RFC 6265); surrounding double quotes are removed.
//
// Returns: the value, or NULL if there is no such cookie or an argument is
// NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_cookie(mr_req *req, const char *name);

// The whole request body, buffered by the library.
//
// The whole request body, read now if it was not yet (Content-Length or
// chunked). For a client that sent `Expect: 100-continue`, this is when
// `100 Continue` is sent. The body is followed by a NUL byte that `*len`
// does not count, so a text body can be used as a C string.
//
// A body larger than max_body_bytes is not read: the call fails and the
// library answers 413 instead of the handler's response. A body whose
// framing is broken (bad chunk, premature end) fails the same way with 400
// (408 if the client stalls); the connection is then closed.
//
// Returns: a pointer to the body (never NULL on success, even when empty)
// and its length in `*len` (`len` may be NULL); NULL on failure, with the
// reason in mr_last_error: too large, broken framing, timeout, or `req`
// NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler. It blocks while the body
// arrives (at most the body timeout between two reads).
const uint8_t *req_body(mr_req *req, size_t *len);

// Reads the next piece of the request body into `buf`.
//
// Streams a body of any size, Content-Length or chunked, in pieces the
// handler pulls: an OTA image or an upload larger than RAM. max_body_bytes
// does not apply (it bounds only what the library buffers for req_body).
// The first call sends `100 Continue` to a client that asked for it. Each
// call blocks until some bytes arrive (at most the body timeout between
// two pieces) and returns at most `cap` bytes of body data, never framing.
// req_body and req_read are alternatives: after one has consumed the body
// the other returns what is left (nothing).
//
// A body whose framing breaks (bad chunk, premature end) fails the call,
// and the library then answers 400 with `Connection: close` (408 after a
// stall) instead of the handler's response, or closes the connection if
// the response was already started.
//
// Returns: the number of bytes written to `buf` (> 0); 0 at the end of the
// body (also for a request without one); MR_EINVAL if `req` or `buf` is
// NULL or `cap` is 0, or the chunked framing is invalid; MR_ECLOSED if the
// client went away before the end; MR_ETIMEDOUT if it stalled for the body
// timeout; MR_ESTATE after an earlier failure.
// Ownership: writes into the caller's `buf` (`cap` bytes); keeps nothing.
// Thread: the thread running the handler; blocks while the body arrives.
ptrdiff_t req_read(mr_req *req, void *buf, size_t cap);

// A field of an urlencoded form body.
//
// A field of an `application/x-www-form-urlencoded` body, percent-decoded
// with '+' as a space; the first value if repeated. Reads the body like
// req_body if needed.
//
// Returns: the value; NULL if the body is not a urlencoded form, has no
// such field, could not be read (see req_body), or an argument is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_form_value(mr_req *req, const char *name);

// The client's address as "ip:port" ("127.0.0.1:50312", "[::1]:50312").
//
// Returns: the address, or NULL if `req` is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_remote_addr(const mr_req *req);

// The request's host.
//
// The request's host: the authority of an absolute-form target
// ("GET http://x/y" gives "x"), else the Host header, as sent
// ("example.com:8080").
//
// Returns: the host; NULL if the request has none (HTTP/1.0 without Host)
// or `req` is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_host(const mr_req *req);

// The request's HTTP version: 10 or 11.
//
// The request's HTTP version: 10 for HTTP/1.0, 11 for HTTP/1.1 (later 1.x
// minor versions are treated as 1.1).
//
// Returns: 10 or 11; MR_EINVAL if `req` is NULL.
// Ownership: none.
// Thread: the thread running the handler.
int req_http_version(const mr_req *req);

// A string from the request's JSON body.
//
// The body is read (as req_body, within max_body_bytes) and parsed as JSON
// once per request. `path` is dotted ("user.name"); array elements are
// addressed by index ("items.0.id").
//
// Returns: the string; NULL if there is no value there (MR_ENOTFOUND in
// mr_last_error), it is not a string, the body is not JSON or could not
// be read, or an argument is NULL (MR_EINVAL / the req_body codes).
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_json_str(mr_req *req, const char *path);

// An integer from the request's JSON body (see req_json_str).
//
// Returns: MR_OK with the value in `*out`; MR_ENOTFOUND if there is no
// value at `path`; MR_EINVAL if it is not an integer that fits int64_t,
// the body is not JSON, or an argument is NULL; the req_body codes if the
// body could not be read. `*out` is written only on MR_OK.
// Ownership: writes `*out`.
// Thread: the thread running the handler.
int req_json_int(mr_req *req, const char *path, int64_t *out);

// A number from the request's JSON body.
//
// See req_json_str; integers are converted.
//
// Returns: MR_OK with the value in `*out`; MR_ENOTFOUND; MR_EINVAL if it is
// not a number, the body is not JSON, or an argument is NULL; the req_body
// codes. `*out` is written only on MR_OK.
// Ownership: writes `*out`.
// Thread: the thread running the handler.
int req_json_double(mr_req *req, const char *path, double *out);

// A boolean from the request's JSON body: 1 for true, 0 for false.
//
// See req_json_str.
//
// Returns: MR_OK with the value in `*out`; MR_ENOTFOUND; MR_EINVAL if it is
// not true or false, the body is not JSON, or an argument is NULL; the
// req_body codes. `*out` is written only on MR_OK.
// Ownership: writes `*out`.
// Thread: the thread running the handler.
int req_json_bool(mr_req *req, const char *path, int *out);

// Any value from the request's JSON body, as compact JSON text.
//
// Objects, arrays, numbers, ...; a string comes with its quotes.
//
// `path` NULL gives the whole document (checked to be JSON).
//
// Returns: the JSON text; NULL if there is no value at `path`
// (MR_ENOTFOUND in mr_last_error), the body is not JSON or could not be
// read, or `req` is NULL.
// Ownership: borrowed; valid until the handler returns.
// Thread: the thread running the handler.
const char *req_json_raw(mr_req *req, const char *path);

// Sets the status code sent with the response (default 200).
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL or `code` is outside
// 100..=999; MR_ESTATE if the head was already sent.
// Ownership: borrows `resp`, valid until the handler returns.
// Thread: the thread running the handler.
int resp_set_status(mr_resp *resp, int code);

// The status code set so far (200 unless changed).
//
// Returns: the code; MR_EINVAL if `resp` is NULL.
// Ownership: none.
// Thread: the thread running the handler.
int resp_status(const mr_resp *resp);

// Sets a response header, replacing every earlier value of that name.
//
// Names must be tokens; values may not contain CR, LF, NUL or other
// control characters (except tab) or start/end with whitespace: such
// calls fail and nothing is emitted. The library owns framing:
// `Transfer-Encoding` is refused, `Connection` accepts only "close" or
// "keep-alive", and `Content-Length` (a decimal number) is only used for a
// body sent with resp_send (buffered bodies get their real length).
//
// Returns: MR_OK; MR_EINVAL for a NULL or invalid argument; MR_ESTATE if
// the head was already sent.
// Ownership: `name` and `value` are copied.
// Thread: the thread running the handler.
int resp_set_header(mr_resp *resp, const char *name, const char *value);

// Adds a response header, keeping earlier values of that name.
//
// Adds a response header, keeping earlier values of that name (for headers
// that may repeat, such as `Link` or `Vary`). Validated as resp_set_header.
//
// Returns: MR_OK; MR_EINVAL for a NULL or invalid argument; MR_ESTATE if
// the head was already sent.
// Ownership: `name` and `value` are copied.
// Thread: the thread running the handler.
int resp_add_header(mr_resp *resp, const char *name, const char *value);

// Removes every response header of that name.
//
// Removes every response header of that name (case-insensitive). Removing
// a header that is not there is not an error.
//
// Returns: MR_OK; MR_EINVAL for a NULL argument; MR_ESTATE if the head was
// already sent.
// Ownership: none.
// Thread: the thread running the handler.
int resp_remove_header(mr_resp *resp, const char *name);

// The first value of a header set on the response so far.
//
// The first value of a header set on the response so far (case-insensitive
// name), including `Content-Type` and `Set-Cookie` set by other calls.
//
// Returns: the value, or NULL if not set or an argument is NULL.
// Ownership: borrowed; valid until the response's headers change or the
// handler returns.
// Thread: the thread running the handler.
const char *resp_header(const mr_resp *resp, const char *name);

// Sets the Content-Type (the seed's mime_Type).
//
// Without it, a body sent
// with resp_send or resp_send_header goes out as "text/html"; the
// buffered-body setters set their own type (call this after them to
// override).
//
// Returns: MR_OK; MR_EINVAL for a NULL, empty or invalid value; MR_ESTATE
// if the head was already sent.
// Ownership: `mime` is copied.
// Thread: the thread running the handler.
int resp_set_mime_type(mr_resp *resp, const char *mime);

// Sets a cookie with safe defaults.
//
// Sets a cookie with safe defaults: `name=value; Path=/; HttpOnly;
// SameSite=Lax`. A cookie of the same name set earlier on this response is
// replaced.
//
// Returns: MR_OK; MR_EINVAL for a NULL argument, a name that is not a
// token, or a value with characters cookies cannot carry (space, '"', ',',
// ';', '\\', controls); MR_ESTATE if the head was already sent.
// Ownership: `name` and `value` are copied.
// Thread: the thread running the handler.
int resp_set_cookie(mr_resp *resp, const char *name, const char *value);

// Sets a cookie with every attribute.
//
// `max_age` < 0 makes a session cookie; otherwise `Max-Age=max_age`
// seconds. `path` NULL means "/"; `domain` NULL means none. `flags` is a
// combination of MR_COOKIE_SECURE, MR_COOKIE_HTTPONLY and at most one of
// MR_COOKIE_SAMESITE_LAX / _STRICT / _NONE (which needs MR_COOKIE_SECURE).
// A cookie of the same name set earlier on this response is replaced.
//
// Returns: MR_OK; MR_EINVAL for a NULL required argument, an invalid name,
// value, path or domain, unknown flags, two SameSite flags, or SameSite=None
// without Secure; MR_ESTATE if the head was already sent.
// Ownership: all strings are copied.
// Thread: the thread running the handler.
int resp_set_cookie_ex(mr_resp *resp,
                       const char *name,
                       const char *value,
                       int64_t max_age,
                       const char *path,
                       const char *domain,
                       unsigned int flags);

// Expires a cookie in the client.
//
// Expires a cookie in the client (`name=; Max-Age=0; Expires=<1970>;
// Path=/`). Use resp_set_cookie_ex with max_age 0 for another path.
//
// Returns: MR_OK; MR_EINVAL for a NULL or invalid name; MR_ESTATE if the
// head was already sent.
// Ownership: `name` is copied.
// Thread: the thread running the handler.
int resp_delete_cookie(mr_resp *resp, const char *name);

// Sets a text body (text/plain; charset=utf-8).
//
// Sets a text body, `Content-Type: text/plain; charset=utf-8`, replacing
// any earlier body.
//
// Returns: MR_OK; MR_EINVAL for a NULL or non-UTF-8 text; MR_ESTATE if the
// head was already sent or the response is a redirect.
// Ownership: `text` is copied.
// Thread: the thread running the handler.
int resp_set_text(mr_resp *resp, const char *text);

// Sets an HTML body (text/html; charset=utf-8).
//
// Sets an HTML body, `Content-Type: text/html; charset=utf-8`, replacing
// any earlier body.
//
// Returns: MR_OK; MR_EINVAL for a NULL or non-UTF-8 text; MR_ESTATE if the
// head was already sent or the response is a redirect.
// Ownership: `html` is copied.
// Thread: the thread running the handler.
int resp_set_html(mr_resp *resp, const char *html);

// Sets a binary body (application/octet-stream).
//
// Sets a binary body, `Content-Type: application/octet-stream`, replacing
// any earlier body. `data` may be NULL when `len` is 0.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL or `data` is NULL with a
// non-zero `len`; MR_ESTATE if the head was already sent or the response
// is a redirect.
// Ownership: the `len` bytes at `data` are copied.
// Thread: the thread running the handler.
int resp_set_content(mr_resp *resp, const void *data, size_t len);

// Sets a JSON body (application/json), validated.
//
// Sets a JSON body, `Content-Type: application/json`, replacing any earlier
// body. The text is checked to be valid JSON and sent as given.
//
// Returns: MR_OK; MR_EINVAL for a NULL argument or invalid JSON (the parse
// error in mr_last_error; nothing changed); MR_ESTATE if the head was
// already sent or the response is a redirect.
// Ownership: `json` is copied.
// Thread: the thread running the handler.
int resp_set_json(mr_resp *resp, const char *json);

// Sets a string in the JSON body being built (seed: `resp.json.hello = "world!"`).
//
// `path` is a dotted path: "a.b.c" creates the nested objects `a` and `b`.
// The first resp_json_set_* call replaces any earlier body with an empty
// object and sets `Content-Type: application/json`; a later body setter
// (resp_set_text, resp_set_json, ...) replaces the document, in call
// order. The document is rendered once, as compact JSON (keys in the order
// first set, strings escaped), when the response is sent. Keys cannot
// contain dots.
//
// Returns: MR_OK; MR_EINVAL for a NULL or non-UTF-8 argument, an empty
// key in `path` ("a..b"), or a path below a value that is not an object
// ("n.sub" when `n` is a number): then nothing changes; MR_ESTATE if the
// head was already sent or the response is a redirect.
// Ownership: `path` and `value` are copied.
// Thread: the thread running the handler, or the one holding a deferred
// response.
int resp_json_set_str(mr_resp *resp, const char *path, const char *value);

// Sets an integer in the JSON body being built (see resp_json_set_str).
//
// Returns: as resp_json_set_str.
// Ownership: `path` is copied.
// Thread: as resp_json_set_str.
int resp_json_set_int(mr_resp *resp, const char *path, int64_t value);

// Sets a number in the JSON body being built (see resp_json_set_str).
//
// Returns: as resp_json_set_str; MR_EINVAL also for NaN and infinities
// (JSON has none).
// Ownership: `path` is copied.
// Thread: as resp_json_set_str.
int resp_json_set_double(mr_resp *resp, const char *path, double value);

// Sets `true` (non-zero) or `false` in the JSON body being built.
//
// See resp_json_set_str.
//
// Returns: as resp_json_set_str.
// Ownership: `path` is copied.
// Thread: as resp_json_set_str.
int resp_json_set_bool(mr_resp *resp, const char *path, int value);

// Sets `null` in the JSON body being built (see resp_json_set_str).
//
// Returns: as resp_json_set_str.
// Ownership: `path` is copied.
// Thread: as resp_json_set_str.
int resp_json_set_null(mr_resp *resp, const char *path);

// Sets a value given as JSON text in the JSON body being built.
//
// An array, an object, ...; see resp_json_set_str.
//
// Returns: as resp_json_set_str; MR_EINVAL also when `json` is not valid
// JSON (the parse error in mr_last_error), and nothing changes.
// Ownership: `path` and `json` are copied.
// Thread: as resp_json_set_str.
int resp_json_set_raw(mr_resp *resp, const char *path, const char *json);

// Renders a Jinja2 template as the HTML body (seed: `load_template`).
//
// Loads `name` (e.g. "example.html", "pages/about.html") from the folder
// set with server_set_templates_dir; a name cannot leave that folder.
// `json_context` is a JSON object whose keys become template variables
// (NULL: none): "{\"var\": \"foobar\"}". Jinja2 syntax: inheritance
// (extends/block), include, loops, filters; `.html`, `.htm` and `.xml`
// templates autoescape. Compiled templates are cached and reloaded when a
// file in the folder changes (see server_set_templates_reload). The body
// is `Content-Type: text/html; charset=utf-8`.
//
// Returns: MR_OK; MR_EINVAL for a NULL `resp`/`name`, a context that is
// not a JSON object, or a template syntax or render error (template name
// and line in mr_last_error); MR_ENOTFOUND if there is no such template;
// MR_ESTATE if no template folder was set, the head was already sent or
// the response is a redirect; MR_EUNSUPPORTED in a build without the
// `templates` feature.
// Ownership: `name` and `json_context` are copied.
// Thread: the thread running the handler, or the one holding a deferred
// response.
int resp_load_template(mr_resp *resp, const char *name, const char *json_context);

// Redirects (302) to the path of a named route (seed: `redirect(view=Index)`).
//
// The route must have been registered with server_route_named and must
// have no parameters; use resp_redirect_route_params otherwise.
//
// Returns: MR_OK; MR_EINVAL for NULL arguments or a route that needs
// parameters; MR_ENOTFOUND for an unknown name; MR_ESTATE if the head was
// already sent.
// Ownership: `route_name` is copied.
// Thread: the thread running the handler, or the one holding a deferred
// response.
int resp_redirect_route(mr_resp *resp, const char *route_name);

// Redirects to a named route with its parameters filled in (a `url_for`).
//
// `params` is NULL or a NULL-terminated array of name, value pairs:
// `const char *p[] = {"id", "42", NULL};` fills "/users/{id}" to
// "/users/42". Values are percent-encoded (a `{rest...}` value keeps its
// slashes). `code` as resp_redirect (0 means 302).
//
// Returns: MR_OK; MR_EINVAL for NULL arguments, a missing or empty value,
// a value that is not UTF-8, an odd `params` list or a bad `code`;
// MR_ENOTFOUND for an unknown name; MR_ESTATE if the head was already
// sent.
// Ownership: all strings are copied.
// Thread: the thread running the handler, or the one holding a deferred
// response.
int resp_redirect_route_params(mr_resp *resp,
                               const char *route_name,
                               const char *const *params,
                               int code);

// Sends the status line and headers now (seed: send_header).
//
// Sends the status line and headers now (seed: send_header), with an
// optional custom reason phrase and the first body bytes.
//
// The body that follows (this `content` and later resp_send calls) is
// framed by the `Content-Length` header if the handler set one, otherwise
// chunked on HTTP/1.1 and close-delimited on HTTP/1.0. No body goes out
// for HEAD requests and 1xx/204/304 statuses. Without a Content-Type, the
// body is sent as "text/html". The response ends when the handler returns.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL, the reason has CR, LF or
// controls, `content` is NULL with a non-zero `len`, or content passes a
// set Content-Length; MR_ESTATE if the head was already sent or the
// response is finished or a redirect; MR_ETIMEDOUT if the client took no
// data for the write timeout; MR_ECLOSED if the connection is gone. After
// MR_ETIMEDOUT or MR_ECLOSED the connection is closed.
// Ownership: `reason` and `content` are copied or sent before returning.
// Thread: the thread running the handler; blocks while the client is slow
// (at most the write timeout without progress).
int resp_send_header(mr_resp *resp, const char *reason, const void *content, size_t len);

// Sends body bytes (seed: send).
//
// Sends body bytes (seed: send), sending the head first if needed. Call it
// repeatedly to stream. Framing as for resp_send_header. Small pieces are
// buffered (up to 16 KiB) and written when the buffer fills, on
// resp_flush, or when the handler returns; large ones go out at once.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL, `data` is NULL with a
// non-zero `len`, or the bytes pass a set Content-Length; MR_ESTATE if the
// response is finished, aborted or a redirect; MR_ETIMEDOUT if the client
// took no data for the write timeout; MR_ECLOSED if the connection is gone.
// After MR_ETIMEDOUT or MR_ECLOSED the connection is closed.
// Ownership: the bytes are copied or sent before returning.
// Thread: the thread running the handler; may block as resp_send_header.
int resp_send(mr_resp *resp, const void *data, size_t len);

// resp_send of a NUL-terminated string (without the NUL).
//
// Returns: as resp_send; MR_EINVAL if `text` is NULL.
// Ownership: the text is copied or sent before returning.
// Thread: the thread running the handler; may block as resp_send.
int resp_send_str(mr_resp *resp, const char *text);

// Writes what resp_send has buffered to the client now.
//
// Does nothing before
// the head is sent.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ETIMEDOUT or MR_ECLOSED
// as resp_send.
// Ownership: none.
// Thread: the thread running the handler; may block as resp_send.
int resp_flush(mr_resp *resp);

// Sends a local file as the body (seed: send_file).
//
// The file is opened now and sent after the handler returns, with
// `sendfile(2)` on Linux (no copies, the write timeout applies while the
// client is slow) or a buffered copy elsewhere. The response gets
// `Content-Length`, `Content-Type` from mr_mime_for_path (unless one was
// set), a strong `ETag`, `Last-Modified` and `Accept-Ranges: bytes`. While
// the status is 200, the request decides the answer: `If-None-Match` /
// `If-Modified-Since` give 304 without a body, a single satisfiable
// `Range` gives 206 with `Content-Range` (suffix and open ranges too, and
// `If-Range` is honoured), an unsatisfiable one gives 416 with
// `Content-Range: bytes */len`, several ranges or an invalid one the whole
// file. HEAD gets the headers only. Only regular files are sent; the length
// is fixed when the file is opened, and a file that shrinks meanwhile
// ends the connection (never padded). `path` is used as given: confining
// requests to a folder is the caller's job.
//
// Returns: MR_OK; MR_EINVAL if `resp` or `path` is NULL or `path` is not
// UTF-8; MR_ENOTFOUND if there is no file; MR_EFORBIDDEN for a folder,
// FIFO, device or other special file, or when permission is denied;
// MR_EIO for other errors; MR_ESTATE if the head was already sent, the
// response is a redirect, was deferred or has a producer. On error
// nothing is sent and nothing changes, so the handler can answer itself.
// Ownership: `path` is copied; the library closes the file.
// Thread: the thread running the handler.
int resp_send_file(mr_resp *resp, const char *path);

// Makes the response a redirect (seed: redirect).
//
// Makes the response a redirect to `location` (seed: redirect) with `code`
// 301, 302, 303, 307 or 308 (0 means 302). The body is cleared and later
// body calls fail with MR_ESTATE; headers and cookies may still be set.
//
// `location` is a path ("/login?next=%2F"), a relative reference, or an
// absolute http:// or https:// URL. It must be ASCII without spaces or
// controls (percent-encode the rest). Forms that browsers take for another
// host without saying so ("//evil.example", backslashes) and other schemes
// ("javascript:") are refused.
//
// Returns: MR_OK; MR_EINVAL for a NULL or refused location or another
// code; MR_ESTATE if the head was already sent.
// Ownership: `location` is copied.
// Thread: the thread running the handler.
int resp_redirect(mr_resp *resp, const char *location, int code);

// Sends an error response and closes the connection (seed: abort).
//
// `code` 0 means 500. `content` NULL sends a default plain-text page
// ("500 Internal Server Error"); otherwise `content` is the body (sent as
// text/html unless a Content-Type was set). `reason` NULL uses the standard
// reason phrase. Headers set earlier (e.g. WWW-Authenticate) are kept. If
// the head was already sent, the connection is closed without finishing
// the body, so the client sees the truncation. Later calls that send fail
// with MR_ESTATE.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL, `code` is outside
// 100..=999, `content` is not UTF-8 or the reason has CR, LF or controls;
// MR_ESTATE if the response was already finished; MR_ECLOSED if the
// connection is gone; MR_ETIMEDOUT as resp_send.
// Ownership: `content` and `reason` are copied or sent before returning.
// Thread: the thread running the handler; may block as resp_send.
int resp_abort(mr_resp *resp, int code, const char *content, const char *reason);

// Closes the connection now (seed: close).
//
// What was already sent stays
// sent; a buffered response is not sent. Later sends fail with MR_ECLOSED.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ECLOSED if it was
// already closed.
// Ownership: none.
// Thread: the thread running the handler.
int resp_close(mr_resp *resp);

// The client socket's file descriptor (seed: client).
//
// The client socket's file descriptor (seed: client), for socket options
// or inspection. Do not read, write or close it: the library still owns
// the connection and will use it after the handler returns.
//
// Returns: the descriptor (>= 0); MR_EINVAL if `resp` is NULL; MR_ECLOSED
// if the connection was closed; MR_EUNSUPPORTED if the connection has no
// OS socket.
// Ownership: the descriptor stays the library's.
// Thread: the thread running the handler.
int resp_client_fd(const mr_resp *resp);

// Streams the body from a producer (seed: `resp.streaming = generator()`).
//
// After the handler returns, the head is sent (chunked on HTTP/1.1,
// close-delimited on HTTP/1.0, or the Content-Length the handler set) and
// `next` is called on the library's blocking thread pool, never on a
// worker, for each piece until it returns 0 (end) or a negative value
// (error: the connection is closed without the final chunk). Each piece
// is written before the next is asked for, so a slow client slows the
// producer. Status and headers may still be set until the handler
// returns; the body comes only from the producer.
//
// Returns: MR_OK; MR_EINVAL if `resp` or `next` is NULL; MR_ESTATE if the
// response was deferred, already has a producer, is finished, or `resp`
// is a deferred handle.
// Ownership: on MR_OK the library owns `userdata` and calls
// `free_userdata(userdata)` exactly once (after the end, an error, when
// the client goes away, or when the server stops); `free_userdata` may be
// NULL. On failure nothing is taken: `userdata` stays the caller's.
// Thread: the thread running the handler; `next` and `free_userdata` run
// on the library's blocking threads.
int resp_stream(mr_resp *resp, mr_stream_fn next, void *userdata, mr_free_fn free_userdata);

// Keeps the response open after the handler returns, for another thread.
//
// Returns a new handle that owns the response; the handler's `resp` must
// not be used afterwards (calls on it fail with MR_ESTATE). Any thread may
// then use the handle with the resp_* functions (one thread at a time) and
// must end it with resp_finish, which sends the end of the response and
// frees the handle. The connection takes no further request (pipelined
// ones wait) until then. Bytes sent on the handle go through a small
// bounded queue: when the client does not read, sending waits (at most the
// write timeout, then MR_ETIMEDOUT). If the client goes away, calls fail
// with MR_ECLOSED; resp_finish still frees the handle. Handles never
// finished are freed by server_free (after server_stop their calls fail
// with MR_ECLOSED). A request body the handler has not read when it
// defers makes the connection close after the response. Calling it on a
// deferred handle returns that handle.
//
// The queue holds 8 pieces of up to 64 KiB and is written once the
// handler has returned: send at most that much on the handle before
// returning, and send the rest from another thread. A handler that sends
// on another request's deferred handle (an SSE broadcast) may wait while
// that queue is full, holding its worker.
//
// Returns: the deferred handle; NULL if `resp` is NULL or the response is
// finished, already has a producer, or the connection is closed (detail
// in mr_last_error).
// Ownership: the caller owns the returned handle until resp_finish (or
// server_free).
// Thread: call it on the thread running the handler; use the handle from
// any thread, one at a time.
mr_resp *resp_defer(mr_resp *resp);

// Ends a deferred response and frees its handle.
//
// Sends what is still buffered: the whole response if nothing was sent
// yet (status, headers and buffered body as set on the handle), or the
// final chunk of a streamed one. The handle is freed in every case, also
// when the client went away.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ESTATE if `resp` is not
// a deferred handle (the handler's own response ends when it returns);
// MR_ECLOSED if the client went away (or the server stopped);
// MR_ETIMEDOUT if the client did not take the data in time.
// Ownership: takes the handle; it must not be used afterwards.
// Thread: any thread, while no other thread uses the handle.
int resp_finish(mr_resp *resp);

// Sends one Server-Sent Event and flushes it at once.
//
// The first event sends the head with `Content-Type: text/event-stream`
// and `Cache-Control: no-cache` (unless a Cache-Control was set). The
// event is `event: <event>` and `id: <id>` lines when given, one
// `data: <line>` line per line of `data` (CRLF, CR and LF end lines), and
// an empty line. Use it on a deferred handle (events from another thread)
// or in the handler itself.
//
// Returns: MR_OK; MR_EINVAL if `resp` or `data` is NULL, `event` or `id`
// contains CR, LF or NUL, or a string is not UTF-8; MR_ESTATE if the
// response is finished, was deferred (use the deferred handle) or has a
// producer; MR_ETIMEDOUT / MR_ECLOSED as resp_send.
// Ownership: the strings are copied or sent before returning.
// Thread: the thread running the handler, or the one holding the deferred
// handle; may block as resp_send.
int resp_sse_event(mr_resp *resp, const char *event, const char *data, const char *id);

// Sets a Server-Sent Events heartbeat for a deferred event stream.
//
// A comment line (`: heartbeat`) is sent every `seconds` while the stream
// has nothing else to send, so proxies and browsers keep it open and a
// client that left is noticed. 0 turns it off (the default). It applies to deferred responses with a
// chunked or close-delimited body once the head is sent.
//
// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ESTATE if the response
// is finished or was deferred (use the deferred handle).
// Ownership: none.
// Thread: the thread running the handler, or the one holding the deferred
// handle.
int resp_sse_heartbeat(mr_resp *resp,
                       unsigned int seconds);

// Creates a server with the default settings.
//
// Defaults: workers = number of CPUs, max connections 512, max header bytes
// 16384 with at most 64 header fields, max body 1 MiB, header timeout 10 s,
// idle keep-alive timeout 5 s, write timeout 10 s, body timeout 10 s.
//
// Returns: a new server, or NULL if memory is exhausted.
// Ownership: the caller owns the server; free it with server_free.
// Thread: any thread.
mr_server *server_new(void);

// Adds an address to listen on, bound by server_start.
//
// `addr` is "ip:port" ("127.0.0.1:8080", "0.0.0.0:80"), "[ipv6]:port"
// ("[::]:0", "[::1]:8080") or "localhost:port". Port 0 picks a free port
// (see server_port). May be called several times for several listeners.
// IPv6 listeners are IPv6-only, so "[::]:80" and "0.0.0.0:80" can coexist.
//
// Returns: MR_OK; MR_EINVAL if an argument is NULL or not an address;
// MR_ESTATE if the server is running.
// Ownership: `addr` is copied.
// Thread: any thread, not concurrently with server_start.
int server_listen(mr_server *srv, const char *addr);

// Registers a handler for a method and a path pattern.
//
// `method` is a method name ("GET", "POST", or any token such as
// "PROPFIND"; case-sensitive), or "*" / NULL for any method the server
// knows: the standard ones (GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH,
// TRACE) and every method some route names. Other methods are answered 501
// before routing (RFC 9110 §9.1), and "get" is not GET. `pattern` starts with '/' and is made of
// literal segments, `{name}` (one segment) and `{name...}` (the rest of
// the path, last only): "/users/{id}", "/files/{path...}". Literal beats
// {param} beats {rest...} whatever the registration order. A path that
// matches only routes of other methods is answered 405 with an `Allow`
// header; a GET route also answers HEAD (without the body).
//
// Returns: MR_OK; MR_EINVAL for a NULL argument, a bad method or pattern,
// or a route already registered for that method and pattern; MR_ESTATE if
// the server is running.
// Ownership: `method` and `pattern` are copied; `userdata` is passed to
// every call of `handler` and stays the caller's.
// Thread: any thread, not concurrently with server_start. The handler
// itself runs on worker threads, possibly on several at once.
int server_route(mr_server *srv,
                 const char *method,
                 const char *pattern,
                 mr_handler handler,
                 void *userdata);

// Registers a handler under a name, for resp_redirect_route.
//
// As server_route, plus `name` (unique per server), the seed's
// `redirect(view=Index)`: resp_redirect_route(resp, "index") then sends a
// 302 to the route's path.
//
// Returns: the codes of server_route; MR_EINVAL also for a NULL, empty or
// already used `name`.
// Ownership: `name`, `method` and `pattern` are copied; `userdata` stays
// the caller's.
// Thread: any thread, not concurrently with server_start.
int server_route_named(mr_server *srv,
                       const char *name,
                       const char *method,
                       const char *pattern,
                       mr_handler handler,
                       void *userdata);

// Sets the folder resp_load_template loads Jinja2 templates from.
//
// Template names are paths relative to it ("pages/about.html") and cannot
// leave it (no `.`/`..` segments; links out of the folder are not
// followed).
//
// Returns: MR_OK; MR_EINVAL for NULL arguments; MR_ENOTFOUND if `dir` is
// not an existing folder; MR_ESTATE if the server is running;
// MR_EUNSUPPORTED in a build without the `templates` feature.
// Ownership: `dir` is copied.
// Thread: any thread, not concurrently with server_start.
int server_set_templates_dir(mr_server *srv, const char *dir);

// Turns reloading of changed template files on (non-zero) or off (0).
//
// On by default; turn it off in production to skip the file checks.
//
// While on, the template folder is checked at most once a second and the
// compiled templates are dropped when a file in it changed.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if the server is
// running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_templates_reload(mr_server *srv, int enabled);

// Sets the handler for requests that match no route (instead of 404).
//
// A path that matches a route of another method still gets 405. Pass a
// NULL handler to go back to the built-in 404.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
// Ownership: `userdata` stays the caller's.
// Thread: any thread, not concurrently with server_start.
int server_set_fallback(mr_server *srv, mr_handler handler, void *userdata);

// Serves a folder under a URL prefix (GET and HEAD).
//
// `GET /static/css/site.css` with server_static(srv, "/static", "www")
// sends `www/css/site.css` as resp_send_file does (types, ETag,
// Last-Modified, 304, ranges, HEAD). A folder gets its `index.html`; a
// folder asked without its trailing slash is redirected (301) to the slash
// form; a folder without `index.html` gets 403 (no listing; see
// server_static_ex). Pre-compressed twins are used when the client accepts
// them: `file.br` (br) or `file.gz` (gzip), with `Content-Encoding` and
// `Vary: Accept-Encoding`. What is opened always stays inside the folder:
// each path segment is decoded once; `.` and `..` segments and encoded
// `/`, `\` or NUL get 400; the result is compared with the folder by path
// components after resolving symbolic links (a link out of the folder
// gives 404); only regular files are sent. Routes registered for paths
// under the prefix keep priority.
//
// Returns: MR_OK; MR_EINVAL for a NULL argument or a prefix not starting
// with '/' or holding dot segments, braces, '%', '?', '#' or controls;
// MR_ENOTFOUND if `dir` is not an existing folder; MR_ESTATE if the server
// is running; MR_EINVAL if routes already cover that prefix.
// Ownership: `url_prefix` and `dir` are copied (the folder is resolved to
// its real path now, and looked up by that path for each request: a
// folder replaced there, as deployments do, is served at once). Each
// worker keeps the last 16 files it sent from static folders open, and
// checks each against its path (one stat) before sending it again, so a
// file changed, replaced or removed is sent as it is now; a removed
// file's descriptor, and its disk space, is released when the path is
// next asked for, when newer files push it out, or when the server
// stops.
// Thread: any thread, not concurrently with server_start.
int server_static(mr_server *srv, const char *url_prefix, const char *dir);

// Serves a folder under a URL prefix, with options.
//
// As server_static, plus: `flags`, a combination of MR_STATIC_LISTING,
// MR_STATIC_FOLLOW_SYMLINKS and MR_STATIC_NO_PRECOMPRESSED;
// `cache_control` (NULL: none), a `Cache-Control` value added to the
// mount's answers (files, 304, 206/416, folder redirects; not the
// 400/403/404 error pages), e.g. "public, max-age=3600";
// `spa_fallback` (NULL: none), a file relative to the folder
// ("index.html") answered for paths that do not exist, for single-page
// applications.
//
// Returns: as server_static; MR_EINVAL also for unknown flags, an invalid
// `cache_control` value or an `spa_fallback` that is absolute or has `.`,
// `..` or empty segments.
// Ownership: all strings are copied.
// Thread: any thread, not concurrently with server_start.
int server_static_ex(mr_server *srv,
                     const char *url_prefix,
                     const char *dir,
                     unsigned int flags,
                     const char *cache_control,
                     const char *spa_fallback);

// Sets the number of worker threads (0: one per CPU, the default).
//
// Handlers run inline on workers: a handler that blocks holds one worker
// while the others keep serving. On Linux a connection stays on one worker
// (each new one goes to the worker with the fewest open connections), so
// the other connections of a worker whose handler blocks wait for it.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `n` > 1024; MR_ESTATE if
// running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_workers(mr_server *srv, unsigned int n);

// Sets the most connections open at once (default 512).
//
// When the limit is reached, the keep-alive connection that has waited
// longest for its next request is closed to admit the new one (see
// server_set_lru_purge). When none is idle, the new connection is
// answered `503 Service Unavailable` with `Retry-After: 1` and closed.
// On firmware keep it below the socket limit (`CONFIG_LWIP_MAX_SOCKETS`)
// minus the listener and the reactor's descriptors.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `n` is 0; MR_ESTATE if
// running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_max_connections(mr_server *srv, unsigned int n);

// Sets the request size limits.
//
// `max_header_bytes` bounds the request line plus header fields (default
// 16384; a larger head gets 431, or 414 when the request line alone is
// too long). `max_body_bytes` bounds what the library buffers for
// req_body and req_form_value (default 1 MiB; a larger body gets 413).
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `max_header_bytes` is
// below 256 or above 1 MiB; MR_ESTATE if running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_limits(mr_server *srv, size_t max_header_bytes, size_t max_body_bytes);

// Sets the most header fields a request may have (default 64; more get 431).
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `n` is not within
// 1..=1024; MR_ESTATE if running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_max_headers(mr_server *srv, unsigned int n);

// Sets the timeouts, in milliseconds.
//
// `header_ms` (default 10000): total time for a request head, counted from
// its first byte; trickling bytes does not extend it. Expiry gets 408 and
// a close. `idle_ms` (default 5000): how long a kept-alive connection (or
// a new one) may wait for the next request before it is closed.
// `write_ms` (default 10000): how long the client may take no data while a
// response is written; then sending fails with MR_ETIMEDOUT and the
// connection closes.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or a value is 0; MR_ESTATE if
// running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_timeouts(mr_server *srv,
                        unsigned int header_ms,
                        unsigned int idle_ms,
                        unsigned int write_ms);

// Limits the connections one client address may hold open.
//
// 0, the default, means no limit. A connection over the limit is answered `503 Service Unavailable` with
// `Retry-After: 1` and closed; other addresses are unaffected. IPv4 and
// IPv6 addresses are counted as the peer address the socket reports.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_max_connections_per_ip(mr_server *srv,
                                      unsigned int n);

// Turns the "LRU purge" on (nonzero, the default) or off (0).
//
// On: at the connection limit, the keep-alive connection idle the
// longest is closed (quietly, between requests) to admit a new one, as
// esp_http_server's `lru_purge_enable` does. Off: new connections get
// `503` with `Retry-After: 1` until one closes by itself. A request whose
// first bytes already arrived is never cut off by a purge.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_lru_purge(mr_server *srv, int enable);

// Sets the request-body read timeout.
//
// Sets how long the client may send no request-body bytes while a handler
// reads the body (default 10000 ms). Expiry answers 408 and closes.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `body_ms` is 0;
// MR_ESTATE if running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_body_timeout(mr_server *srv, unsigned int body_ms);

// Sets the stack size of the server's own threads, in bytes.
//
// Applies to the worker threads (where handlers run) and to the thread
// that finishes a stop. 0, the default, keeps the platform's default
// (8 MiB on Linux; on ESP-IDF set it, e.g. 8192–16384, sized for the
// deepest handler). Other threads are not the server's: the reactor
// thread and the pool that runs resp_stream producers take their stacks
// from `RUST_MIN_STACK` and their count from `BLOCKING_MAX_THREADS`
// (both environment variables, read once at first use).
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL or `bytes` is nonzero and
// below 8192; MR_ESTATE if running.
// Ownership: none.
// Thread: any thread, not concurrently with server_start.
int server_set_stack_size(mr_server *srv, size_t bytes);

// Sets a callback for log lines, or turns logging off (NULL `log_fn`).
//
// One MR_LOG_INFO access line per request:
// `127.0.0.1:50312 "GET /path?q HTTP/1.1" 200 5 0.042ms`
// (remote address, request line, status, body bytes sent, duration), and
// MR_LOG_WARN / MR_LOG_ERROR lines for bad requests, timeouts and server
// faults. Logging costs nothing when no callback is set.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_ESTATE if running.
// Ownership: `userdata` stays the caller's; `line` is valid only during
// the callback.
// Thread: any thread, not concurrently with server_start. The callback
// runs on worker threads, possibly on several at once.
int server_set_log(mr_server *srv, mr_log_fn log_fn, void *userdata);

// Binds every listener and starts serving; returns at once.
//
// Binding happens in the calling thread, so a busy or invalid address
// fails here. Serving goes on in the worker threads until server_stop.
// Configuration calls fail with MR_ESTATE while the server runs. A stopped
// server may be started again.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_EADDR if an address
// cannot be bound (detail in mr_last_error); MR_ESTATE if already running
// or no address was added with server_listen; MR_EIO if a thread could
// not be started.
// Ownership: none.
// Thread: any thread except a handler of this server.
int server_start(mr_server *srv);

// The port a listener is bound to (the one the system chose for port 0).
//
// Listeners are numbered from 0 in server_listen order.
//
// Returns: the port (1..65535); MR_EINVAL if `srv` is NULL or there is no
// such listener; MR_ESTATE if the server was never started.
// Ownership: none.
// Thread: any thread.
int server_port(const mr_server *srv, size_t listener_index);

// Starts the server if needed and blocks until it is stopped.
//
// Starts the server if needed, then blocks until it is stopped (by
// server_stop from a handler or another thread).
//
// Returns: MR_OK once stopped; MR_EINVAL if `srv` is NULL; the codes of
// server_start; MR_ESTATE when called from a handler of this server.
// Ownership: none.
// Thread: any thread except a handler of this server.
int server_run(mr_server *srv);

// Stops the server gracefully.
//
// Listeners close at once (new connections are refused), idle connections
// close, requests in progress may finish for up to `grace_ms`; then what
// is left is closed. Handlers that are running are not interrupted: the
// stop completes when they return. Stopping a server that is not running
// does nothing.
//
// Called from a handler of this server it begins the stop and returns at
// once (the current response is still sent). From any other thread it
// returns when the server has stopped.
//
// Returns: MR_OK; MR_EINVAL if `srv` is NULL; MR_EIO if the stop thread
// could not be started.
// Ownership: none.
// Thread: any thread, including a handler.
int server_stop(mr_server *srv, unsigned int grace_ms);

// Stops the server if it runs (no grace period) and frees it.
//
// Returns: nothing. NULL is a no-op.
// Ownership: takes `srv`; it must not be used afterwards. Userdata given
// to handlers and the log callback is not freed: it stays the caller's.
// Thread: any thread, once no other thread uses `srv`. Do not call it from
// one of the server's own handlers.
void server_free(mr_server *srv);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MICROROUTE_H */

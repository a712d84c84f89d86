/*
 * microroute.hpp: a header-only C++17 wrapper over the microroute C API.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 *     #include <microroute.hpp>
 *
 *     mr::Server srv;                           // server_free in the destructor
 *     srv.listen("127.0.0.1:0");
 *     std::atomic<int> hits{0};                 // handlers run on several threads
 *     srv.route("GET", "/chain", [&hits](mr::Request &, mr::Response &resp) {
 *         ++hits;
 *         resp.set_status(200)
 *             .set_cookie("key", "value", MR_COOKIE_SECURE)
 *             .set_text("long chain!")
 *             .set_header("X-somehead", "value");
 *     });
 *     srv.route("GET", "/users/{id}", [](mr::Request &req, mr::Response &resp) {
 *         resp.json("id", req.param("id").value_or("?")).json("ok", true);
 *     });
 *     srv.start();
 *     int port = srv.port();
 *     srv.stop();
 *
 * Rules of the wrapper
 *
 * - Every call that fails throws mr::Error (derived from std::runtime_error):
 *   code() is the MR_E* code, what() is "<C function>: <mr_last_error() or
 *   mr_strerror(code)>". Getters that only look things up do not throw: they
 *   return an empty std::string_view or std::nullopt for "absent".
 * - Exceptions never cross into the C library. The trampoline that calls a
 *   route handler catches everything: if nothing was sent yet the client gets
 *   the library's 500 (whatever the handler had set is dropped) and the
 *   connection stays usable; if the response was already started (send(),
 *   send_header(), flush(), even if the bytes are still in the library's
 *   buffer) it is cut short with resp_abort, so the client sees a truncated
 *   body and a closed connection, never a response that looks complete. An
 *   exception thrown by a log callback is swallowed.
 * - Strings passed in may be `const char *`, `std::string` or
 *   `std::string_view`; string_views are copied to be NUL-terminated. C
 *   strings cannot hold a NUL byte: a setter given a string with an embedded
 *   NUL throws mr::Error(MR_EINVAL) (a lookup returns "absent"). Byte bodies
 *   (set_content, send, send_header) take any bytes.
 * - std::string_view values returned by mr::Request (and Response::header)
 *   borrow the library's memory: they are valid until the handler returns
 *   (Response::header: until the response's headers change). Copy them into a
 *   std::string to keep them.
 * - Handlers are any callable `void(mr::Request &, mr::Response &)` (its return
 *   value, if any, is ignored): lambdas with captures, move-only ones too. The
 *   Server owns them (on the heap, so moving the Server keeps them in place)
 *   and destroys them after the C server is freed. They run on worker
 *   threads, several at once: captured state they change needs a mutex or an
 *   atomic.
 * - mr::Request and mr::Response are thin, non-owning views of the C handles;
 *   `handle()` gives the C handle for the calls the wrapper does not cover.
 */

#ifndef MICROROUTE_HPP
#define MICROROUTE_HPP

#include "microroute.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace mr {

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/// A failed call: code() is the MR_E* code (negative).
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    Error(int code, const char *message) : std::runtime_error(message), code_(code) {}

    /// The MR_E* code of the failure (MR_EINVAL, MR_ESTATE, ...).
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {

/// Throws the error of a failed C call `op`, with the library's detail text.
[[noreturn]] inline void throw_error(const char *op, int code) {
    std::string msg(op);
    msg += ": ";
    const char *detail = mr_last_error();
    msg += (detail != nullptr && *detail != '\0') ? detail : mr_strerror(code);
    throw Error(code, msg);
}

/// Throws an error found by the wrapper itself (no C call was made).
[[noreturn]] inline void throw_invalid(const char *op, const char *what) {
    std::string msg(op);
    msg += ": invalid argument: ";
    msg += what;
    throw Error(MR_EINVAL, msg);
}

/// Returns `rc` if it is >= 0, else throws the error of `op`.
inline int check(int rc, const char *op) {
    if (rc < 0) throw_error(op, rc);
    return rc;
}

/// A string argument for C: `const char *` and `std::string` are passed as
/// they are, a `std::string_view` is copied to be NUL-terminated. Lives until
/// the end of the full expression of the call it is made for.
class CStr {
public:
    CStr(const char *s) noexcept : ptr_(s) {}  // NOLINT: implicit on purpose
    CStr(const std::string &s) noexcept        // NOLINT
        : ptr_(s.c_str()), nul_(s.find('\0') != std::string::npos) {}
    CStr(std::string_view s)  // NOLINT
        : copy_(s), ptr_(copy_.c_str()), nul_(s.find('\0') != std::string_view::npos) {}
    CStr(const CStr &) = delete;
    CStr &operator=(const CStr &) = delete;

    const char *get() const noexcept { return ptr_; }
    /// True if the string has a NUL byte inside (C would cut it there).
    bool has_nul() const noexcept { return nul_; }
    /// The pointer, or throws MR_EINVAL for an embedded NUL.
    const char *arg(const char *op) const {
        if (nul_) throw_invalid(op, "string contains a NUL byte");
        return ptr_;
    }

private:
    std::string copy_;
    const char *ptr_;
    bool nul_ = false;
};

/// An optional string argument for C: absent (std::nullopt, `{}`, a NULL
/// `const char *`) is passed as NULL, a value as a NUL-terminated string.
class OptCStr {
public:
    OptCStr() noexcept = default;
    OptCStr(std::nullopt_t) noexcept {}                  // NOLINT: implicit on purpose
    OptCStr(const char *s) noexcept : ptr_(s) {}         // NOLINT
    OptCStr(const std::string &s) noexcept               // NOLINT
        : ptr_(s.c_str()), nul_(s.find('\0') != std::string::npos) {}
    OptCStr(std::string_view s)                          // NOLINT
        : copy_(s), ptr_(copy_.c_str()), nul_(s.find('\0') != std::string_view::npos) {}
    OptCStr(const std::optional<std::string_view> &s) {  // NOLINT
        if (s) {
            copy_.assign(s->data(), s->size());
            ptr_ = copy_.c_str();
            nul_ = s->find('\0') != std::string_view::npos;
        }
    }
    OptCStr(const OptCStr &) = delete;
    OptCStr &operator=(const OptCStr &) = delete;

    /// The pointer (NULL when absent), or throws MR_EINVAL for an embedded NUL.
    const char *arg(const char *op) const {
        if (nul_) throw_invalid(op, "string contains a NUL byte");
        return ptr_;
    }

private:
    std::string copy_;
    const char *ptr_ = nullptr;
    bool nul_ = false;
};

inline std::string_view view(const char *s) noexcept {
    return s != nullptr ? std::string_view(s) : std::string_view();
}

inline std::optional<std::string_view> opt(const char *s) noexcept {
    if (s == nullptr) return std::nullopt;
    return std::string_view(s);
}

template <class T>
struct is_char : std::false_type {};
template <> struct is_char<char> : std::true_type {};
template <> struct is_char<wchar_t> : std::true_type {};
template <> struct is_char<char16_t> : std::true_type {};
template <> struct is_char<char32_t> : std::true_type {};
#if defined(__cpp_char8_t)
template <> struct is_char<char8_t> : std::true_type {};
#endif

/// Integers that json() stores as JSON numbers: not bool, not character
/// types (int8_t / uint8_t, being signed / unsigned char, are numbers).
template <class T>
inline constexpr bool is_json_int_v =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !is_char<T>::value;

}  // namespace detail

/* ------------------------------------------------------------------------ */
/* Request                                                                   */
/* ------------------------------------------------------------------------ */

/// The request being handled (a view of `mr_req`, valid during the handler).
///
/// Every std::string_view it returns is valid until the handler returns.
class Request {
public:
    explicit Request(mr_req *req) noexcept : req_(req) {}
    Request(const Request &) = delete;
    Request &operator=(const Request &) = delete;

    /// The C handle, for calls the wrapper does not cover.
    mr_req *handle() const noexcept { return req_; }

    /// "GET", "POST", ... as received.
    std::string_view method() const noexcept { return detail::view(req_method(req_)); }
    /// The path as received (still percent-encoded), without the query.
    std::string_view path() const noexcept { return detail::view(req_path(req_)); }
    /// The raw query string without '?' (empty when there is none).
    std::string_view query_string() const noexcept { return detail::view(req_query(req_)); }
    /// The request's host (authority or Host header), empty when it has none.
    std::string_view host() const noexcept { return detail::view(req_host(req_)); }
    /// The client's address, "ip:port".
    std::string_view remote_addr() const noexcept { return detail::view(req_remote_addr(req_)); }
    /// 10 for HTTP/1.0, 11 for HTTP/1.1.
    int http_version() const noexcept { return req_http_version(req_); }

    /// A route capture ("{id}"), percent-decoded; nullopt if the route has none.
    std::optional<std::string_view> param(detail::CStr name) const noexcept {
        if (name.has_nul()) return std::nullopt;
        return detail::opt(req_param(req_, name.get()));
    }
    /// The first value of a query parameter, decoded ('+' is a space).
    std::optional<std::string_view> query(detail::CStr name) const noexcept {
        if (name.has_nul()) return std::nullopt;
        return detail::opt(req_query_param(req_, name.get()));
    }
    /// The first value of a request header (case-insensitive name).
    std::optional<std::string_view> header(detail::CStr name) const noexcept {
        if (name.has_nul()) return std::nullopt;
        return detail::opt(req_header(req_, name.get()));
    }
    /// A cookie sent by the client.
    std::optional<std::string_view> cookie(detail::CStr name) const noexcept {
        if (name.has_nul()) return std::nullopt;
        return detail::opt(req_cookie(req_, name.get()));
    }
    /// A field of an application/x-www-form-urlencoded body (reads the body);
    /// nullopt if absent, not a form, or the body could not be read.
    std::optional<std::string_view> form(detail::CStr name) const noexcept {
        if (name.has_nul()) return std::nullopt;
        return detail::opt(req_form_value(req_, name.get()));
    }

    // ---- the request's JSON body ------------------------------------------
    //
    // The body is read (as body()) and parsed once per request. `path` is
    // dotted ("user.name"; array elements by index: "items.0.id"). Each
    // getter returns nullopt when there is no value of that type there, the
    // body is not JSON or could not be read.

    /// A string value.
    std::optional<std::string_view> json_str(detail::CStr path) const noexcept {
        if (path.has_nul()) return std::nullopt;
        return detail::opt(req_json_str(req_, path.get()));
    }
    /// An integer that fits int64_t.
    std::optional<std::int64_t> json_int(detail::CStr path) const noexcept {
        std::int64_t v = 0;
        if (path.has_nul() || req_json_int(req_, path.get(), &v) != MR_OK) return std::nullopt;
        return v;
    }
    /// A number (integers are converted).
    std::optional<double> json_double(detail::CStr path) const noexcept {
        double v = 0;
        if (path.has_nul() || req_json_double(req_, path.get(), &v) != MR_OK) return std::nullopt;
        return v;
    }
    /// true or false.
    std::optional<bool> json_bool(detail::CStr path) const noexcept {
        int v = 0;
        if (path.has_nul() || req_json_bool(req_, path.get(), &v) != MR_OK) return std::nullopt;
        return v != 0;
    }
    /// Any value as compact JSON text (a string with its quotes); nullopt
    /// for `path` gives the whole document.
    std::optional<std::string_view> json_raw(const detail::OptCStr &path = std::nullopt) const {
        return detail::opt(req_json_raw(req_, path.arg("req_json_raw")));
    }

    /// Every header field in the order received (repeated ones included).
    std::vector<std::pair<std::string_view, std::string_view>> headers() const {
        std::vector<std::pair<std::string_view, std::string_view>> out;
        const std::size_t n = req_header_count(req_);
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const char *name = nullptr;
            const char *value = nullptr;
            if (req_header_at(req_, i, &name, &value) == MR_OK)
                out.emplace_back(detail::view(name), detail::view(value));
        }
        return out;
    }

    /// The whole body, buffered by the library (up to max_body_bytes).
    ///
    /// Throws mr::Error if it could not be read: too large, broken framing,
    /// timeout. The C API gives no code for those, so code() is MR_EIO and
    /// what() has the detail. The library then answers 413/400/408 itself,
    /// whatever the handler sets, so letting the exception propagate is fine.
    std::string_view body() const {
        std::size_t len = 0;
        const std::uint8_t *p = req_body(req_, &len);
        if (p == nullptr) detail::throw_error("req_body", req_ == nullptr ? MR_EINVAL : MR_EIO);
        return std::string_view(reinterpret_cast<const char *>(p), len);
    }

    /// Reads the next piece of a streamed body into `buf`: the byte count,
    /// 0 at the end. Throws mr::Error on failure (req_read's code).
    std::size_t read(void *buf, std::size_t cap) {
        const std::ptrdiff_t n = req_read(req_, buf, cap);
        if (n < 0) detail::throw_error("req_read", static_cast<int>(n));
        return static_cast<std::size_t>(n);
    }

private:
    mr_req *req_;
};

/* ------------------------------------------------------------------------ */
/* Response                                                                  */
/* ------------------------------------------------------------------------ */

/// The response being built (a view of `mr_resp`, valid during the handler).
///
/// Setters return `Response &` so they chain, and throw mr::Error on failure
/// (MR_EINVAL for a bad value, MR_ESTATE once the head was sent, ...).
class Response {
public:
    explicit Response(mr_resp *resp) noexcept : resp_(resp) {}
    Response(const Response &) = delete;
    Response &operator=(const Response &) = delete;

    /// The C handle, for calls the wrapper does not cover.
    mr_resp *handle() const noexcept { return resp_; }

    /// The status set so far (200 unless changed).
    int status() const noexcept { return resp_status(resp_); }
    /// The first value of a header set on the response so far.
    std::optional<std::string_view> header(detail::CStr name) const noexcept {
        if (name.has_nul()) return std::nullopt;
        return detail::opt(resp_header(resp_, name.get()));
    }

    // ---- status, headers, cookies -----------------------------------------

    Response &set_status(int code) {
        detail::check(resp_set_status(resp_, code), "resp_set_status");
        return *this;
    }
    /// Sets a header, replacing earlier values of that name.
    Response &set_header(detail::CStr name, detail::CStr value) {
        const char *op = "resp_set_header";
        detail::check(resp_set_header(resp_, name.arg(op), value.arg(op)), op);
        return *this;
    }
    /// Adds a header, keeping earlier values of that name.
    Response &add_header(detail::CStr name, detail::CStr value) {
        const char *op = "resp_add_header";
        detail::check(resp_add_header(resp_, name.arg(op), value.arg(op)), op);
        return *this;
    }
    Response &remove_header(detail::CStr name) {
        const char *op = "resp_remove_header";
        detail::check(resp_remove_header(resp_, name.arg(op)), op);
        return *this;
    }
    /// Sets the Content-Type.
    Response &set_mime_type(detail::CStr mime) {
        const char *op = "resp_set_mime_type";
        detail::check(resp_set_mime_type(resp_, mime.arg(op)), op);
        return *this;
    }
    /// Sets a session cookie on Path=/.
    ///
    /// `flags` 0 (the default) gives the safe defaults of resp_set_cookie:
    /// `name=value; Path=/; HttpOnly; SameSite=Lax`. Other flags, a combination
    /// of MR_COOKIE_SECURE, MR_COOKIE_HTTPONLY and one of
    /// MR_COOKIE_SAMESITE_LAX/_STRICT/_NONE, are exactly the attributes sent
    /// (resp_set_cookie_ex with no Max-Age, Path=/ and no Domain):
    /// MR_COOKIE_SECURE alone gives `name=value; Path=/; Secure`. For a cookie
    /// without any flag, or with Max-Age/Path/Domain, use set_cookie_ex.
    Response &set_cookie(detail::CStr name, detail::CStr value, unsigned flags = 0) {
        if (flags == 0) {
            const char *op = "resp_set_cookie";
            detail::check(resp_set_cookie(resp_, name.arg(op), value.arg(op)), op);
        } else {
            const char *op = "resp_set_cookie_ex";
            detail::check(resp_set_cookie_ex(resp_, name.arg(op), value.arg(op), -1, nullptr,
                                             nullptr, flags),
                          op);
        }
        return *this;
    }
    /// Sets a cookie with every attribute (resp_set_cookie_ex): `max_age` < 0
    /// is a session cookie, `path` nullopt is "/", `domain` nullopt is none.
    Response &set_cookie_ex(detail::CStr name, detail::CStr value, std::int64_t max_age,
                            const detail::OptCStr &path, const detail::OptCStr &domain,
                            unsigned flags) {
        const char *op = "resp_set_cookie_ex";
        detail::check(resp_set_cookie_ex(resp_, name.arg(op), value.arg(op), max_age,
                                         path.arg(op), domain.arg(op), flags),
                      op);
        return *this;
    }
    /// Expires a cookie in the client.
    Response &delete_cookie(detail::CStr name) {
        const char *op = "resp_delete_cookie";
        detail::check(resp_delete_cookie(resp_, name.arg(op)), op);
        return *this;
    }

    // ---- buffered bodies (each replaces the previous body) ----------------

    /// text/plain; charset=utf-8 (must be UTF-8).
    Response &set_text(detail::CStr text) {
        const char *op = "resp_set_text";
        detail::check(resp_set_text(resp_, text.arg(op)), op);
        return *this;
    }
    /// text/html; charset=utf-8 (must be UTF-8).
    Response &set_html(detail::CStr html) {
        const char *op = "resp_set_html";
        detail::check(resp_set_html(resp_, html.arg(op)), op);
        return *this;
    }
    /// application/octet-stream; any bytes.
    Response &set_content(std::string_view data) {
        detail::check(resp_set_content(resp_, data.data(), data.size()), "resp_set_content");
        return *this;
    }
    Response &set_content(const void *data, std::size_t len) {
        detail::check(resp_set_content(resp_, data, len), "resp_set_content");
        return *this;
    }
    /// application/json; the text is validated (MR_EINVAL if not JSON).
    Response &set_json(std::string_view json) {
        const char *op = "resp_set_json";
        const detail::CStr s(json);
        detail::check(resp_set_json(resp_, s.arg(op)), op);
        return *this;
    }

    // ---- building a JSON body by dotted path (resp.json.a.b = value) ------

    /// A string value: json("user.name", "Ann").
    Response &json(detail::CStr path, detail::CStr value) {
        const char *op = "resp_json_set_str";
        detail::check(resp_json_set_str(resp_, path.arg(op), value.arg(op)), op);
        return *this;
    }
    /// JSON null: json("a", nullptr).
    Response &json(detail::CStr path, std::nullptr_t) {
        const char *op = "resp_json_set_null";
        detail::check(resp_json_set_null(resp_, path.arg(op)), op);
        return *this;
    }
    /// true / false (only a real bool: pointers do not decay to it here).
    template <class T, std::enable_if_t<std::is_same_v<T, bool>, int> = 0>
    Response &json(detail::CStr path, T value) {
        const char *op = "resp_json_set_bool";
        detail::check(resp_json_set_bool(resp_, path.arg(op), value ? 1 : 0), op);
        return *this;
    }
    /// An integer (any integral type but bool and characters). Unsigned values
    /// above INT64_MAX throw MR_EINVAL.
    template <class T, std::enable_if_t<detail::is_json_int_v<T>, int> = 0>
    Response &json(detail::CStr path, T value) {
        const char *op = "resp_json_set_int";
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            if (value > static_cast<T>(std::numeric_limits<std::int64_t>::max()))
                detail::throw_invalid(op, "integer does not fit in int64_t");
        }
        detail::check(resp_json_set_int(resp_, path.arg(op), static_cast<std::int64_t>(value)), op);
        return *this;
    }
    /// A floating-point number (NaN and infinities are the library's to refuse).
    template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
    Response &json(detail::CStr path, T value) {
        const char *op = "resp_json_set_double";
        detail::check(resp_json_set_double(resp_, path.arg(op), static_cast<double>(value)), op);
        return *this;
    }
    Response &json_null(detail::CStr path) {
        const char *op = "resp_json_set_null";
        detail::check(resp_json_set_null(resp_, path.arg(op)), op);
        return *this;
    }
    /// A JSON text stored as is (validated): json_raw("list", "[1,2]").
    Response &json_raw(detail::CStr path, std::string_view json) {
        const char *op = "resp_json_set_raw";
        const detail::CStr s(json);
        detail::check(resp_json_set_raw(resp_, path.arg(op), s.arg(op)), op);
        return *this;
    }

    /// Renders a Jinja2 template from the folder of Server::set_templates_dir
    /// as the HTML body. `json_context` is a JSON object whose keys become the
    /// template's variables (`{}` / nullopt: none):
    /// load_template("example.html", R"({"var": "foobar"})").
    /// MR_ENOTFOUND for a missing template, MR_EINVAL for a syntax or render
    /// error or a context that is not an object, MR_ESTATE without a folder.
    Response &load_template(detail::CStr name, const detail::OptCStr &json_context = std::nullopt) {
        const char *op = "resp_load_template";
        detail::check(resp_load_template(resp_, name.arg(op), json_context.arg(op)), op);
        return *this;
    }

    // ---- redirects ---------------------------------------------------------

    /// 301, 302 (default), 303, 307 or 308 to a path or an http(s) URL.
    Response &redirect(detail::CStr location, int code = 302) {
        const char *op = "resp_redirect";
        detail::check(resp_redirect(resp_, location.arg(op), code), op);
        return *this;
    }
    /// A 302 to the path of the route registered under `route_name` with
    /// Server::route_named (the seed's redirect(view=Index)); the route must
    /// have no parameters. MR_ENOTFOUND for an unknown name.
    Response &redirect_route(detail::CStr route_name) {
        const char *op = "resp_redirect_route";
        detail::check(resp_redirect_route(resp_, route_name.arg(op)), op);
        return *this;
    }
    /// A redirect to a named route with its parameters filled in (values are
    /// percent-encoded): redirect_route("user", {{"id", "42"}}) for
    /// "/users/{id}". `code` as redirect().
    Response &redirect_route(detail::CStr route_name,
                             std::initializer_list<std::pair<std::string_view, std::string_view>> params,
                             int code = 302) {
        const char *op = "resp_redirect_route_params";
        std::vector<std::string> strings;
        strings.reserve(params.size() * 2);
        for (const auto &p : params) {
            strings.emplace_back(p.first);
            strings.emplace_back(p.second);
        }
        std::vector<const char *> ptrs;
        ptrs.reserve(strings.size() + 1);
        for (const auto &str : strings) {
            if (str.find('\0') != std::string::npos)
                detail::throw_invalid(op, "string contains a NUL byte");
            ptrs.push_back(str.c_str());
        }
        ptrs.push_back(nullptr);
        detail::check(resp_redirect_route_params(resp_, route_name.arg(op), ptrs.data(), code), op);
        return *this;
    }

    // ---- sending now ---------------------------------------------------------

    /// Sends the status line and headers now, with an optional custom reason
    /// phrase (nullopt: the standard one) and the first body bytes.
    Response &send_header(const detail::OptCStr &reason = std::nullopt,
                          std::string_view content = {}) {
        const char *op = "resp_send_header";
        detail::check(resp_send_header(resp_, reason.arg(op), content.data(), content.size()),
                      op);
        return *this;
    }
    /// Sends body bytes (the head first if needed); repeat to stream.
    Response &send(std::string_view data) {
        detail::check(resp_send(resp_, data.data(), data.size()), "resp_send");
        return *this;
    }
    Response &send(const void *data, std::size_t len) {
        detail::check(resp_send(resp_, data, len), "resp_send");
        return *this;
    }
    /// Writes what send() buffered to the client now.
    Response &flush() {
        detail::check(resp_flush(resp_), "resp_flush");
        return *this;
    }
    /// Sends a local file after the handler returns (ETag, ranges, 304...).
    Response &send_file(detail::CStr path) {
        const char *op = "resp_send_file";
        detail::check(resp_send_file(resp_, path.arg(op)), op);
        return *this;
    }
    /// Sends an error response and closes the connection.
    ///
    /// `code` 0 means 500. `content` nullopt sends the library's default page
    /// ("500 Internal Server Error"), a value is the body (even ""); `reason`
    /// nullopt uses the standard reason phrase.
    Response &abort(int code = 500, const detail::OptCStr &content = std::nullopt,
                    const detail::OptCStr &reason = std::nullopt) {
        const char *op = "resp_abort";
        detail::check(resp_abort(resp_, code, content.arg(op), reason.arg(op)), op);
        return *this;
    }
    /// Closes the connection now; a buffered response is not sent.
    Response &close() {
        detail::check(resp_close(resp_), "resp_close");
        return *this;
    }
    /// The client socket (do not read, write or close it).
    int client_fd() const { return detail::check(resp_client_fd(resp_), "resp_client_fd"); }

private:
    mr_resp *resp_;
};

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

namespace detail {

struct HandlerBase {
    HandlerBase() = default;
    HandlerBase(const HandlerBase &) = delete;
    HandlerBase &operator=(const HandlerBase &) = delete;
    virtual ~HandlerBase() = default;
    virtual void call(Request &req, Response &resp) = 0;
};

template <class F>
struct HandlerImpl final : HandlerBase {
    template <class G>
    explicit HandlerImpl(G &&g) : f(std::forward<G>(g)) {}
    void call(Request &req, Response &resp) override { static_cast<void>(f(req, resp)); }
    F f;
};

/// After a handler threw: a 500 if nothing was sent yet (non-zero return), a
/// cut-short response otherwise. The probe resp_set_status(status) succeeds
/// exactly while the head is unsent.
inline int handler_failed(mr_resp *resp) noexcept {
    if (resp_set_status(resp, resp_status(resp)) != MR_OK) {
        // The head (and maybe some body) went out: close without finishing
        // the body, so the client cannot take it for a complete response.
        static_cast<void>(resp_abort(resp, 500, nullptr, nullptr));
    }
    return -1;
}

/// The mr_handler given to the C library for every C++ handler.
inline int handler_trampoline(mr_req *req, mr_resp *resp, void *userdata) noexcept {
    try {
        Request rq(req);
        Response rs(resp);
        static_cast<HandlerBase *>(userdata)->call(rq, rs);
        return 0;
    } catch (...) {
        return handler_failed(resp);
    }
}

struct LogBase {
    LogBase() = default;
    LogBase(const LogBase &) = delete;
    LogBase &operator=(const LogBase &) = delete;
    virtual ~LogBase() = default;
    virtual void call(int level, std::string_view line) = 0;
};

template <class F>
struct LogImpl final : LogBase {
    template <class G>
    explicit LogImpl(G &&g) : f(std::forward<G>(g)) {}
    void call(int level, std::string_view line) override { static_cast<void>(f(level, line)); }
    F f;
};

inline void log_trampoline(void *userdata, int level, const char *line) noexcept {
    try {
        static_cast<LogBase *>(userdata)->call(level, view(line));
    } catch (...) {
        // A log callback has nowhere to report to.
    }
}

}  // namespace detail

/// An HTTP server (owns an `mr_server`). Non-copyable, movable.
///
/// The destructor stops the server if it runs (no grace period), then frees
/// it and the handlers. Do not destroy a Server from one of its own handlers.
/// Configuration calls throw MR_ESTATE while the server runs.
class Server {
public:
    /// server_new; throws mr::Error (MR_EIO) if it returns NULL (no memory).
    Server() : srv_(server_new()) {
        if (srv_ == nullptr) throw Error(MR_EIO, "server_new: could not create the server");
    }
    ~Server() { reset(); }

    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    /// The moved-from Server holds nothing; its calls throw MR_EINVAL.
    Server(Server &&other) noexcept
        : srv_(std::exchange(other.srv_, nullptr)),
          handlers_(std::move(other.handlers_)),
          log_(std::move(other.log_)) {
        other.handlers_.clear();
    }
    Server &operator=(Server &&other) noexcept {
        if (this != &other) {
            reset();  // frees our server before our handlers
            srv_ = std::exchange(other.srv_, nullptr);
            handlers_ = std::move(other.handlers_);
            other.handlers_.clear();
            log_ = std::move(other.log_);
        }
        return *this;
    }

    /// The C handle (nullptr after a move), for calls the wrapper does not cover.
    mr_server *handle() const noexcept { return srv_; }

    // ---- listeners and routes ------------------------------------------------

    /// Adds an address: "127.0.0.1:8080", "[::]:0", "localhost:80"; may repeat.
    Server &listen(detail::CStr addr) {
        const char *op = "server_listen";
        detail::check(server_listen(srv_, addr.arg(op)), op);
        return *this;
    }

    /// Registers a handler, any callable `void(mr::Request &, mr::Response &)`,
    /// for a method ("GET", ..., or "*" for any) and a pattern ("/users/{id}").
    template <class F>
    Server &route(detail::CStr method, detail::CStr pattern, F &&handler) {
        const char *op = "server_route";
        auto h = make_handler(std::forward<F>(handler));
        detail::check(server_route(srv_, method.arg(op), pattern.arg(op),
                                   &detail::handler_trampoline, h.get()),
                      op);
        handlers_.push_back(std::move(h));
        return *this;
    }

    /// As route(), under a name that Response::redirect_route can point at.
    template <class F>
    Server &route_named(detail::CStr name, detail::CStr method, detail::CStr pattern,
                        F &&handler) {
        const char *op = "server_route_named";
        auto h = make_handler(std::forward<F>(handler));
        detail::check(server_route_named(srv_, name.arg(op), method.arg(op), pattern.arg(op),
                                         &detail::handler_trampoline, h.get()),
                      op);
        handlers_.push_back(std::move(h));
        return *this;
    }

    /// The handler for requests that match no route (instead of 404).
    template <class F>
    Server &fallback(F &&handler) {
        auto h = make_handler(std::forward<F>(handler));
        detail::check(server_set_fallback(srv_, &detail::handler_trampoline, h.get()),
                      "server_set_fallback");
        handlers_.push_back(std::move(h));  // an earlier fallback stays owned until the end
        return *this;
    }
    /// Back to the built-in 404.
    Server &clear_fallback() {
        detail::check(server_set_fallback(srv_, nullptr, nullptr), "server_set_fallback");
        return *this;
    }

    /// Serves a folder under a URL prefix (server_static).
    Server &serve_static(detail::CStr url_prefix, detail::CStr dir) {
        const char *op = "server_static";
        detail::check(server_static(srv_, url_prefix.arg(op), dir.arg(op)), op);
        return *this;
    }
    /// server_static_ex: MR_STATIC_* flags, a Cache-Control value and a
    /// single-page-application fallback file (nullopt: none).
    Server &serve_static(detail::CStr url_prefix, detail::CStr dir, unsigned flags,
                         const detail::OptCStr &cache_control = std::nullopt,
                         const detail::OptCStr &spa_fallback = std::nullopt) {
        const char *op = "server_static_ex";
        detail::check(server_static_ex(srv_, url_prefix.arg(op), dir.arg(op), flags,
                                       cache_control.arg(op), spa_fallback.arg(op)),
                      op);
        return *this;
    }

    /// A callback for log lines: any callable `void(int level, std::string_view
    /// line)` (MR_LOG_ERROR / _WARN / _INFO), called from worker threads.
    template <class F>
    Server &set_log(F &&fn) {
        static_assert(std::is_invocable_v<std::decay_t<F> &, int, std::string_view>,
                      "a log callback must be callable as void(int, std::string_view)");
        auto l = std::make_unique<detail::LogImpl<std::decay_t<F>>>(std::forward<F>(fn));
        detail::check(server_set_log(srv_, &detail::log_trampoline, l.get()), "server_set_log");
        log_ = std::move(l);  // the server is not running: the old one is unused
        return *this;
    }
    /// Turns logging off.
    Server &clear_log() {
        detail::check(server_set_log(srv_, nullptr, nullptr), "server_set_log");
        log_.reset();
        return *this;
    }

    // ---- settings (before start) --------------------------------------------

    /// The folder Response::load_template loads Jinja2 templates from.
    Server &set_templates_dir(detail::CStr dir) {
        const char *op = "server_set_templates_dir";
        detail::check(server_set_templates_dir(srv_, dir.arg(op)), op);
        return *this;
    }
    /// Reload changed template files (on by default).
    Server &set_templates_reload(bool enabled) {
        detail::check(server_set_templates_reload(srv_, enabled ? 1 : 0),
                      "server_set_templates_reload");
        return *this;
    }

    /// Worker threads (0: one per CPU, the default).
    Server &set_workers(unsigned n) {
        detail::check(server_set_workers(srv_, n), "server_set_workers");
        return *this;
    }
    Server &set_max_connections(unsigned n) {
        detail::check(server_set_max_connections(srv_, n), "server_set_max_connections");
        return *this;
    }
    Server &set_limits(std::size_t max_header_bytes, std::size_t max_body_bytes) {
        detail::check(server_set_limits(srv_, max_header_bytes, max_body_bytes),
                      "server_set_limits");
        return *this;
    }
    Server &set_max_headers(unsigned n) {
        detail::check(server_set_max_headers(srv_, n), "server_set_max_headers");
        return *this;
    }
    Server &set_timeouts(unsigned header_ms, unsigned idle_ms, unsigned write_ms) {
        detail::check(server_set_timeouts(srv_, header_ms, idle_ms, write_ms),
                      "server_set_timeouts");
        return *this;
    }
    Server &set_body_timeout(unsigned body_ms) {
        detail::check(server_set_body_timeout(srv_, body_ms), "server_set_body_timeout");
        return *this;
    }
    /// Connections one client address may hold (0: no limit, the default).
    Server &set_max_connections_per_ip(unsigned n) {
        detail::check(server_set_max_connections_per_ip(srv_, n),
                      "server_set_max_connections_per_ip");
        return *this;
    }
    /// At the limit, close the longest-idle keep-alive connection (default on).
    Server &set_lru_purge(bool enable) {
        detail::check(server_set_lru_purge(srv_, enable ? 1 : 0), "server_set_lru_purge");
        return *this;
    }
    /// Stack of the worker threads in bytes (0: platform default).
    Server &set_stack_size(std::size_t bytes) {
        detail::check(server_set_stack_size(srv_, bytes), "server_set_stack_size");
        return *this;
    }

    // ---- running ---------------------------------------------------------------

    /// Binds every listener and serves on worker threads; returns at once.
    void start() { detail::check(server_start(srv_), "server_start"); }
    /// Starts if needed and blocks until stop() (from a handler or a thread).
    void run() { detail::check(server_run(srv_), "server_run"); }
    /// Stops gracefully: requests in progress get up to `grace_ms`. From a
    /// handler it returns at once; from another thread once stopped.
    void stop(unsigned grace_ms = 0) { detail::check(server_stop(srv_, grace_ms), "server_stop"); }
    /// The port of listener `index` (the one chosen for ":0").
    int port(std::size_t index = 0) const {
        return detail::check(server_port(srv_, index), "server_port");
    }

private:
    template <class F>
    static std::unique_ptr<detail::HandlerBase> make_handler(F &&f) {
        using Fn = std::decay_t<F>;
        static_assert(std::is_invocable_v<Fn &, Request &, Response &>,
                      "a handler must be callable as void(mr::Request &, mr::Response &)");
        return std::make_unique<detail::HandlerImpl<Fn>>(std::forward<F>(f));
    }

    void reset() noexcept {
        server_free(srv_);  // stops the workers: no handler runs after this
        srv_ = nullptr;
        handlers_.clear();
        log_.reset();
    }

    mr_server *srv_;
    std::vector<std::unique_ptr<detail::HandlerBase>> handlers_;
    std::unique_ptr<detail::LogBase> log_;
};

/// The library version, e.g. "0.1.0".
inline std::string_view version() noexcept { return detail::view(mr_version()); }

/// The MIME type the library uses for a file name.
inline std::string_view mime_for_path(detail::CStr path) noexcept {
    return detail::view(mr_mime_for_path(path.get()));
}

}  // namespace mr

#endif  // MICROROUTE_HPP

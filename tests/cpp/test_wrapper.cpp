// Tests of include/microroute.hpp: a real mr::Server on 127.0.0.1:0, lambda
// handlers, and exact bytes on the wire read by the client in harness.hpp.
#include "microroute.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "harness.hpp"

// Defined in tu2.cpp: the header used from a second translation unit.
void tu2_register_routes(mr::Server &srv, std::atomic<int> &calls);

namespace {

// What a handler saw, as text: "[value]" or "-" for absent.
std::string opt(const std::optional<std::string_view> &v) {
    return v ? "[" + std::string(*v) + "]" : std::string("-");
}

// A started server on 127.0.0.1:0 with one worker-count setting.
struct Started {
    mr::Server srv;
    int port = 0;
};

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

}  // namespace

// ---- compile-time properties -------------------------------------------------

static_assert(std::is_base_of_v<std::runtime_error, mr::Error>, "mr::Error is a runtime_error");
static_assert(!std::is_copy_constructible_v<mr::Server>, "Server is not copyable");
static_assert(!std::is_copy_assignable_v<mr::Server>, "Server is not copy-assignable");
static_assert(std::is_nothrow_move_constructible_v<mr::Server>, "Server moves");
static_assert(std::is_nothrow_move_assignable_v<mr::Server>, "Server move-assigns");
static_assert(!std::is_copy_constructible_v<mr::Request>, "Request is a view, not copied");
static_assert(!std::is_copy_constructible_v<mr::Response>, "Response is a view, not copied");
// Setters chain: they return Response&.
static_assert(std::is_same_v<decltype(std::declval<mr::Response &>().set_status(200)),
                             mr::Response &>);
static_assert(std::is_same_v<decltype(std::declval<mr::Response &>().set_text("x")),
                             mr::Response &>);
static_assert(std::is_same_v<decltype(std::declval<mr::Request &>().param("x")),
                             std::optional<std::string_view>>);
static_assert(std::is_same_v<decltype(std::declval<mr::Request &>().method()), std::string_view>);

// ---- the seed's method chain ---------------------------------------------------

TEST_CASE(seed_chain) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/chain", [](mr::Request &req, mr::Response &resp) {
        static_cast<void>(req);
        resp.set_status(200)
            .set_cookie("key", "value", MR_COOKIE_SECURE)
            .set_text("long chain!")
            .set_header("X-somehead", "value");
    });
    srv.start();
    const int port = srv.port();
    CHECK(port > 0);

    th::Response r = th::get(port, "/chain");
    CHECK(r.ok);
    CHECK_EQ(r.count("Date"), 1);
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 200 OK\r\n"
                         "Set-Cookie: key=value; Path=/; Secure\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "X-somehead: value\r\n"
                         "Content-Length: 11\r\n\r\n"));
    CHECK_EQ(r.body, std::string("long chain!"));

    // HEAD on the GET route: same head, no body.
    r = th::request(port, "HEAD /chain HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.header("Content-Length"), std::optional<std::string>("11"));
    CHECK_EQ(r.body, std::string(""));
    srv.stop();
}

// ---- bodies ----------------------------------------------------------------------

TEST_CASE(bodies) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    const std::string bin("a\0b\xff\x01z", 6);
    srv.route("GET", "/text", [](mr::Request &, mr::Response &resp) { resp.set_text("hello!"); });
    srv.route("GET", "/text-string", [](mr::Request &, mr::Response &resp) {
        const std::string s = "from std::string";
        resp.set_text(s);
    });
    srv.route("GET", "/text-view", [](mr::Request &, mr::Response &resp) {
        // A view that is not NUL-terminated: only "view" must go out.
        const std::string_view v = std::string_view("viewXXXX").substr(0, 4);
        resp.set_text(v);
    });
    srv.route("GET", "/html", [](mr::Request &, mr::Response &resp) {
        resp.set_html("<p>caf\xc3\xa9</p>");
    });
    srv.route("GET", "/content", [bin](mr::Request &, mr::Response &resp) { resp.set_content(bin); });
    srv.route("GET", "/content-ptr", [](mr::Request &, mr::Response &resp) {
        const unsigned char bytes[] = {0, 1, 2};
        resp.set_content(bytes, sizeof bytes);
    });
    srv.route("GET", "/json", [](mr::Request &, mr::Response &resp) {
        resp.set_json(std::string_view("{\"a\": [1, 2, {\"b\": null}]}garbage").substr(0, 26));
    });
    srv.route("GET", "/json-invalid", [](mr::Request &, mr::Response &resp) {
        try {
            resp.set_json("{not json");
            resp.set_text("no throw");
        } catch (const mr::Error &e) {
            resp.set_text("code " + std::to_string(e.code()) + " " +
                          (contains(e.what(), "resp_set_json: ") ? "op-named" : e.what()));
        }
    });
    srv.route("GET", "/nul", [](mr::Request &, mr::Response &resp) {
        resp.set_text("kept");
        try {
            resp.set_text(std::string_view("a\0b", 3));
        } catch (const mr::Error &e) {
            resp.set_header("X-Code", std::to_string(e.code()));
        }
    });
    srv.route("GET", "/mime", [](mr::Request &, mr::Response &resp) {
        resp.set_text("a,b").set_mime_type("text/csv");
    });
    srv.route("GET", "/replace", [](mr::Request &, mr::Response &resp) {
        resp.set_html("<b>x</b>").set_text("last wins");
    });
    srv.route("GET", "/empty", [](mr::Request &, mr::Response &) {});
    srv.start();
    const int port = srv.port();

    th::Response r = th::get(port, "/text");
    CHECK_EQ(r.head_without_date(), std::string("HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
                                                 "charset=utf-8\r\nContent-Length: 6\r\n\r\n"));
    CHECK_EQ(r.body, std::string("hello!"));
    CHECK_EQ(th::get(port, "/text-string").body, std::string("from std::string"));
    CHECK_EQ(th::get(port, "/text-view").body, std::string("view"));

    r = th::get(port, "/html");
    CHECK_EQ(r.head_without_date(), std::string("HTTP/1.1 200 OK\r\nContent-Type: text/html; "
                                                 "charset=utf-8\r\nContent-Length: 12\r\n\r\n"));
    CHECK_EQ(r.body, std::string("<p>caf\xc3\xa9</p>"));

    r = th::get(port, "/content");
    CHECK_EQ(r.head_without_date(), std::string("HTTP/1.1 200 OK\r\nContent-Type: "
                                                 "application/octet-stream\r\nContent-Length: "
                                                 "6\r\n\r\n"));
    CHECK_EQ(r.body, bin);
    CHECK_EQ(th::get(port, "/content-ptr").body, std::string("\0\1\2", 3));

    r = th::get(port, "/json");
    CHECK_EQ(r.head_without_date(), std::string("HTTP/1.1 200 OK\r\nContent-Type: "
                                                 "application/json\r\nContent-Length: 26\r\n\r\n"));
    CHECK_EQ(r.body, std::string("{\"a\": [1, 2, {\"b\": null}]}"));

    CHECK_EQ(th::get(port, "/json-invalid").body, std::string("code -1 op-named"));

    r = th::get(port, "/nul");
    CHECK_EQ(r.body, std::string("kept"));
    CHECK_EQ(r.header("X-Code"), std::optional<std::string>("-1"));

    r = th::get(port, "/mime");
    CHECK_EQ(r.header("Content-Type"), std::optional<std::string>("text/csv"));
    CHECK_EQ(r.body, std::string("a,b"));

    r = th::get(port, "/replace");
    CHECK_EQ(r.header("Content-Type"), std::optional<std::string>("text/plain; charset=utf-8"));
    CHECK_EQ(r.body, std::string("last wins"));

    r = th::get(port, "/empty");
    CHECK_EQ(r.head_without_date(), std::string("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
}

// ---- status, headers, cookies -------------------------------------------------

TEST_CASE(status_headers_cookies) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/status", [](mr::Request &, mr::Response &resp) {
        resp.set_status(418).set_text("teapot");
    });
    srv.route("GET", "/headers", [](mr::Request &, mr::Response &resp) {
        const std::string name = "X-Str";
        resp.add_header("Vary", "Accept")
            .add_header("Vary", std::string("Cookie"))
            .set_header(name, std::string_view("s"))
            .set_header("X-Gone", "1")
            .remove_header("x-gone")
            .set_header("x-a", "1")
            .set_header("X-A", "2");
        // Getters on the response.
        const std::string seen = opt(resp.header("vary")) + opt(resp.header("X-Gone")) +
                                 std::to_string(resp.status());
        resp.set_text(seen);
    });
    srv.route("GET", "/cookies", [](mr::Request &, mr::Response &resp) {
        resp.set_cookie("a", "1")
            .set_cookie("s", "2", MR_COOKIE_SECURE | MR_COOKIE_HTTPONLY | MR_COOKIE_SAMESITE_STRICT)
            .set_cookie_ex("b", "3", 3600, "/p", "example.com", MR_COOKIE_SECURE)
            .set_cookie_ex("c", "4", -1, std::nullopt, nullptr, 0)
            .delete_cookie("gone")
            .set_text("cookies");
    });
    srv.route("GET", "/bad-status", [](mr::Request &, mr::Response &resp) {
        std::string out;
        for (int code : {99, 1000, -5}) {
            try {
                resp.set_status(code);
                out += "no-throw ";
            } catch (const mr::Error &e) {
                out += std::to_string(e.code()) + " ";
            }
        }
        try {
            resp.set_cookie("n", "v", MR_COOKIE_SAMESITE_NONE);  // None needs Secure
            out += "no-throw";
        } catch (const mr::Error &e) {
            out += std::to_string(e.code());
        }
        resp.set_text(out);
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::get(port, "/status");
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 418 I'm a teapot\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: 6\r\n\r\n"));

    r = th::get(port, "/headers");
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 200 OK\r\nVary: Accept\r\nVary: Cookie\r\nX-Str: s\r\n"
                         "X-A: 2\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: 12\r\n\r\n"));
    CHECK_EQ(r.body, std::string("[Accept]-200"));

    r = th::get(port, "/cookies");
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 200 OK\r\n"
                         "Set-Cookie: a=1; Path=/; HttpOnly; SameSite=Lax\r\n"
                         "Set-Cookie: s=2; Path=/; Secure; HttpOnly; SameSite=Strict\r\n"
                         "Set-Cookie: b=3; Max-Age=3600; Path=/p; Domain=example.com; Secure\r\n"
                         "Set-Cookie: c=4; Path=/\r\n"
                         "Set-Cookie: gone=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
                         "Path=/\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\n\r\n"));

    CHECK_EQ(th::get(port, "/bad-status").body, std::string("-1 -1 -1 -1"));
}

// ---- mr::Error from the C codes ---------------------------------------------------

TEST_CASE(error_invalid_header_caught_in_handler) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/inject", [](mr::Request &, mr::Response &resp) {
        std::string out;
        const char *bad_values[] = {"a\r\nInjected: 1", "a\nb", "a\rb"};
        for (const char *v : bad_values) {
            try {
                resp.set_header("X-Bad", v);
                out += "no-throw;";
            } catch (const mr::Error &e) {
                out += std::to_string(e.code());
                out += contains(e.what(), "resp_set_header: ") ? ":named;" : ":unnamed;";
            }
        }
        try {
            resp.add_header("Bad Name", "v");
        } catch (const std::runtime_error &e) {  // caught as its base class
            const auto *me = dynamic_cast<const mr::Error *>(&e);
            out += me != nullptr ? std::to_string(me->code()) : "not-mr-error";
        }
        // A header value with an embedded NUL is refused by the wrapper itself.
        try {
            resp.set_header("X-Nul", std::string("a\0b", 3));
        } catch (const mr::Error &e) {
            out += ";nul" + std::to_string(e.code());
        }
        resp.set_status(400).set_text(out);
    });
    srv.start();
    th::Response r = th::get(srv.port(), "/inject");
    CHECK_EQ(r.status, 400);
    CHECK_EQ(r.body, std::string("-1:named;-1:named;-1:named;-1;nul-1"));
    CHECK_EQ(r.count("Injected"), 0);
    CHECK_EQ(r.count("X-Bad"), 0);
    CHECK_EQ(r.count("X-Nul"), 0);
}

TEST_CASE(error_state_after_send) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/state", [](mr::Request &, mr::Response &resp) {
        resp.set_header("Content-Type", "text/plain").send("one;");
        std::string out;
        try {
            resp.set_header("X-Late", "1");
        } catch (const mr::Error &e) {
            out += (e.code() == MR_ESTATE ? "estate;" : "other;");
        }
        try {
            resp.set_status(404);
        } catch (const mr::Error &e) {
            out += (e.code() == MR_ESTATE ? "estate;" : "other;");
        }
        try {
            resp.set_text("late");
        } catch (const mr::Error &e) {
            out += (e.code() == MR_ESTATE ? "estate;" : "other;");
        }
        resp.send(out).send("end");
    });
    srv.route("GET", "/send-header", [](mr::Request &, mr::Response &resp) {
        resp.set_status(299).set_header("Content-Length", "5").send_header("Fine", "he").send("llo");
    });
    srv.start();
    th::Response r = th::get(srv.port(), "/state");
    CHECK(r.complete);
    CHECK(r.chunked);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.count("X-Late"), 0);
    CHECK_EQ(r.body, std::string("one;estate;estate;estate;end"));

    r = th::get(srv.port(), "/send-header");
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 299 Fine\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n"));
    CHECK_EQ(r.body, std::string("hello"));
}

TEST_CASE(server_errors) {
    {
        mr::Server srv;
        try {
            srv.listen("not an address");
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_EINVAL);
            CHECK(contains(e.what(), "server_listen: "));
        }
        try {
            srv.start();  // no listener
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_ESTATE);
        }
        try {
            static_cast<void>(srv.port());  // never started
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_ESTATE);
        }
        try {
            srv.set_workers(5000);
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_EINVAL);
        }
        try {
            srv.route("GET", "no-slash", [](mr::Request &, mr::Response &) {});
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_EINVAL);
            CHECK(contains(e.what(), "server_route: "));
        }
    }
    {
        // A refused route does not keep its handler; a duplicate is refused.
        auto token = std::make_shared<int>(7);
        mr::Server srv;
        srv.route("GET", "/x", [token](mr::Request &, mr::Response &) {});
        CHECK_EQ(token.use_count(), 2);
        try {
            srv.route("GET", "/x", [token](mr::Request &, mr::Response &) {});
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_EINVAL);
        }
        CHECK_EQ(token.use_count(), 2);
    }
    {
        // Busy port; configuration while running.
        mr::Server a;
        a.listen("127.0.0.1:0").start();
        mr::Server b;
        b.listen("127.0.0.1:" + std::to_string(a.port()));
        try {
            b.start();
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_EADDR);
        }
        try {
            a.set_workers(2);
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_ESTATE);
        }
        try {
            a.route("GET", "/late", [](mr::Request &, mr::Response &) {});
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_ESTATE);
        }
        try {
            a.start();
            CHECK(false);
        } catch (const mr::Error &e) {
            CHECK_EQ(e.code(), MR_ESTATE);
        }
    }
    // Every typed setter accepts good values.
    mr::Server s;
    s.set_workers(2)
        .set_max_connections(64)
        .set_limits(8192, 4096)
        .set_max_headers(32)
        .set_timeouts(2000, 1000, 2000)
        .set_body_timeout(2000);
    try {
        s.set_timeouts(0, 1, 1);
        CHECK(false);
    } catch (const mr::Error &e) {
        CHECK_EQ(e.code(), MR_EINVAL);
    }
}

// ---- requests ----------------------------------------------------------------------

TEST_CASE(request_getters) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("*", "/users/{id}/files/{rest...}", [](mr::Request &req, mr::Response &resp) {
        std::string o;
        o += "method=" + std::string(req.method()) + "\n";
        o += "path=" + std::string(req.path()) + "\n";
        o += "qs=" + std::string(req.query_string()) + "\n";
        o += "host=" + std::string(req.host()) + "\n";
        o += "version=" + std::to_string(req.http_version()) + "\n";
        o += "remote=" + std::string(req.remote_addr().substr(0, 10)) + "\n";
        o += "id=" + opt(req.param("id")) + " rest=" + opt(req.param(std::string("rest"))) +
             " nope=" + opt(req.param(std::string_view("nope"))) +
             " nul=" + opt(req.param(std::string_view("id\0x", 4))) + "\n";
        o += "q=" + opt(req.query("q")) + " empty=" + opt(req.query("empty")) +
             " none=" + opt(req.query("none")) + "\n";
        o += "hdr=" + opt(req.header("x-custom")) + " missing=" + opt(req.header("X-Missing")) +
             " multi=" + opt(req.header("X-Multi")) + "\n";
        o += "cookie sid=" + opt(req.cookie("sid")) + " theme=" + opt(req.cookie("theme")) +
             " none=" + opt(req.cookie("none")) + "\n";
        o += "headers:";
        for (const auto &h : req.headers()) o += " " + std::string(h.first) + "=" + std::string(h.second);
        resp.set_text(o);
    });
    srv.route("GET", "/plain", [](mr::Request &req, mr::Response &resp) {
        resp.set_text("qs=[" + std::string(req.query_string()) + "] q=" + opt(req.query("q")) +
                      " host=[" + std::string(req.host()) + "] v=" +
                      std::to_string(req.http_version()));
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::request(
        port,
        "GET /users/a%20b/files/x/y.txt?q=a+b%21&empty&n=1 HTTP/1.1\r\n"
        "Host: example.com\r\nX-Custom:  val \r\nCookie: sid=abc; theme=\"dark\"\r\n"
        "X-Multi: 1\r\nX-Multi: 2\r\n\r\n");
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body, std::string("method=GET\n"
                                 "path=/users/a%20b/files/x/y.txt\n"
                                 "qs=q=a+b%21&empty&n=1\n"
                                 "host=example.com\n"
                                 "version=11\n"
                                 "remote=127.0.0.1:\n"
                                 "id=[a b] rest=[x/y.txt] nope=- nul=-\n"
                                 "q=[a b!] empty=[] none=-\n"
                                 "hdr=[val] missing=- multi=[1]\n"
                                 "cookie sid=[abc] theme=[dark] none=-\n"
                                 "headers: Host=example.com X-Custom=val Cookie=sid=abc; "
                                 "theme=\"dark\" X-Multi=1 X-Multi=2"));

    r = th::request(port, "DELETE /users/7/files/f HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(contains(r.body, "method=DELETE\n"));
    CHECK(contains(r.body, "id=[7] rest=[f]"));

    r = th::request(port, "GET /plain HTTP/1.0\r\n\r\n");
    CHECK_EQ(r.body, std::string("qs=[] q=- host=[] v=10"));
}

TEST_CASE(request_bodies) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.set_limits(16384, 64);
    srv.route("POST", "/echo", [](mr::Request &req, mr::Response &resp) {
        const std::string_view b = req.body();
        resp.set_text("len=" + std::to_string(b.size()) + " body=" + std::string(b) +
                      " x=" + opt(req.form("x")) + " none=" + opt(req.form("none")));
    });
    srv.route("POST", "/big", [](mr::Request &req, mr::Response &resp) {
        resp.set_text(std::string(req.body()));  // throws: the library answers 413
    });
    srv.route("POST", "/big-caught", [](mr::Request &req, mr::Response &resp) {
        try {
            static_cast<void>(req.body());
        } catch (const mr::Error &e) {
            // Whatever is set now is discarded: the library answers 413.
            resp.set_text("caught " + std::to_string(e.code()));
        }
    });
    srv.route("POST", "/stream", [](mr::Request &req, mr::Response &resp) {
        std::string all;
        char buf[7];
        int pieces = 0;
        for (std::size_t n; (n = req.read(buf, sizeof buf)) > 0; ++pieces) all.append(buf, n);
        resp.set_text(std::to_string(all.size()) + ":" + all.substr(0, 5) + ":" +
                      (pieces >= 2 ? "pieces" : "one"));
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::request(port,
                    "POST /echo HTTP/1.1\r\nHost: t\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 17\r\n\r\nhello=world&x=1+2");
    CHECK_EQ(r.body, std::string("len=17 body=hello=world&x=1+2 x=[1 2] none=-"));

    const std::string big(100, 'x');
    r = th::request(port, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + big);
    CHECK_EQ(r.status, 413);
    r = th::request(port, "POST /big-caught HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + big);
    CHECK_EQ(r.status, 413);

    // A chunked body of 200 bytes (over max_body_bytes: read() streams it).
    std::string chunked;
    std::string payload;
    for (int i = 0; i < 10; ++i) {
        const std::string piece(20, static_cast<char>('a' + i));
        payload += piece;
        chunked += "14\r\n" + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    r = th::request(port, "POST /stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              chunked);
    CHECK_EQ(r.body, std::string("200:aaaaa:pieces"));
}

// ---- handlers: captures, kinds of callables ---------------------------------------

namespace {
void free_function_handler(mr::Request &req, mr::Response &resp) {
    resp.set_text("free " + std::string(req.path()));
}

struct Functor {
    std::string prefix;
    void operator()(mr::Request &, mr::Response &resp) const { resp.set_text(prefix + "functor"); }
};

struct ReturnsInt {
    int operator()(mr::Request &, mr::Response &resp) {
        resp.set_text("returns int");
        return 42;  // ignored
    }
};
}  // namespace

TEST_CASE(handler_captures) {
    std::atomic<int> calls{0};
    auto owned = std::make_unique<std::string>("move-only");
    mr::Server srv;
    srv.listen("127.0.0.1:0").set_workers(1);
    srv.route("GET", "/ref", [&calls](mr::Request &, mr::Response &resp) {
        resp.set_text("call " + std::to_string(++calls));
    });
    srv.route("GET", "/move-only", [p = std::move(owned)](mr::Request &, mr::Response &resp) {
        resp.set_text(*p);
    });
    int state = 0;  // one worker: the mutable lambda's state is not shared between threads
    srv.route("GET", "/mutable", [state](mr::Request &, mr::Response &resp) mutable {
        resp.set_text("state " + std::to_string(++state));
    });
    srv.route("GET", "/free", free_function_handler);
    srv.route("GET", "/fnptr", &free_function_handler);
    Functor f{"a "};
    srv.route("GET", "/functor", f);
    srv.route("GET", "/functor-rvalue", Functor{"b "});
    srv.route("GET", "/int", ReturnsInt{});
    tu2_register_routes(srv, calls);  // a second translation unit
    srv.start();
    const int port = srv.port();

    CHECK_EQ(th::get(port, "/ref").body, std::string("call 1"));
    CHECK_EQ(th::get(port, "/ref").body, std::string("call 2"));
    CHECK_EQ(th::get(port, "/move-only").body, std::string("move-only"));
    CHECK_EQ(th::get(port, "/mutable").body, std::string("state 1"));
    CHECK_EQ(th::get(port, "/mutable").body, std::string("state 2"));
    CHECK_EQ(state, 0);  // captured by value
    CHECK_EQ(th::get(port, "/free").body, std::string("free /free"));
    CHECK_EQ(th::get(port, "/fnptr").body, std::string("free /fnptr"));
    CHECK_EQ(th::get(port, "/functor").body, std::string("a functor"));
    CHECK_EQ(th::get(port, "/functor-rvalue").body, std::string("b functor"));
    CHECK_EQ(th::get(port, "/int").body, std::string("returns int"));
    CHECK_EQ(th::get(port, "/tu2").body, std::string("tu2 call 3"));
    CHECK_EQ(calls.load(), 3);
}

TEST_CASE(fallback_and_log) {
    std::mutex m;
    std::vector<std::string> lines;
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("POST", "/only-post", [](mr::Request &, mr::Response &resp) { resp.set_text("p"); });
    srv.fallback([](mr::Request &, mr::Response &resp) { resp.set_text("first fallback"); });
    srv.fallback([](mr::Request &req, mr::Response &resp) {
        resp.set_status(404).set_text("fallback for " + std::string(req.path()));
    });
    srv.set_log([&](int level, std::string_view line) {
        std::lock_guard<std::mutex> g(m);
        lines.push_back(std::to_string(level) + " " + std::string(line));
    });
    srv.start();
    const int port = srv.port();
    th::Response r = th::get(port, "/nowhere?x=1");
    CHECK_EQ(r.status, 404);
    CHECK_EQ(r.body, std::string("fallback for /nowhere"));
    r = th::get(port, "/only-post");  // another method's route: 405, not the fallback
    CHECK_EQ(r.status, 405);
    CHECK_EQ(r.header("Allow"), std::optional<std::string>("POST"));
    srv.stop();
    std::lock_guard<std::mutex> g(m);
    bool seen = false;
    for (const auto &l : lines)
        seen = seen || (l.rfind("3 ", 0) == 0 && contains(l, "\"GET /nowhere?x=1 HTTP/1.1\" 404"));
    CHECK(seen);

    // Without a fallback: the built-in 404.
    mr::Server plain;
    plain.listen("127.0.0.1:0");
    plain.fallback([](mr::Request &, mr::Response &resp) { resp.set_text("x"); });
    plain.clear_fallback();
    plain.set_log([](int, std::string_view) { throw std::runtime_error("swallowed"); });
    plain.start();
    CHECK_EQ(th::get(plain.port(), "/none").status, 404);
    try {
        plain.clear_log();  // the running server keeps its callback
        CHECK(false);
    } catch (const mr::Error &e) {
        CHECK_EQ(e.code(), MR_ESTATE);
    }
    CHECK_EQ(th::get(plain.port(), "/none").status, 404);
    plain.stop();
    plain.clear_log();
}

// ---- exceptions in handlers ------------------------------------------------------

TEST_CASE(throwing_handler_gives_500) {
    std::atomic<int> ok_calls{0};
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/throw", [](mr::Request &, mr::Response &resp) {
        resp.set_status(201).set_header("X-Set-Before", "1").set_text("dropped");
        throw std::runtime_error("boom");
    });
    srv.route("GET", "/throw-int", [](mr::Request &, mr::Response &) { throw 42; });
    srv.route("GET", "/throw-mr", [](mr::Request &, mr::Response &resp) {
        resp.set_header("X-Bad", "a\r\nb");  // uncaught mr::Error
    });
    srv.route("GET", "/throw-redirect", [](mr::Request &, mr::Response &resp) {
        resp.redirect("/elsewhere");
        throw std::logic_error("after redirect");
    });
    srv.route("GET", "/ok", [&ok_calls](mr::Request &, mr::Response &resp) {
        resp.set_text("still fine " + std::to_string(++ok_calls));
    });
    srv.start();
    const int port = srv.port();
    const std::string head500 =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 26\r\n\r\n";

    for (const char *path : {"/throw", "/throw-int", "/throw-mr", "/throw-redirect"}) {
        th::Response r = th::get(port, path);
        CHECK_EQ(r.head_without_date(), head500);
        CHECK_EQ(r.body, std::string("500 Internal Server Error\n"));
    }

    // The connection stays usable after a 500, and so does the server.
    th::Conn c(port);
    CHECK(c.send("GET /throw HTTP/1.1\r\nHost: t\r\n\r\nGET /ok HTTP/1.1\r\nHost: t\r\n\r\n"));
    th::Response r = c.read_response();
    CHECK_EQ(r.status, 500);
    r = c.read_response();
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body, std::string("still fine 1"));
    CHECK_EQ(th::get(port, "/ok").body, std::string("still fine 2"));
}

TEST_CASE(throw_after_send_cuts_the_response) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/flushed", [](mr::Request &, mr::Response &resp) {
        resp.set_mime_type("text/plain").send("partial").flush();
        throw std::runtime_error("after send");
    });
    srv.route("GET", "/buffered", [](mr::Request &, mr::Response &resp) {
        resp.send("partial");  // still in the library's buffer
        throw std::runtime_error("after send");
    });
    srv.route("GET", "/length", [](mr::Request &, mr::Response &resp) {
        resp.set_header("Content-Length", "100").send("only part").flush();
        throw 1;
    });
    srv.route("GET", "/ok", [](mr::Request &, mr::Response &resp) { resp.set_text("ok"); });
    srv.start();
    const int port = srv.port();

    for (const char *path : {"/flushed", "/buffered", "/length"}) {
        th::Conn c(port);
        CHECK(c.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n"));
        th::Response r = c.read_response();
        // Never a response that looks complete: the body is cut and the
        // connection closed.
        CHECK_EQ(r.status, 200);
        CHECK(!r.complete);
        CHECK(r.body.size() <= 9);
        CHECK_EQ(c.wait_eof(2000), 1);
    }
    CHECK_EQ(th::get(port, "/ok").body, std::string("ok"));
}

// ---- redirects, abort, files, close -----------------------------------------------

TEST_CASE(redirect_abort_files_close) {
    char dir_template[] = "/tmp/mrcpp-files.XXXXXX";
    const char *dir = ::mkdtemp(dir_template);
    CHECK(dir != nullptr);
    const std::string file = std::string(dir) + "/hello.txt";
    {
        FILE *fp = std::fopen(file.c_str(), "w");
        CHECK(fp != nullptr);
        if (fp) {
            std::fputs("file body\n", fp);
            std::fclose(fp);
        }
    }

    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/r", [](mr::Request &, mr::Response &resp) { resp.redirect("/login?next=%2F"); });
    srv.route("GET", "/r301", [](mr::Request &, mr::Response &resp) {
        resp.redirect(std::string("https://example.com/x"), 301).set_header("X-After", "ok");
    });
    srv.route("GET", "/r-bad", [](mr::Request &, mr::Response &resp) {
        std::string out;
        for (const char *loc : {"//evil.example", "javascript:alert(1)"}) {
            try {
                resp.redirect(loc);
                out += "no-throw ";
            } catch (const mr::Error &e) {
                out += std::to_string(e.code()) + " ";
            }
        }
        try {
            resp.redirect("/ok", 200);
        } catch (const mr::Error &e) {
            out += std::to_string(e.code()) + " ";
        }
        resp.redirect("/ok", 303);
        try {
            resp.set_text("body after redirect");
        } catch (const mr::Error &e) {
            out += std::to_string(e.code());
        }
        resp.set_header("X-Out", out);
    });
    srv.route("GET", "/abort", [](mr::Request &, mr::Response &resp) { resp.abort(); });
    srv.route("GET", "/abort-404", [](mr::Request &, mr::Response &resp) {
        resp.abort(404, std::string("nope"));
    });
    srv.route("GET", "/abort-reason", [](mr::Request &, mr::Response &resp) {
        resp.set_mime_type("text/plain").abort(503, "", std::string_view("Busy Now"));
    });
    srv.route("GET", "/abort-braces", [](mr::Request &, mr::Response &resp) { resp.abort(0, {}, {}); });
    srv.route("GET", "/abort-twice", [](mr::Request &, mr::Response &resp) {
        resp.abort(400, "first");
        try {
            resp.abort(500, "second");
        } catch (const mr::Error &e) {
            if (e.code() != MR_ESTATE) throw;  // then the test sees a different result
        }
    });
    srv.route("GET", "/file", [file](mr::Request &, mr::Response &resp) { resp.send_file(file); });
    srv.route("GET", "/file-missing", [dir](mr::Request &, mr::Response &resp) {
        try {
            resp.send_file(std::string(dir) + "/missing.txt");
        } catch (const mr::Error &e) {
            resp.set_status(404).set_text("missing " + std::to_string(e.code()));
        }
    });
    srv.route("GET", "/file-dir", [dir](mr::Request &, mr::Response &resp) {
        try {
            resp.send_file(dir);
        } catch (const mr::Error &e) {
            resp.set_status(403).set_text("dir " + std::to_string(e.code()));
        }
    });
    srv.route("GET", "/close", [](mr::Request &, mr::Response &resp) {
        resp.set_text("never sent").close();
        try {
            resp.close();
        } catch (const mr::Error &e) {
            if (e.code() != MR_ECLOSED) throw;
        }
    });
    srv.route("GET", "/fd", [](mr::Request &, mr::Response &resp) {
        resp.set_text(resp.client_fd() >= 0 ? "fd" : "no fd");
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::get(port, "/r");
    CHECK_EQ(r.status, 302);
    CHECK_EQ(r.header("Location"), std::optional<std::string>("/login?next=%2F"));
    r = th::get(port, "/r301");
    CHECK_EQ(r.status, 301);
    CHECK_EQ(r.header("Location"), std::optional<std::string>("https://example.com/x"));
    CHECK_EQ(r.header("X-After"), std::optional<std::string>("ok"));
    r = th::get(port, "/r-bad");
    CHECK_EQ(r.status, 303);
    CHECK_EQ(r.header("Location"), std::optional<std::string>("/ok"));
    CHECK_EQ(r.header("X-Out"), std::optional<std::string>("-1 -1 -1 -2"));

    {
        th::Conn c(port);
        CHECK(c.send("GET /abort HTTP/1.1\r\nHost: t\r\n\r\n"));
        r = c.read_response();
        CHECK_EQ(r.head_without_date(),
                 std::string("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; "
                             "charset=utf-8\r\nContent-Length: 26\r\nConnection: close\r\n\r\n"));
        CHECK_EQ(r.body, std::string("500 Internal Server Error\n"));
        CHECK_EQ(c.wait_eof(2000), 1);
    }
    r = th::get(port, "/abort-404");
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 4\r\n"
                         "Connection: close\r\n\r\n"));
    CHECK_EQ(r.body, std::string("nope"));
    r = th::get(port, "/abort-reason");
    CHECK_EQ(r.head_without_date(),
             std::string("HTTP/1.1 503 Busy Now\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n"));
    r = th::get(port, "/abort-braces");
    CHECK_EQ(r.status, 500);
    CHECK_EQ(r.body, std::string("500 Internal Server Error\n"));
    r = th::get(port, "/abort-twice");
    CHECK_EQ(r.status, 400);
    CHECK_EQ(r.body, std::string("first"));

    r = th::get(port, "/file");
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.header("Content-Type"), std::optional<std::string>("text/plain; charset=utf-8"));
    CHECK_EQ(r.body, std::string("file body\n"));
    r = th::get(port, "/file-missing");
    CHECK_EQ(r.status, 404);
    CHECK_EQ(r.body, std::string("missing " + std::to_string(MR_ENOTFOUND)));
    r = th::get(port, "/file-dir");
    CHECK_EQ(r.status, 403);
    CHECK_EQ(r.body, std::string("dir " + std::to_string(MR_EFORBIDDEN)));

    {
        th::Conn c(port);
        CHECK(c.send("GET /close HTTP/1.1\r\nHost: t\r\n\r\n"));
        CHECK_EQ(c.read_all(), std::string(""));
    }
    CHECK_EQ(th::get(port, "/fd").body, std::string("fd"));

    srv.stop();
    ::unlink(file.c_str());
    if (dir) ::rmdir(dir);
}

TEST_CASE(static_folder) {
    char dir_template[] = "/tmp/mrcpp-static.XXXXXX";
    const char *dir = ::mkdtemp(dir_template);
    CHECK(dir != nullptr);
    if (!dir) return;
    const std::string index = std::string(dir) + "/index.html";
    FILE *fp = std::fopen(index.c_str(), "w");
    CHECK(fp != nullptr);
    if (fp) {
        std::fputs("<h1>index</h1>", fp);
        std::fclose(fp);
    }
    mr::Server srv;
    srv.listen("127.0.0.1:0")
        .serve_static("/s", dir)
        .serve_static("/c", std::string(dir), 0, "public, max-age=60", std::nullopt);
    try {
        srv.serve_static("/bad", std::string(dir) + "/nope");
        CHECK(false);
    } catch (const mr::Error &e) {
        CHECK_EQ(e.code(), MR_ENOTFOUND);
    }
    srv.start();
    th::Response r = th::get(srv.port(), "/s/");
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body, std::string("<h1>index</h1>"));
    r = th::get(srv.port(), "/c/index.html");
    CHECK_EQ(r.header("Cache-Control"), std::optional<std::string>("public, max-age=60"));
    srv.stop();
    ::unlink(index.c_str());
    ::rmdir(dir);
    CHECK_EQ(mr::version(), std::string_view("0.1.0"));
    CHECK_EQ(mr::mime_for_path("a.PNG"), std::string_view("image/png"));
}

// ---- RAII, moves, threads -------------------------------------------------------

TEST_CASE(raii_scope_end_stops_server) {
    auto token = std::make_shared<int>(1);
    int port = 0;
    {
        mr::Server srv;
        srv.listen("127.0.0.1:0");
        srv.route("GET", "/", [token](mr::Request &, mr::Response &resp) { resp.set_text("up"); });
        srv.start();
        port = srv.port();
        CHECK_EQ(th::get(port, "/").body, std::string("up"));
        CHECK_EQ(token.use_count(), 2);
        // A kept-alive client is still connected when the scope ends.
        th::Conn idle(port);
        CHECK(idle.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
        CHECK_EQ(idle.read_response().body, std::string("up"));
    }  // ~Server: stops (no grace), frees the server, then the handlers
    CHECK(th::refused(port));
    CHECK_EQ(token.use_count(), 1);
}

TEST_CASE(raii_destroyed_while_handler_runs) {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false;
    std::atomic<bool> handler_done{false};
    std::thread client;
    int port = 0;
    th::Response got;
    {
        mr::Server srv;
        srv.listen("127.0.0.1:0");
        srv.route("GET", "/slow", [&](mr::Request &, mr::Response &resp) {
            {
                std::lock_guard<std::mutex> g(m);
                entered = true;
            }
            cv.notify_all();
            th::sleep_ms(300);
            resp.set_text("slow done");
            handler_done = true;
        });
        srv.start();
        port = srv.port();
        client = std::thread([&got, port] { got = th::get(port, "/slow"); });
        std::unique_lock<std::mutex> lk(m);
        CHECK(cv.wait_for(lk, std::chrono::seconds(5), [&] { return entered; }));
    }  // the destructor waits for the running handler, which is not interrupted
    CHECK(handler_done.load());
    client.join();
    CHECK(th::refused(port));
    // The handler finished; with no grace the response may or may not have
    // gone out, but never half of it.
    if (got.ok) CHECK_EQ(got.body, std::string("slow done"));
}

namespace {
mr::Server make_server(std::string text) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/who", [text = std::move(text)](mr::Request &, mr::Response &resp) {
        resp.set_text(text);
    });
    return srv;  // moved (or elided) out
}
}  // namespace

TEST_CASE(move_semantics) {
    // Move construction: the handlers go along, the source is empty.
    mr::Server a = make_server("a");
    mr_server *raw = a.handle();
    CHECK(raw != nullptr);
    mr::Server b(std::move(a));
    CHECK(a.handle() == nullptr);  // NOLINT: checking the moved-from state on purpose
    CHECK(b.handle() == raw);
    try {
        a.listen("127.0.0.1:0");
        CHECK(false);
    } catch (const mr::Error &e) {
        CHECK_EQ(e.code(), MR_EINVAL);
    }
    b.start();
    const int port_b = b.port();
    CHECK_EQ(th::get(port_b, "/who").body, std::string("a"));

    // Move assignment onto a running server: that one is freed first.
    mr::Server c = make_server("c");
    c.start();
    const int port_c = c.port();
    CHECK_EQ(th::get(port_c, "/who").body, std::string("c"));
    c = std::move(b);
    CHECK(th::refused(port_c));
    CHECK(b.handle() == nullptr);  // NOLINT
    CHECK_EQ(c.port(), port_b);
    CHECK_EQ(th::get(port_b, "/who").body, std::string("a"));

    // Self-move leaves the server alone.
    mr::Server &alias = c;
    c = std::move(alias);
    CHECK_EQ(th::get(port_b, "/who").body, std::string("a"));

    // Servers in a vector: reallocation moves them while they run.
    std::vector<mr::Server> many;
    std::vector<int> ports;
    for (int i = 0; i < 5; ++i) {
        many.push_back(make_server("s" + std::to_string(i)));
        many.back().start();
        ports.push_back(many.back().port());
    }
    for (int i = 0; i < 5; ++i)
        CHECK_EQ(th::get(ports[static_cast<std::size_t>(i)], "/who").body, "s" + std::to_string(i));
    many.erase(many.begin());  // moves the others down, frees the first
    CHECK(th::refused(ports[0]));
    CHECK_EQ(th::get(ports[4], "/who").body, std::string("s4"));
    many.clear();
    for (int p : ports) CHECK(th::refused(p));
}

TEST_CASE(stop_from_other_thread) {
    // run() blocks the main thread; another thread uses the server and stops it.
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/", [](mr::Request &, mr::Response &resp) { resp.set_text("running"); });
    std::atomic<int> port{0};
    std::string body;
    std::thread t([&] {
        // server_port works from any thread once bound; wait for run() to bind.
        for (int i = 0; i < 500 && port == 0; ++i) {
            try {
                port = srv.port();
            } catch (const mr::Error &) {
                th::sleep_ms(10);
            }
        }
        body = th::get(port, "/").body;
        srv.stop(100);
    });
    const long long t0 = th::now_ms();
    srv.run();  // returns once stopped
    t.join();
    CHECK_EQ(body, std::string("running"));
    CHECK(th::now_ms() - t0 < 5000);
    CHECK(th::refused(port));

    // start() + stop() from a thread while the main thread waits on it.
    srv.start();  // a stopped server starts again (same routes)
    const int port2 = srv.port();
    CHECK_EQ(th::get(port2, "/").body, std::string("running"));
    std::thread stopper([&srv] { srv.stop(); });
    stopper.join();
    CHECK(th::refused(port2));
    srv.stop();  // stopping a stopped server does nothing
}

TEST_CASE(stop_from_handler) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    std::atomic<int> port{0};
    srv.route("GET", "/stop", [&srv](mr::Request &, mr::Response &resp) {
        srv.stop();  // from a handler: begins the stop, returns at once
        resp.set_text("stopping");
    });
    std::string body;
    std::thread t([&] {
        for (int i = 0; i < 500 && port == 0; ++i) {
            try {
                port = srv.port();
            } catch (const mr::Error &) {
                th::sleep_ms(10);
            }
        }
        body = th::get(port, "/stop").body;
    });
    srv.run();
    t.join();
    CHECK_EQ(body, std::string("stopping"));
    CHECK(th::refused(port));
}

TEST_CASE(concurrent_clients) {
    std::atomic<int> calls{0};
    mr::Server srv;
    srv.listen("127.0.0.1:0").set_workers(4);
    srv.route("GET", "/n/{i}", [&calls](mr::Request &req, mr::Response &resp) {
        ++calls;
        if (req.param("i") == std::optional<std::string_view>("13")) throw std::runtime_error("13");
        resp.set_text(std::string(req.param("i").value_or("?")));
    });
    srv.start();
    const int port = srv.port();
    std::atomic<int> good{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                const int n = t * 10 + i;
                th::Response r = th::get(port, "/n/" + std::to_string(n));
                if (n == 13 ? r.status == 500 : r.body == std::to_string(n)) ++good;
            }
        });
    for (auto &t : ts) t.join();
    CHECK_EQ(good.load(), 80);
    CHECK_EQ(calls.load(), 80);
}

// Tests of the wrapper's JSON builder (Response::json), the request's JSON
// getters, Jinja2 templates and named routes (redirect_route).
#include "microroute.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "harness.hpp"

namespace {

std::string code_of(const mr::Error &e) { return std::to_string(e.code()); }

void write_file(const std::string &path, const std::string &text) {
    FILE *fp = std::fopen(path.c_str(), "w");
    CHECK(fp != nullptr);
    if (!fp) return;
    std::fputs(text.c_str(), fp);
    std::fclose(fp);
}

}  // namespace

TEST_CASE(json_builder) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("GET", "/json", [](mr::Request &, mr::Response &resp) {
        // The seed: resp.json.hello = "world!"
        const std::string name = "Ann";
        resp.json("hello", "world!")
            .json("user.name", name)
            .json("user.nick", std::string_view("annie!!").substr(0, 5))
            .json("user.age", 42)
            .json("user.admin", false)
            .json("user.active", true)
            .json("pi", 3.5)
            .json("f", 0.25f)
            .json("neg", static_cast<std::int64_t>(-9007199254740993LL))
            .json("big", std::numeric_limits<std::uint64_t>::max() / 2)
            .json("small", static_cast<std::uint8_t>(7))
            .json("zero", 0)
            .json("nothing", nullptr)
            .json_null("also.null")
            .json("looks_bool", "true")  // a string literal stays a string
            .json("esc", "quote\" backslash\\ nl\n")
            .json_raw("list", "[1, 2, {\"x\": \"y\"}]")
            .json("hello", "again");  // replaces, keeps its place
    });
    srv.route("GET", "/json-errors", [](mr::Request &, mr::Response &resp) {
        std::string out;
        auto attempt = [&out](auto &&fn) {
            try {
                fn();
                out += "ok ";
            } catch (const mr::Error &e) {
                out += code_of(e) + " ";
            }
        };
        resp.json("n", 1).json("s", "x");
        attempt([&] { resp.json("n.sub", 2); });  // below a number
        attempt([&] { resp.json("a..b", 2); });   // empty key
        attempt([&] { resp.json("", 2); });
        attempt([&] { resp.json("u", std::numeric_limits<std::uint64_t>::max()); });  // > INT64_MAX
        attempt([&] { resp.json("nan", std::nan("")); });
        attempt([&] { resp.json("inf", std::numeric_limits<double>::infinity()); });
        attempt([&] { resp.json_raw("raw", "{broken"); });
        attempt([&] { resp.json(std::string_view("p\0q", 3), 1); });  // NUL in the path
        attempt([&] { resp.json("s2", std::string("a\0b", 3)); });   // NUL in the value
        attempt([&] { resp.json("ok", 1); });
        out.pop_back();  // no trailing space in a header value
        resp.set_header("X-Out", out);
    });
    srv.route("GET", "/json-then-text", [](mr::Request &, mr::Response &resp) {
        resp.json("a", 1).set_text("text wins");
    });
    srv.route("GET", "/text-then-json", [](mr::Request &, mr::Response &resp) {
        resp.set_text("dropped").json("a", 1);
    });
    srv.route("GET", "/json-after-send", [](mr::Request &, mr::Response &resp) {
        resp.send("sent;");
        try {
            resp.json("a", 1);
        } catch (const mr::Error &e) {
            resp.send(code_of(e));
        }
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::get(port, "/json");
    const std::string body =
        "{\"hello\":\"again\",\"user\":{\"name\":\"Ann\",\"nick\":\"annie\",\"age\":42,"
        "\"admin\":false,\"active\":true},\"pi\":3.5,\"f\":0.25,\"neg\":-9007199254740993,"
        "\"big\":9223372036854775807,\"small\":7,\"zero\":0,\"nothing\":null,"
        "\"also\":{\"null\":null},\"looks_bool\":\"true\","
        "\"esc\":\"quote\\\" backslash\\\\ nl\\n\",\"list\":[1,2,{\"x\":\"y\"}]}";
    CHECK_EQ(r.head_without_date(),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n");
    CHECK_EQ(r.body, body);

    r = th::get(port, "/json-errors");
    CHECK_EQ(r.header("X-Out"), std::optional<std::string>("-1 -1 -1 -1 -1 -1 -1 -1 -1 ok"));
    CHECK_EQ(r.body, std::string("{\"n\":1,\"s\":\"x\",\"ok\":1}"));

    r = th::get(port, "/json-then-text");
    CHECK_EQ(r.header("Content-Type"), std::optional<std::string>("text/plain; charset=utf-8"));
    CHECK_EQ(r.body, std::string("text wins"));
    r = th::get(port, "/text-then-json");
    CHECK_EQ(r.header("Content-Type"), std::optional<std::string>("application/json"));
    CHECK_EQ(r.body, std::string("{\"a\":1}"));
    r = th::get(port, "/json-after-send");
    CHECK_EQ(r.body, "sent;" + std::to_string(MR_ESTATE));
}

TEST_CASE(request_json) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route("POST", "/in", [](mr::Request &req, mr::Response &resp) {
        auto show_i = [](std::optional<std::int64_t> v) { return v ? std::to_string(*v) : "-"; };
        auto show_d = [](std::optional<double> v) { return v ? std::to_string(*v) : "-"; };
        auto show_b = [](std::optional<bool> v) { return std::string(v ? (*v ? "true" : "false") : "-"); };
        auto show_s = [](std::optional<std::string_view> v) {
            return v ? "[" + std::string(*v) + "]" : std::string("-");
        };
        std::string o;
        o += "name=" + show_s(req.json_str("user.name"));
        o += " id=" + show_i(req.json_int(std::string("items.1.id")));
        o += " ratio=" + show_d(req.json_double("ratio"));
        o += " int-as-double=" + show_d(req.json_double("user.age"));
        o += " ok=" + show_b(req.json_bool("ok"));
        o += " missing=" + show_s(req.json_str("nope")) + show_i(req.json_int("nope"));
        o += " wrongtype=" + show_i(req.json_int("user.name")) + show_b(req.json_bool("ratio"));
        o += " raw=" + show_s(req.json_raw("items"));
        o += " str-raw=" + show_s(req.json_raw("user.name"));
        o += " all=" + show_s(req.json_raw());
        resp.set_text(o);
    });
    srv.route("POST", "/not-json", [](mr::Request &req, mr::Response &resp) {
        resp.set_text(req.json_int("a") ? "int" : "absent");
    });
    srv.start();
    const int port = srv.port();
    const std::string json =
        R"({"user": {"name": "Ann", "age": 40}, "items": [{"id": 1}, {"id": 2}], "ratio": 0.5, "ok": true})";
    th::Response r = th::request(port, "POST /in HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                       "Content-Length: " +
                                           std::to_string(json.size()) + "\r\n\r\n" + json);
    CHECK_EQ(r.body,
             std::string("name=[Ann] id=2 ratio=0.500000 int-as-double=40.000000 ok=true missing=-- "
                         "wrongtype=-- raw=[[{\"id\":1},{\"id\":2}]] str-raw=[\"Ann\"] "
                         "all=[{\"user\":{\"name\":\"Ann\",\"age\":40},\"items\":[{\"id\":1},{\"id\":2}],"
                         "\"ratio\":0.5,\"ok\":true}]"));
    r = th::request(port, "POST /not-json HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    CHECK_EQ(r.body, std::string("absent"));
}

TEST_CASE(templates) {
    char dir_template[] = "/tmp/mrcpp-tpl.XXXXXX";
    const char *dir = ::mkdtemp(dir_template);
    CHECK(dir != nullptr);
    if (!dir) return;
    const std::string d(dir);
    write_file(d + "/base.html", "<title>{% block title %}t{% endblock %}</title>{% block body %}{% endblock %}");
    write_file(d + "/page.html",
               "{% extends \"base.html\" %}{% block body %}<p>{{ var }}</p>"
               "{% for i in items %}<i>{{ i | upper }}</i>{% endfor %}{% endblock %}");
    write_file(d + "/plain.html", "no variables");
    write_file(d + "/broken.html", "{% for %}");

    mr::Server srv;
    srv.listen("127.0.0.1:0").set_templates_dir(d).set_templates_reload(false);
    srv.route("GET", "/page", [](mr::Request &, mr::Response &resp) {
        resp.load_template("page.html", R"({"var": "<b>foobar</b>", "items": ["a", "b"]})");
    });
    srv.route("GET", "/plain", [](mr::Request &, mr::Response &resp) { resp.load_template("plain.html"); });
    srv.route("GET", "/plain-braces", [](mr::Request &, mr::Response &resp) {
        resp.load_template(std::string("plain.html"), std::string("{}"));
    });
    srv.route("GET", "/errors", [](mr::Request &, mr::Response &resp) {
        std::string out;
        const char *names[] = {"missing.html", "broken.html", "../etc/passwd"};
        for (const char *n : names) {
            try {
                resp.load_template(n);
                out += "ok ";
            } catch (const mr::Error &e) {
                out += code_of(e) + " ";
            }
        }
        try {
            resp.load_template("plain.html", "[1, 2]");  // not an object
        } catch (const mr::Error &e) {
            out += code_of(e);
        }
        resp.set_text(out);
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::get(port, "/page");
    const std::string page = "<title>t</title><p>&lt;b&gt;foobar&lt;&#x2f;b&gt;</p><i>A</i><i>B</i>";
    CHECK_EQ(r.header("Content-Type"), std::optional<std::string>("text/html; charset=utf-8"));
    CHECK_EQ(r.body, page);
    CHECK_EQ(th::get(port, "/plain").body, std::string("no variables"));
    CHECK_EQ(th::get(port, "/plain-braces").body, std::string("no variables"));
    r = th::get(port, "/errors");
    // missing, syntax error, a name leaving the folder (not found there), a
    // context that is not an object
    CHECK_EQ(r.body, std::to_string(MR_ENOTFOUND) + " " + std::to_string(MR_EINVAL) + " " +
                         std::to_string(MR_ENOTFOUND) + " " + std::to_string(MR_EINVAL));
    srv.stop();

    // No template folder: MR_ESTATE.
    mr::Server bare;
    bare.listen("127.0.0.1:0");
    bare.route("GET", "/", [](mr::Request &, mr::Response &resp) {
        try {
            resp.load_template("page.html");
        } catch (const mr::Error &e) {
            resp.set_text(code_of(e));
        }
    });
    try {
        bare.set_templates_dir(d + "/nope");
        CHECK(false);
    } catch (const mr::Error &e) {
        CHECK_EQ(e.code(), MR_ENOTFOUND);
    }
    bare.start();
    CHECK_EQ(th::get(bare.port(), "/").body, std::to_string(MR_ESTATE));
    bare.stop();

    for (const char *f : {"base.html", "page.html", "plain.html", "broken.html"}) ::unlink((d + "/" + f).c_str());
    ::rmdir(dir);
}

TEST_CASE(named_routes) {
    mr::Server srv;
    srv.listen("127.0.0.1:0");
    srv.route_named("index", "GET", "/", [](mr::Request &, mr::Response &resp) { resp.set_text("index"); });
    srv.route_named(std::string("user"), "GET", "/users/{id}", [](mr::Request &req, mr::Response &resp) {
        resp.set_text("user " + std::string(req.param("id").value_or("?")));
    });
    srv.route_named("file", "GET", "/files/{path...}", [](mr::Request &, mr::Response &) {});
    try {
        srv.route_named("index", "GET", "/other", [](mr::Request &, mr::Response &) {});
        CHECK(false);
    } catch (const mr::Error &e) {
        CHECK_EQ(e.code(), MR_EINVAL);
        CHECK(std::string(e.what()).rfind("server_route_named: ", 0) == 0);
    }
    // The seed: redirect(view=Index).
    srv.route("GET", "/redirect/internal", [](mr::Request &, mr::Response &resp) {
        resp.redirect_route("index");
    });
    srv.route("GET", "/redirect/user", [](mr::Request &, mr::Response &resp) {
        resp.redirect_route("user", {{"id", "4 2"}}, 303);
    });
    srv.route("GET", "/redirect/file", [](mr::Request &, mr::Response &resp) {
        resp.redirect_route("file", {{"path", "a/b c.txt"}});
    });
    srv.route("GET", "/redirect/errors", [](mr::Request &, mr::Response &resp) {
        std::string out;
        auto attempt = [&out](auto &&fn) {
            try {
                fn();
                out += "ok ";
            } catch (const mr::Error &e) {
                out += code_of(e) + " ";
            }
        };
        attempt([&] { resp.redirect_route("nope"); });
        attempt([&] { resp.redirect_route("user"); });  // needs {id}
        attempt([&] { resp.redirect_route("user", {}); });
        attempt([&] { resp.redirect_route("user", {{"id", std::string_view("a\0b", 3)}}); });
        attempt([&] { resp.redirect_route("user", {{"id", "1"}}, 200); });
        resp.set_text(out);
    });
    srv.start();
    const int port = srv.port();

    th::Response r = th::get(port, "/redirect/internal");
    CHECK_EQ(r.status, 302);
    CHECK_EQ(r.header("Location"), std::optional<std::string>("/"));
    r = th::get(port, "/redirect/user");
    CHECK_EQ(r.status, 303);
    CHECK_EQ(r.header("Location"), std::optional<std::string>("/users/4%202"));
    CHECK_EQ(th::get(port, "/users/4%202").body, std::string("user 4 2"));
    r = th::get(port, "/redirect/file");
    CHECK_EQ(r.status, 302);
    CHECK_EQ(r.header("Location"), std::optional<std::string>("/files/a/b%20c.txt"));
    r = th::get(port, "/redirect/errors");
    CHECK_EQ(r.body, std::to_string(MR_ENOTFOUND) + " -1 -1 -1 -1 ");
    CHECK_EQ(th::get(port, "/").body, std::string("index"));
}

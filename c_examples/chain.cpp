// chain: the seed's "Response" page with the C++ wrapper (include/microroute.hpp).
//
//     chain [--port N] [--requests N] [--fast] [--templates DIR]
//
// Serves 127.0.0.1:PORT (default 8080; 0 picks a free port) and prints
// "listening on 127.0.0.1:PORT". With --requests N it stops by itself after
// answering N requests (tests/cpp/run_chain.py uses that); --fast makes the
// pauses of /generator milliseconds long. Routes:
//
//   GET /                    "index" (a named route: "index")
//   GET /resp-head           resp.headers["X-Foo"] = "bar"; status 418; a cookie
//   GET /text                text/plain "hello!"
//   GET /bytes               application/octet-stream "hello!"
//   GET /json                resp.json.hello = "world!"
//   GET /template            load_template("example.html", var="foobar")
//   GET /chain               the method chain
//   GET /redirect/internal   redirect(view=Index)
//   GET /redirect/external   redirect(url="http://www.example.com")
//   GET /generator           "count: 0" ... "count: 9", "Completed!", sent as they come
#include <microroute.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#ifndef CHAIN_TEMPLATES_DIR
#define CHAIN_TEMPLATES_DIR "c_examples/templates"
#endif

int main(int argc, char **argv) {
    std::string port = "8080";
    long requests = 0;  // 0: serve until killed
    bool fast = false;
    std::string templates = CHAIN_TEMPLATES_DIR;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = argv[++i];
        else if (std::strcmp(argv[i], "--requests") == 0 && i + 1 < argc) requests = std::atol(argv[++i]);
        else if (std::strcmp(argv[i], "--fast") == 0) fast = true;
        else if (std::strcmp(argv[i], "--templates") == 0 && i + 1 < argc) templates = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--port N] [--requests N] [--fast] [--templates DIR]\n", argv[0]);
            return 2;
        }
    }

    try {
        mr::Server srv;
        srv.listen("127.0.0.1:" + port).set_templates_dir(templates);

        // Every handler goes through `counted`, which stops the server after
        // the requested number of answers (stop() from a handler returns at
        // once; the current response is still sent).
        std::atomic<long> served{0};
        auto counted = [&](auto handler) {
            return [&srv, &served, requests, handler](mr::Request &req, mr::Response &resp) {
                handler(req, resp);
                if (requests > 0 && ++served == requests) srv.stop(1000);
            };
        };

        srv.route_named("index", "GET", "/", counted([](mr::Request &, mr::Response &resp) {
            resp.set_text("index");
        }));
        srv.route("GET", "/resp-head", counted([](mr::Request &, mr::Response &resp) {
            resp.set_header("X-Foo", "bar").set_status(418).set_cookie("its", "dict");
        }));
        srv.route("GET", "/text", counted([](mr::Request &, mr::Response &resp) {
            resp.set_text("hello!");  // Content-Type: text/plain; charset=utf-8
        }));
        srv.route("GET", "/bytes", counted([](mr::Request &, mr::Response &resp) {
            resp.set_content("hello!");  // Content-Type: application/octet-stream
        }));
        srv.route("GET", "/json", counted([](mr::Request &, mr::Response &resp) {
            resp.json("hello", "world!");  // Content-Type: application/json
        }));
        srv.route("GET", "/template", counted([](mr::Request &, mr::Response &resp) {
            resp.load_template("example.html", R"({"var": "foobar"})");  // text/html
        }));
        srv.route("GET", "/chain", counted([](mr::Request &, mr::Response &resp) {
            resp.set_status(200)
                .set_cookie("key", "value", MR_COOKIE_SECURE)
                .set_text("long chain!")
                .set_header("X-somehead", "value");
        }));
        srv.route("GET", "/redirect/internal", counted([](mr::Request &, mr::Response &resp) {
            resp.redirect_route("index");  // to the route named "index"
        }));
        srv.route("GET", "/redirect/external", counted([](mr::Request &, mr::Response &resp) {
            resp.redirect("http://www.example.com");
        }));
        srv.route("GET", "/generator", counted([fast](mr::Request &, mr::Response &resp) {
            resp.set_mime_type("text/plain");
            for (int i = 0; i < 10; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(fast ? 2 : 500));
                resp.send("count: " + std::to_string(i)).flush();
            }
            resp.send("Completed!");
        }));

        srv.start();
        std::printf("listening on 127.0.0.1:%d\n", srv.port());
        std::fflush(stdout);
        srv.run();  // until stop()
    } catch (const mr::Error &e) {
        std::fprintf(stderr, "chain: %s (code %d)\n", e.what(), e.code());
        return 1;
    }
    return 0;
}

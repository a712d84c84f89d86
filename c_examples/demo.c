/*
 * demo.c: a tour of microroute's request and response API.
 *
 * Every example of the two documents the response API comes from is a route
 * here (the ASGI-style "Response" page and micro_Route's "Response" page),
 * plus one route per request getter. Open http://127.0.0.1:8080/ for the
 * list.
 *
 *   ./demo [--addr 127.0.0.1] [--port 8080] [--requests N]
 *
 * --port 0 lets the system pick a port; --requests N makes the demo exit
 * (status 0) after answering N requests, which is how the test suite runs
 * it. It prints "listening on ADDR:PORT" once it is ready, and one access
 * line per request on stderr.
 *
 * A handler gets the request, the response to fill in and the userdata
 * given to server_route. It returns 0, or non-zero to answer 500. Strings
 * from req_* are borrowed until the handler returns; strings given to
 * resp_* are copied.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, semaphores */
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "microroute.h"

/* ------------------------------------------------------------------------
 * The index: an HTML page listing the routes.
 * ------------------------------------------------------------------------ */

static int index_page(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_html(resp,
        "<!doctype html>\n<title>microroute demo</title>\n"
        "<h1>microroute demo</h1>\n"
        "<h2>Response API (ASGI-style seed)</h2>\n<ul>\n"
        "<li><a href=\"/resp-head\">/resp-head</a>: status 418, a header, a cookie</li>\n"
        "<li><a href=\"/text\">/text</a>, <a href=\"/bytes\">/bytes</a>, "
        "<a href=\"/json\">/json</a>: bodies</li>\n"
        "<li><a href=\"/chain\">/chain</a>: several setters in a row</li>\n"
        "<li><a href=\"/redirect/internal\">/redirect/internal</a>, "
        "<a href=\"/redirect/external\">/redirect/external</a></li>\n"
        "<li><a href=\"/generator\">/generator</a>: streaming</li>\n"
        "</ul>\n<h2>Response API (micro_Route seed)</h2>\n<ul>\n"
        "<li><a href=\"/send-header\">/send-header</a>: custom reason phrase</li>\n"
        "<li><a href=\"/stream\">/stream</a>: repeated sends</li>\n"
        "<li><a href=\"/mime\">/mime</a>: a MIME type</li>\n"
        "<li><a href=\"/admin\">/admin</a>: abort with 403</li>\n"
        "<li><a href=\"/close\">/close</a>: close the connection</li>\n"
        "<li><a href=\"/client-fd\">/client-fd</a>: the client socket</li>\n"
        "<li><a href=\"/moved\">/moved</a>: permanent redirect</li>\n"
        "</ul>\n<h2>Request API</h2>\n<ul>\n"
        "<li><a href=\"/users/42\">/users/42</a>: a route parameter</li>\n"
        "<li><a href=\"/search?q=micro+route\">/search?q=micro+route</a>: a query parameter</li>\n"
        "<li><a href=\"/headers\">/headers</a>: the request headers</li>\n"
        "<li><a href=\"/cookie\">/cookie</a>: a request cookie</li>\n"
        "<li><a href=\"/form\">/form</a>: a form (POST)</li>\n"
        "<li>POST /echo: the request body, sent back</li>\n"
        "<li>POST /upload: any size, streamed to a file; its size and checksum back</li>\n"
        "</ul>\n");
}

/* ------------------------------------------------------------------------
 * The ASGI-style seed: set attributes of the response, the library sends it
 * when the handler returns.
 * ------------------------------------------------------------------------ */

/* resp.headers["X-Foo"] = "bar"; resp.status_code = 418; resp.cookies["its"] = "dict" */
static int resp_head(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    resp_set_header(resp, "X-Foo", "bar");
    resp_set_status(resp, 418);
    return resp_set_cookie(resp, "its", "dict"); /* Path=/; HttpOnly; SameSite=Lax */
}

/* resp.text = "hello!"  ->  Content-Type: text/plain; charset=utf-8 */
static int text(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_text(resp, "hello!");
}

/* resp.content = b"hello!"  ->  Content-Type: application/octet-stream */
static int bytes(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_content(resp, "hello!", 6);
}

/* resp.json.hello = "world!"  ->  Content-Type: application/json
 * (the text is checked to be valid JSON: invalid JSON gives MR_EINVAL) */
static int json(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_json(resp, "{\"hello\": \"world!\"}");
}

/* resp.set_status(200).set_cookie("key", "value", secure=True)
 *     .set_text("long chain!").set_header("X-somehead", "value")
 * In C each call returns a code; chain them with ||, which stops at the
 * first failure (a non-zero return makes the answer a 500). */
static int chain(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_status(resp, 200)
        || resp_set_cookie_ex(resp, "key", "value", -1 /* session */, NULL /* Path=/ */,
                              NULL /* no Domain */, MR_COOKIE_SECURE)
        || resp_set_text(resp, "long chain!")
        || resp_set_header(resp, "X-somehead", "value");
}

/* resp.redirect(view=Index): to the index route, 302 by default */
static int redirect_internal(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect(resp, "/", 0);
}

/* resp.redirect(url="http://www.example.com") */
static int redirect_external(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect(resp, "http://www.example.com", 0);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* resp.streaming = generate(): "count: 0" ... "count: 9", "Completed!".
 * Each piece is flushed so a browser sees it arrive; the body goes out
 * chunked (HTTP/1.1) or close-delimited (HTTP/1.0). */
static int generator(mr_req *req, mr_resp *resp, void *userdata) {
    char piece[32];
    int i, rc;
    (void)req;
    (void)userdata;
    resp_set_header(resp, "content-type", "text/plain");
    for (i = 0; i < 10; i++) {
        snprintf(piece, sizeof piece, "count: %d\n", i);
        if ((rc = resp_send_str(resp, piece)) != MR_OK) return rc; /* client gone */
        resp_flush(resp);
        sleep_ms(10);
    }
    return resp_send_str(resp, "Completed!\n");
}

/* ------------------------------------------------------------------------
 * The micro_Route seed: send now, from inside the handler.
 * ------------------------------------------------------------------------ */

/* send_header(statu_explane, content): the status line with a custom
 * reason phrase, the headers and the first body bytes, now. */
static int send_header(mr_req *req, mr_resp *resp, void *userdata) {
    static const char page[] = "<h1>sent by resp_send_header</h1>\n";
    (void)req;
    (void)userdata;
    resp_set_status(resp, 200);
    return resp_send_header(resp, "Very OK", page, sizeof page - 1);
}

/* send(content) several times: streaming. mime_Type defaults to text/html. */
static int stream(mr_req *req, mr_resp *resp, void *userdata) {
    int i, rc;
    (void)req;
    (void)userdata;
    for (i = 1; i <= 3; i++) {
        char line[32];
        snprintf(line, sizeof line, "<p>part %d</p>\n", i);
        if ((rc = resp_send(resp, line, strlen(line))) != MR_OK) return rc;
    }
    return MR_OK;
}

/* mime_Type: the Content-Type of what is sent. */
static int mime(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    resp_set_mime_type(resp, "application/xml");
    return resp_send_str(resp, "<note><to>you</to><body>hello</body></note>\n");
}

/* abort(statu_code, content, statu_explane): answer now and close. */
static int admin(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_abort(resp, 403, "<h1>Admins only</h1>\n", "Forbidden Zone");
}

/* close(): drop the connection; the client gets no response at all. */
static int close_connection(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_close(resp);
}

/* client: the socket, for socket options or inspection (do not read,
 * write or close it: the library still owns it). */
static int client_fd(mr_req *req, mr_resp *resp, void *userdata) {
    char text[96];
    int fd = resp_client_fd(resp);
    (void)userdata;
    if (fd < 0) return fd;
    snprintf(text, sizeof text, "your connection from %s is fd %d\n", req_remote_addr(req), fd);
    return resp_set_text(resp, text);
}

/* redirect(location, statu_code="301"): permanent */
static int moved(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect(resp, "/text", 301);
}

/* ------------------------------------------------------------------------
 * The request API.
 * ------------------------------------------------------------------------ */

/* /users/{id}: a route parameter, percent-decoded */
static int user(mr_req *req, mr_resp *resp, void *userdata) {
    char text[256];
    (void)userdata;
    snprintf(text, sizeof text, "user %s\n", req_param(req, "id"));
    return resp_set_text(resp, text);
}

/* /search?q=...: a query parameter, decoded ('+' is a space); NULL if absent */
static int search(mr_req *req, mr_resp *resp, void *userdata) {
    const char *q = req_query_param(req, "q");
    char text[256];
    (void)userdata;
    if (!q) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "add ?q=something\n");
    }
    snprintf(text, sizeof text, "searching for: %s\n", q);
    return resp_set_text(resp, text);
}

/* /headers: every header field in the order received, repeats included.
 * resp_send streams the lines as they are written. */
static int headers(mr_req *req, mr_resp *resp, void *userdata) {
    size_t i, n = req_header_count(req);
    const char *name, *value;
    (void)userdata;
    resp_set_mime_type(resp, "text/plain; charset=utf-8");
    for (i = 0; i < n; i++) {
        if (req_header_at(req, i, &name, &value) != MR_OK) break;
        resp_send_str(resp, name);
        resp_send_str(resp, ": ");
        resp_send_str(resp, value);
        resp_send_str(resp, "\n");
    }
    /* req_header looks one up by name, whatever its case */
    resp_send_str(resp, "-- user agent: ");
    resp_send_str(resp, req_header(req, "user-agent") ? req_header(req, "user-agent") : "(none)");
    return resp_send_str(resp, "\n");
}

/* /cookie: reads the "theme" cookie; sets it when there is none */
static int cookie(mr_req *req, mr_resp *resp, void *userdata) {
    const char *theme = req_cookie(req, "theme");
    char text[128];
    (void)userdata;
    if (!theme) {
        resp_set_cookie(resp, "theme", "dark");
        return resp_set_text(resp, "no theme cookie yet: set theme=dark, reload\n");
    }
    snprintf(text, sizeof text, "theme cookie: %s\n", theme);
    return resp_set_text(resp, text);
}

/* GET /form: a form that POSTs to /form */
static int form_page(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_html(resp,
        "<!doctype html>\n<form method=\"post\" action=\"/form\">\n"
        "<input name=\"name\" value=\"world\"> <button>Send</button>\n</form>\n");
}

/* POST /form: a field of an application/x-www-form-urlencoded body */
static int form_post(mr_req *req, mr_resp *resp, void *userdata) {
    const char *name = req_form_value(req, "name");
    char text[256];
    (void)userdata;
    if (!name) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "send a urlencoded form with a \"name\" field\n");
    }
    snprintf(text, sizeof text, "hello, %s!\n", name);
    return resp_set_text(resp, text);
}

/* POST /echo: the whole body back, with the request's Content-Type */
static int echo(mr_req *req, mr_resp *resp, void *userdata) {
    size_t len;
    const uint8_t *body = req_body(req, &len);
    const char *type = req_header(req, "Content-Type");
    int rc;
    (void)userdata;
    if (!body) return 1; /* too large or broken: the library answers */
    rc = resp_set_content(resp, body, len);
    if (rc == MR_OK && type) rc = resp_set_mime_type(resp, type);
    return rc;
}

/* POST /upload: a body of any size (an OTA image, a log dump) streamed with
 * req_read in 4 KiB pieces to a temporary file, so memory stays flat; the
 * answer gives its size and FNV-1a 64 checksum. max_body_bytes does not
 * apply: it only limits what req_body buffers. */
static int upload(mr_req *req, mr_resp *resp, void *userdata) {
    unsigned char buf[4096];
    unsigned long long size = 0, hash = 0xcbf29ce484222325ULL;
    char text[96];
    ptrdiff_t n, i;
    FILE *f = tmpfile();
    (void)userdata;
    if (!f) return resp_abort(resp, 500, "no temporary file\n", NULL);
    while ((n = req_read(req, buf, sizeof buf)) > 0) {
        for (i = 0; i < n; i++) hash = (hash ^ buf[i]) * 0x100000001b3ULL;
        if (fwrite(buf, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            return resp_abort(resp, 507, "disk full\n", NULL);
        }
        size += (unsigned long long)n;
    }
    fclose(f); /* a real device would now verify and apply the image */
    if (n < 0) return 1; /* broken or stalled upload: the library answers */
    snprintf(text, sizeof text, "size=%llu fnv1a64=%016llx\n", size, hash);
    return resp_set_text(resp, text);
}

/* ------------------------------------------------------------------------
 * Logging and --requests.
 * ------------------------------------------------------------------------ */

/* One MR_LOG_INFO access line per request; warnings and errors too. The
 * callback runs on worker threads, possibly several at once. With
 * --requests N, the N-th access line wakes main(), which stops the server. */
static atomic_long remaining;
static sem_t done;

static void on_log(void *userdata, int level, const char *line) {
    static const char *names[] = {"?", "error", "warn", "info"};
    (void)userdata;
    fprintf(stderr, "[%s] %s\n", names[level >= 1 && level <= 3 ? level : 0], line);
    if (level == MR_LOG_INFO && atomic_fetch_sub(&remaining, 1) == 1) sem_post(&done);
}

static const struct {
    const char *method, *pattern;
    mr_handler handler;
} routes[] = {
    {"GET", "/", index_page},
    {"GET", "/resp-head", resp_head},
    {"GET", "/text", text},
    {"GET", "/bytes", bytes},
    {"GET", "/json", json},
    {"GET", "/chain", chain},
    {"GET", "/redirect/internal", redirect_internal},
    {"GET", "/redirect/external", redirect_external},
    {"GET", "/generator", generator},
    {"GET", "/send-header", send_header},
    {"GET", "/stream", stream},
    {"GET", "/mime", mime},
    {"GET", "/admin", admin},
    {"GET", "/close", close_connection},
    {"GET", "/client-fd", client_fd},
    {"GET", "/moved", moved},
    {"GET", "/users/{id}", user},
    {"GET", "/search", search},
    {"GET", "/headers", headers},
    {"GET", "/cookie", cookie},
    {"GET", "/form", form_page},
    {"POST", "/form", form_post},
    {"POST", "/echo", echo},
    {"POST", "/upload", upload},
};

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 8080, requests = 0;
    char addr[128];
    size_t i;
    int a, rc;

    for (a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--port") == 0) port = strtol(argv[a + 1], NULL, 10);
        else if (strcmp(argv[a], "--requests") == 0) requests = strtol(argv[a + 1], NULL, 10);
        else if (strcmp(argv[a], "--addr") == 0) host = argv[a + 1];
        else break;
    }
    if (a < argc) {
        fprintf(stderr, "usage: %s [--addr IP] [--port N] [--requests N]\n", argv[0]);
        return 2;
    }
    atomic_store(&remaining, requests);
    sem_init(&done, 0, 0);

    mr_server *srv = server_new();
    if (!srv) return 1;
    /* an IPv6 address goes in brackets: "[::1]:8080" */
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%ld" : "%s:%ld", host, port);
    if ((rc = server_listen(srv, addr)) != MR_OK) {
        fprintf(stderr, "bad address %s: %s\n", addr, mr_last_error());
        server_free(srv);
        return 2;
    }
    for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        rc = server_route(srv, routes[i].method, routes[i].pattern, routes[i].handler, NULL);
        if (rc != MR_OK) {
            fprintf(stderr, "route %s: %s\n", routes[i].pattern, mr_last_error());
            server_free(srv);
            return 1;
        }
    }
    server_set_log(srv, on_log, NULL);

    if ((rc = server_start(srv)) != MR_OK) {
        fprintf(stderr, "cannot start on %s: %s (%s)\n", addr, mr_strerror(rc), mr_last_error());
        server_free(srv);
        return 1;
    }
    printf(strchr(host, ':') ? "listening on [%s]:%d\n" : "listening on %s:%d\n", host,
           server_port(srv, 0));
    fflush(stdout);

    if (requests > 0) {
        while (sem_wait(&done) != 0) {
        }
        rc = server_stop(srv, 1000);
    } else {
        rc = server_run(srv); /* until killed */
    }
    server_free(srv);
    sem_destroy(&done);
    return rc == MR_OK ? 0 : 1;
}

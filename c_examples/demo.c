/*
 * demo.c: a tour of microroute's request and response API.
 *
 * Every example of the two documents the response API comes from is a route
 * here (the ASGI-style "Response" page and micro_Route's "Response" page),
 * plus one route per request getter. Open http://127.0.0.1:8080/ for the
 * list.
 *
 *   ./demo [--addr 127.0.0.1] [--port 8080] [--requests N] [--fast]
 *
 * --port 0 lets the system pick a port; --requests N makes the demo exit
 * (status 0) after answering N requests, which is how the test suite runs
 * it. --fast shortens every pause of the streaming routes (the generator's
 * 0.5 s, the clock's 1 s tick, the job's 1 s) so the test suite does not
 * wait. It prints "listening on ADDR:PORT" once it is ready, and one access
 * line per request on stderr.
 *
 * Files: /static serves the folder c_examples/www/ (server_static_ex: types,
 * ETag, 304, ranges, the pre-compressed app.js.gz for clients that accept
 * gzip), and /download sends one file with resp_send_file (the seed's
 * send_file(path)) as an attachment.
 *
 * The streaming routes show the three ways to answer over time:
 *   /generator   resp_stream: the library pulls pieces from a producer
 *                callback on its own blocking threads (it may sleep);
 *   /sse/clock   resp_defer + resp_sse_event: a thread of ours pushes
 *                Server-Sent Events, then resp_finish; /sse is a page
 *                that shows them live;
 *   /job         resp_defer: a worker thread of ours answers later.
 *
 * A handler gets the request, the response to fill in and the userdata
 * given to server_route. It returns 0, or non-zero to answer 500. Strings
 * from req_* are borrowed until the handler returns; strings given to
 * resp_* are copied.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, semaphores, gmtime_r */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "microroute.h"

/* Where GET /sse finds its page. The CMake build passes the absolute path of
 * c_examples/sse.html; a build without it looks in the working directory. */
#ifndef DEMO_TEMPLATES_DIR
#define DEMO_TEMPLATES_DIR "c_examples/templates"
#endif
#ifndef DEMO_SSE_HTML
#define DEMO_SSE_HTML "c_examples/sse.html"
#endif

/* The folder served under /static (and where /download finds its files).
 * The CMake build passes the absolute path of c_examples/www; a build
 * without it looks in the working directory. */
#ifndef DEMO_WWW_DIR
#define DEMO_WWW_DIR "c_examples/www"
#endif

/* Set by --fast: every pause of the streaming routes becomes short. */
static int fast;

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
        "<li><a href=\"/template\">/template</a>: a Jinja2 template</li>\n"
        "<li><a href=\"/chain\">/chain</a>: several setters in a row</li>\n"
        "<li><a href=\"/redirect/internal\">/redirect/internal</a>, "
        "<a href=\"/redirect/external\">/redirect/external</a></li>\n"
        "<li><a href=\"/generator\">/generator</a>: streaming from a producer "
        "(a count every 0.5 s)</li>\n"
        "</ul>\n<h2>Answering later, from other threads</h2>\n<ul>\n"
        "<li><a href=\"/sse\">/sse</a>: a page showing the Server-Sent Events of "
        "<a href=\"/sse/clock?n=3\">/sse/clock?n=3</a> (a tick every second)</li>\n"
        "<li><a href=\"/job\">/job</a>: a long job finished by a worker thread</li>\n"
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
        "</ul>\n<h2>Files</h2>\n<ul>\n"
        "<li><a href=\"/static/\">/static/</a>: the folder c_examples/www "
        "(server_static_ex: ETag, 304, ranges, a gzip twin)</li>\n"
        "<li><a href=\"/download\">/download</a>: app.js as an attachment "
        "(resp_send_file)</li>\n"
        "<li><a href=\"/download/style.css\">/download/style.css</a>, "
        "<a href=\"/download/img\">/download/img</a> (a folder: 403), "
        "<a href=\"/download/nope.txt\">/download/nope.txt</a> (404)</li>\n"
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

/* resp.json.hello = "world!"  ->  {"hello":"world!"}, application/json.
 * The JSON builder takes dotted paths ("a.b" makes nested objects) and
 * renders the document once, when the response goes out. */
static int json(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_json_set_str(resp, "hello", "world!");
}

/* await resp.load_template("example.html", var="foobar"): a Jinja2
 * template from the folder given to server_set_templates_dir (extends,
 * blocks, loops and filters; HTML is escaped). The context is a JSON
 * object. */
static int template_page(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_load_template(resp, "example.html",
                              "{\"var\": \"foobar\", \"items\": [\"one\", \"two\"]}");
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

/* resp.redirect(view=Index): to the route registered under the name
 * "index" (server_route_named in main), 302 */
static int redirect_internal(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect_route(resp, "index");
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

/* resp.streaming = generate():
 *
 *     async def generate():
 *         for i in range(10):
 *             await asyncio.sleep(0.5)
 *             yield f"count: {i}"
 *         yield "Completed!"
 *
 * In C the generator is a producer callback plus its state. resp_stream hands
 * both to the library; after the handler returns, the library sends the head
 * and calls the producer for each piece on its own blocking threads (never on
 * a worker, so sleeping there does not hold up other requests), writing each
 * piece before it asks for the next. The state is freed by free_userdata,
 * exactly once, whether the stream ends, fails or the client leaves.
 * Each piece ends with a newline here so a browser shows one count a line.
 * The body goes out chunked (HTTP/1.1) or close-delimited (HTTP/1.0). */
struct counter {
    int next;       /* 0..9: the counts, 10: "Completed!", 11: the end */
    long pause_ms;  /* before each count: 500 (seed), 10 with --fast */
};

static ptrdiff_t count_next(void *userdata, void *buf, size_t cap) {
    struct counter *c = userdata;
    int n;
    if (c->next > 10) return 0; /* the end of the body */
    if (c->next < 10) {
        sleep_ms(c->pause_ms);
        n = snprintf(buf, cap, "count: %d\n", c->next);
    } else {
        n = snprintf(buf, cap, "Completed!\n");
    }
    c->next++;
    return n < 0 || (size_t)n >= cap ? -1 : n; /* negative: close, body unfinished */
}

static int generator(mr_req *req, mr_resp *resp, void *userdata) {
    struct counter *c = malloc(sizeof *c);
    int rc;
    (void)req;
    (void)userdata;
    if (!c) return 1; /* a 500 */
    c->next = 0;
    c->pause_ms = fast ? 10 : 500;
    resp_set_header(resp, "content-type", "text/plain");
    rc = resp_stream(resp, count_next, c, free);
    if (rc != MR_OK) free(c); /* on failure the state stays ours */
    return rc;
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
 * Answering later, from another thread: resp_defer.
 *
 * resp_defer turns the handler's response into a handle that outlives the
 * handler. Any thread may then use it with the resp_* functions (one thread
 * at a time) and must end it with resp_finish, which also frees it. The
 * connection waits meanwhile (a pipelined request is answered afterwards).
 * ------------------------------------------------------------------------ */

/* The threads below hold deferred handles. server_free frees the handles
 * nobody finished, so main() waits for these threads before it frees the
 * server (see jobs_wait). */
static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_idle = PTHREAD_COND_INITIALIZER;
static int jobs_running;

static void jobs_add(int delta) {
    pthread_mutex_lock(&jobs_lock);
    jobs_running += delta;
    if (jobs_running == 0) pthread_cond_broadcast(&jobs_idle);
    pthread_mutex_unlock(&jobs_lock);
}

/* Starts a detached thread running fn(arg), counted in jobs_running. */
static int start_job(void *(*fn)(void *), void *arg) {
    pthread_t t;
    pthread_attr_t attr;
    int err;
    jobs_add(1);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (err) jobs_add(-1);
    return err;
}

static void jobs_wait(void) {
    pthread_mutex_lock(&jobs_lock);
    while (jobs_running > 0) pthread_cond_wait(&jobs_idle, &jobs_lock);
    pthread_mutex_unlock(&jobs_lock);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET /sse/clock?n=10: Server-Sent Events, "event: tick" with the time
 * (UTC, ISO 8601) as data, once a second, n times (1..600, default 10),
 * then the end of the response. The events come from a thread of ours
 * through the deferred handle. */
struct clock {
    mr_resp *resp; /* the deferred handle */
    int ticks;
    long period_ms; /* 1000, 50 with --fast */
};

static void *clock_thread(void *arg) {
    struct clock *c = arg;
    int i;
    for (i = 1; i <= c->ticks; i++) {
        char now[32], id[16];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(id, sizeof id, "%d", i);
        /* event: tick / id: i / data: <time>, flushed at once. It fails
         * (MR_ECLOSED) once the client has gone: stop ticking then. */
        if (resp_sse_event(c->resp, "tick", now, id) != MR_OK) break;
        if (i < c->ticks) sleep_ms(c->period_ms);
    }
    resp_finish(c->resp); /* the final chunk; frees the handle in every case */
    free(c);
    jobs_add(-1);
    return NULL;
}

static int sse_clock(mr_req *req, mr_resp *resp, void *userdata) {
    const char *n = req_query_param(req, "n");
    long ticks = n ? strtol(n, NULL, 10) : 10;
    struct clock *c;
    (void)userdata;
    if (ticks < 1 || ticks > 600) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "n must be within 1..600\n");
    }
    if (!(c = malloc(sizeof *c))) return 1;
    c->ticks = (int)ticks;
    c->period_ms = fast ? 50 : 1000;
    /* From here on only the handle is used; `resp` is done with. */
    if (!(c->resp = resp_defer(resp))) {
        free(c);
        return 1;
    }
    /* While the thread sleeps, a ": heartbeat" comment goes out every 15 s
     * so proxies keep the stream open and a client that left is noticed. */
    resp_sse_heartbeat(c->resp, 15);
    if (start_job(clock_thread, c) != 0) {
        resp_set_status(c->resp, 503);
        resp_set_text(c->resp, "no thread for the clock\n");
        resp_finish(c->resp);
        free(c);
    }
    return 0;
}

/* GET /sse: a page whose script shows the clock's events as they come
 * (c_examples/sse.html, read from the path DEMO_SSE_HTML at each request, so
 * it can be edited while the demo runs). */
static int sse_page(mr_req *req, mr_resp *resp, void *userdata) {
    FILE *f = fopen(DEMO_SSE_HTML, "rb");
    char *html = NULL;
    long size;
    int rc;
    (void)req;
    (void)userdata;
    if (!f) {
        resp_set_status(resp, 404);
        return resp_set_text(resp, "sse.html not found at " DEMO_SSE_HTML
                                   " (define DEMO_SSE_HTML as its path when building the demo)\n");
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (html = malloc((size_t)size + 1)) && fread(html, 1, (size_t)size, f) == (size_t)size) {
        html[size] = '\0';
        rc = resp_set_html(resp, html); /* copied: ours to free */
    } else {
        rc = 1; /* a 500 */
    }
    free(html);
    fclose(f);
    return rc;
}

/* GET /job: a long job (1 s, 20 ms with --fast) done by a worker thread,
 * which then answers {"job":"done","ms":<how long it took>}. */
struct job {
    mr_resp *resp; /* the deferred handle */
    long long started;
};

static void *job_thread(void *arg) {
    struct job *j = arg;
    sleep_ms(fast ? 20 : 1000); /* the work */
    char json[64];
    /* Status, headers and body are set on the handle, as in a handler; the
     * whole response goes out at resp_finish. */
    snprintf(json, sizeof json, "{\"job\":\"done\",\"ms\":%lld}", now_ms() - j->started);
    resp_set_json(j->resp, json);
    resp_finish(j->resp);
    free(j);
    jobs_add(-1);
    return NULL;
}

static int job(mr_req *req, mr_resp *resp, void *userdata) {
    struct job *j = malloc(sizeof *j);
    (void)req;
    (void)userdata;
    if (!j) return 1;
    j->started = now_ms();
    if (!(j->resp = resp_defer(resp))) {
        free(j);
        return 1;
    }
    if (start_job(job_thread, j) != 0) {
        resp_set_status(j->resp, 503);
        resp_set_text(j->resp, "no thread for the job\n");
        resp_finish(j->resp);
        free(j);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Files: send_file(path) and a static folder.
 * ------------------------------------------------------------------------ */

/* Sends DEMO_WWW_DIR/<name> as an attachment named <name>.
 *
 * resp_send_file is the seed's send_file(path): it opens the file now (the
 * bytes go out with sendfile(2) after the handler returns) and gives the
 * answer Content-Length, a Content-Type from mr_mime_for_path, a strong
 * ETag, Last-Modified and Accept-Ranges; If-None-Match gives 304 and a
 * Range 206, by themselves. The path is used as given: keeping requests
 * inside a folder is our job here (server_static does it for a mount).
 *
 * When it fails, nothing was sent and nothing changed: the response is
 * still ours to fill in, so we answer 404 or 403 ourselves. Headers may be
 * set after it succeeds (the head goes out when the handler returns), so
 * Content-Disposition is only added to a file that is really sent. */
static int send_attachment(mr_resp *resp, const char *name) {
    char path[512], disposition[128];
    int rc;
    snprintf(path, sizeof path, "%s/%s", DEMO_WWW_DIR, name);
    rc = resp_send_file(resp, path);
    if (rc == MR_ENOTFOUND) {
        resp_set_status(resp, 404);
        return resp_set_text(resp, "no such file\n");
    }
    if (rc == MR_EFORBIDDEN) { /* a folder, a FIFO, a device, no permission */
        resp_set_status(resp, 403);
        return resp_set_text(resp, "not a file you may download\n");
    }
    if (rc != MR_OK) return rc; /* MR_EIO...: a 500 */
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", name);
    return resp_set_header(resp, "Content-Disposition", disposition);
}

/* GET /download: www/app.js, to be saved rather than shown */
static int download(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return send_attachment(resp, "app.js");
}

/* GET /download/{name}: a file at the top of www/. The name is one route
 * segment (percent-decoded, so it could still be ".." or hold a '/' sent as
 * %2F): only letters, digits, '-', '_' and '.' are let through, and no
 * leading dot, so it can neither climb out of the folder nor reach hidden
 * files. */
static int download_name(mr_req *req, mr_resp *resp, void *userdata) {
    const char *name = req_param(req, "name");
    size_t i, n = strlen(name);
    (void)userdata;
    for (i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || (ch == '.' && i > 0);
        if (!ok) break;
    }
    if (n == 0 || n > 64 || i < n) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "a file name is letters, digits, '-', '_' and '.'\n");
    }
    return send_attachment(resp, name);
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
    {"GET", "/resp-head", resp_head},
    {"GET", "/text", text},
    {"GET", "/bytes", bytes},
    {"GET", "/json", json},
    {"GET", "/template", template_page},
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
    {"GET", "/sse", sse_page},
    {"GET", "/sse/clock", sse_clock},
    {"GET", "/job", job},
    {"GET", "/download", download},
    {"GET", "/download/{name}", download_name},
};

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 8080, requests = 0;
    char addr[128];
    size_t i;
    int a, rc;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--fast") == 0) fast = 1;
        else if (a + 1 == argc) break; /* the options below take a value */
        else if (strcmp(argv[a], "--port") == 0) port = strtol(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--requests") == 0) requests = strtol(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--addr") == 0) host = argv[++a];
        else break;
    }
    if (a < argc) {
        fprintf(stderr, "usage: %s [--addr IP] [--port N] [--requests N] [--fast]\n", argv[0]);
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
    /* The index under a name, so handlers can redirect to it by name. */
    if ((rc = server_route_named(srv, "index", "GET", "/", index_page, NULL)) != MR_OK) {
        fprintf(stderr, "route /: %s\n", mr_last_error());
        server_free(srv);
        return 1;
    }
    /* Templates for GET /template (the folder DEMO_TEMPLATES_DIR). */
    if ((rc = server_set_templates_dir(srv, DEMO_TEMPLATES_DIR)) != MR_OK)
        fprintf(stderr, "no templates: %s (%s)\n", mr_strerror(rc), mr_last_error());
    for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        rc = server_route(srv, routes[i].method, routes[i].pattern, routes[i].handler, NULL);
        if (rc != MR_OK) {
            fprintf(stderr, "route %s: %s\n", routes[i].pattern, mr_last_error());
            server_free(srv);
            return 1;
        }
    }
    /* GET /static/... serves the folder DEMO_WWW_DIR: /static/ is its
     * index.html, /static/app.js is app.js (or app.js.gz with
     * Content-Encoding: gzip for clients that accept it). Paths that would
     * leave the folder get 400 or 404. Every file answer says it may be
     * cached for a minute. Without the folder (MR_ENOTFOUND: the demo was
     * started elsewhere) the rest of the demo still runs. */
    rc = server_static_ex(srv, "/static", DEMO_WWW_DIR, 0, "public, max-age=60", NULL);
    if (rc != MR_OK) {
        fprintf(stderr, "no /static: %s (%s); define DEMO_WWW_DIR as the path of c_examples/www "
                        "when building the demo\n", mr_strerror(rc), mr_last_error());
        if (rc != MR_ENOTFOUND) {
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
    /* The clock and job threads end soon after the stop (their calls fail
     * with MR_ECLOSED); wait for them: server_free frees handles they hold. */
    jobs_wait();
    server_free(srv);
    sem_destroy(&done);
    return rc == MR_OK ? 0 : 1;
}

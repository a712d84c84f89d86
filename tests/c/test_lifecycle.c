/*
 * Server lifecycle through the C API: new / listen / start / port / stop /
 * free, run + stop from other threads and from a handler, restart, errors
 * (MR_EADDR, MR_ESTATE), IPv6, several listeners, the fallback handler and
 * the log callback.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

static int h_hello(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    return resp_set_text(resp, ud ? (const char *)ud : "hello");
}

/* GET / on a fresh connection; returns the status (-1 if no response). */
static int fetch(int port, const char *path, char *body, size_t cap) {
    char req[256];
    tl_resp r;
    int status;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    if (tl_request(port, req, &r) != 0) {
        tl_resp_free(&r);
        return -1;
    }
    status = r.status;
    if (body && cap) {
        snprintf(body, cap, "%s", r.body);
    }
    tl_resp_free(&r);
    return status;
}

/* 1 if a TCP connect to 127.0.0.1:port is refused. */
static int refused(int port) {
    tl_conn *c = tl_connect(port);
    if (!c) return 1;
    tl_close(c);
    return 0;
}

static void test_basic(void) {
    mr_server *srv = server_new();
    char body[64];
    int port;
    CHECK(srv != NULL);
    if (!srv) return;
    /* not started yet */
    CHECK_INT(server_port(srv, 0), MR_ESTATE);
    CHECK_INT(server_start(srv), MR_ESTATE); /* no address */
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(server_stop(srv, 0), MR_OK);   /* not running: nothing to do */
    /* bad addresses */
    CHECK_INT(server_listen(srv, "not an address"), MR_EINVAL);
    CHECK_INT(server_listen(srv, "127.0.0.1"), MR_EINVAL);
    CHECK_INT(server_listen(srv, "127.0.0.1:99999"), MR_EINVAL);
    CHECK_INT(server_listen(srv, ""), MR_EINVAL);
    CHECK_INT(server_listen(srv, NULL), MR_EINVAL);
    CHECK_INT(server_listen(srv, "127.0.0.1:0"), MR_OK);
    /* bad routes */
    CHECK_INT(server_route(srv, "GET", "no-slash", h_hello, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "GET", NULL, h_hello, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "GET", "/x", NULL, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "G ET", "/x", h_hello, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "", "/x", h_hello, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "GET", "/{rest...}/more", h_hello, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "GET", "/{}", h_hello, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "GET", "/", h_hello, NULL), MR_OK);
    /* bad settings */
    CHECK_INT(server_set_workers(srv, 1025), MR_EINVAL);
    CHECK_INT(server_set_workers(srv, 2), MR_OK);
    CHECK_INT(server_set_max_connections(srv, 0), MR_EINVAL);
    CHECK_INT(server_set_limits(srv, 255, 100), MR_EINVAL);
    CHECK_INT(server_set_limits(srv, 1024 * 1024 + 1, 100), MR_EINVAL);
    CHECK_INT(server_set_limits(srv, 16384, 1024 * 1024), MR_OK);
    CHECK_INT(server_set_max_headers(srv, 0), MR_EINVAL);
    CHECK_INT(server_set_max_headers(srv, 1025), MR_EINVAL);
    CHECK_INT(server_set_timeouts(srv, 0, 1000, 1000), MR_EINVAL);
    CHECK_INT(server_set_timeouts(srv, 1000, 0, 1000), MR_EINVAL);
    CHECK_INT(server_set_timeouts(srv, 1000, 1000, 0), MR_EINVAL);
    CHECK_INT(server_set_body_timeout(srv, 0), MR_EINVAL);

    CHECK_INT(server_start(srv), MR_OK);
    port = server_port(srv, 0);
    CHECK(port > 0 && port < 65536);
    CHECK_INT(server_port(srv, 1), MR_EINVAL);
    CHECK_INT(fetch(port, "/", body, sizeof body), 200);
    CHECK_STR(body, "hello");

    /* configuration while running: MR_ESTATE, and nothing changes */
    CHECK_INT(server_start(srv), MR_ESTATE);
    CHECK_INT(server_listen(srv, "127.0.0.1:0"), MR_ESTATE);
    CHECK_INT(server_route(srv, "GET", "/late", h_hello, NULL), MR_ESTATE);
    CHECK_INT(server_set_fallback(srv, h_hello, NULL), MR_ESTATE);
    CHECK_INT(server_set_workers(srv, 1), MR_ESTATE);
    CHECK_INT(server_set_max_connections(srv, 10), MR_ESTATE);
    CHECK_INT(server_set_limits(srv, 4096, 10), MR_ESTATE);
    CHECK_INT(server_set_max_headers(srv, 10), MR_ESTATE);
    CHECK_INT(server_set_timeouts(srv, 100, 100, 100), MR_ESTATE);
    CHECK_INT(server_set_body_timeout(srv, 100), MR_ESTATE);
    CHECK_INT(server_set_log(srv, NULL, NULL), MR_ESTATE);
    CHECK_INT(fetch(port, "/late", NULL, 0), 404);

    /* stop: the port is closed, the server can be started again */
    CHECK_INT(server_stop(srv, 500), MR_OK);
    CHECK(refused(port));
    CHECK_INT(server_stop(srv, 500), MR_OK); /* twice is fine */
    CHECK_INT(server_route(srv, "GET", "/late", h_hello, (void *)"late"), MR_OK); /* stopped: config ok */
    CHECK_INT(server_start(srv), MR_OK);
    port = server_port(srv, 0);
    CHECK(port > 0);
    CHECK_INT(fetch(port, "/", body, sizeof body), 200);
    CHECK_INT(fetch(port, "/late", body, sizeof body), 200);
    CHECK_STR(body, "late");
    server_free(srv); /* running: stops, then frees */
    CHECK(refused(port));

    server_free(NULL); /* no-op */
    /* a server that never started */
    server_free(server_new());
}

static void test_eaddr(void) {
    mr_server *a = tl_server_new(), *b = server_new();
    char addr[64];
    int port;
    tl_route(a, "GET", "/", h_hello, NULL);
    port = tl_server_start(a);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    CHECK_INT(server_listen(b, addr), MR_OK); /* checked when binding */
    CHECK_INT(server_start(b), MR_EADDR);
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(server_port(b, 0), MR_ESTATE);
    CHECK_INT(fetch(port, "/", NULL, 0), 200); /* the first one is unharmed */
    server_free(b);

    /* two listeners of one server, one of them busy: nothing is left bound */
    b = server_new();
    CHECK_INT(server_listen(b, "127.0.0.1:0"), MR_OK);
    CHECK_INT(server_listen(b, addr), MR_OK);
    CHECK_INT(server_start(b), MR_EADDR);
    CHECK_INT(server_port(b, 0), MR_ESTATE); /* not running */
    CHECK_INT(server_stop(b, 0), MR_OK);
    server_free(b);
    server_free(a);
}

static void test_listeners(void) {
    mr_server *srv = tl_server_new();
    int p0, p1, p2 = -1, v6 = tl_have_ipv6();
    char body[64];
    CHECK_INT(server_listen(srv, "127.0.0.1:0"), MR_OK);
    if (v6) CHECK_INT(server_listen(srv, "[::1]:0"), MR_OK);
    tl_route(srv, "GET", "/", h_hello, NULL);
    CHECK_INT(server_start(srv), MR_OK);
    p0 = server_port(srv, 0);
    p1 = server_port(srv, 1);
    CHECK(p0 > 0 && p1 > 0 && p0 != p1);
    CHECK_INT(fetch(p0, "/", body, sizeof body), 200);
    CHECK_INT(fetch(p1, "/", body, sizeof body), 200);
    if (v6) {
        tl_conn *c;
        tl_resp r;
        p2 = server_port(srv, 2);
        CHECK(p2 > 0);
        CHECK_INT(server_port(srv, 3), MR_EINVAL);
        c = tl_connect_host("::1", p2);
        CHECK(c != NULL);
        if (c) {
            tl_send_str(c, "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
            CHECK_INT(tl_read_response(c, &r, 0), 0);
            CHECK_BODY(&r, "hello");
            tl_resp_free(&r);
            tl_close(c);
        }
    } else {
        printf("IPv6 loopback not available: skipping [::1]\n");
    }
    server_free(srv);
}

static int h_remote(mr_req *req, mr_resp *resp, void *ud) {
    (void)ud;
    return resp_set_text(resp, req_remote_addr(req));
}

static void test_ipv6_only(void) {
    mr_server *srv;
    tl_conn *c;
    tl_resp r;
    int port;
    if (!tl_have_ipv6()) return;
    srv = server_new();
    CHECK_INT(server_listen(srv, "[::1]:0"), MR_OK);
    tl_route(srv, "GET", "/remote", h_remote, NULL);
    port = tl_server_start(srv);
    c = tl_connect_host("::1", port);
    CHECK(c != NULL);
    if (c) {
        struct sockaddr_in6 me;
        socklen_t ml = sizeof me;
        char expect[80];
        getsockname(c->fd, (struct sockaddr *)&me, &ml);
        snprintf(expect, sizeof expect, "[::1]:%u", (unsigned)ntohs(me.sin6_port));
        tl_send_str(c, "GET /remote HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, expect);
        tl_resp_free(&r);
        tl_close(c);
    }
    /* IPv6-only: 127.0.0.1 on that port is not this server */
    c = tl_connect(port);
    if (c) {
        /* some other process could own it; at least it must not be us */
        tl_send_str(c, "GET /remote HTTP/1.1\r\nHost: x\r\n\r\n");
        if (tl_read_response(c, &r, 0) == 0) CHECK(strncmp(r.body, "[::1]", 5) != 0);
        tl_resp_free(&r);
        tl_close(c);
    }
    server_free(srv);
}

/* ---- server_run in one thread, server_stop from another ---------------- */

typedef struct {
    mr_server *srv;
    int rc;
} run_arg;

static void *run_thread(void *p) {
    run_arg *a = (run_arg *)p;
    a->rc = server_run(a->srv);
    return NULL;
}

/* Waits until the server accepts connections (server_run started it) and
 * returns its port. server_port alone is not enough after a restart: a
 * stopped server still reports its last port. */
static int wait_port(mr_server *srv) {
    long long deadline = tl_now_ms() + 5000;
    while (tl_now_ms() < deadline) {
        int port = server_port(srv, 0);
        if (port > 0 && !refused(port)) return port;
        tl_sleep_ms(2);
    }
    return -1;
}

static void test_run_stop_threads(void) {
    mr_server *srv = tl_server_new();
    pthread_t th;
    run_arg a;
    int port;
    tl_route(srv, "GET", "/", h_hello, NULL);
    a.srv = srv;
    a.rc = 12345;
    CHECK_INT(pthread_create(&th, NULL, run_thread, &a), 0);
    port = wait_port(srv);
    CHECK(port > 0);
    CHECK_INT(fetch(port, "/", NULL, 0), 200);
    CHECK_INT(server_stop(srv, 1000), MR_OK); /* returns when stopped */
    CHECK(refused(port));
    pthread_join(th, NULL);
    CHECK_INT(a.rc, MR_OK);
    server_free(srv);
}

/* ---- stop from inside a handler ---------------------------------------- */

typedef struct {
    mr_server *srv;
    int stop_rc, run_rc, start_rc;
} stop_ctx;

static int h_stop(mr_req *req, mr_resp *resp, void *ud) {
    stop_ctx *s = (stop_ctx *)ud;
    (void)req;
    s->run_rc = server_run(s->srv);     /* from a handler: MR_ESTATE */
    s->start_rc = server_start(s->srv); /* already running */
    s->stop_rc = server_stop(s->srv, 1000); /* begins the stop, returns at once */
    return resp_set_text(resp, "bye"); /* the response is still sent */
}

static void test_stop_from_handler(void) {
    mr_server *srv = tl_server_new();
    stop_ctx s;
    pthread_t th;
    run_arg a;
    char body[64];
    int port;
    memset(&s, 0, sizeof s);
    s.srv = srv;
    tl_route(srv, "GET", "/stop", h_stop, &s);
    a.srv = srv;
    a.rc = 12345;
    CHECK_INT(pthread_create(&th, NULL, run_thread, &a), 0);
    port = wait_port(srv);
    CHECK_INT(fetch(port, "/stop", body, sizeof body), 200);
    CHECK_STR(body, "bye");
    pthread_join(th, NULL); /* server_run returns once the stop completes */
    CHECK_INT(a.rc, MR_OK);
    CHECK_INT(s.stop_rc, MR_OK);
    CHECK_INT(s.run_rc, MR_ESTATE);
    CHECK_INT(s.start_rc, MR_ESTATE);
    CHECK(refused(port));
    /* and it can run again */
    CHECK_INT(pthread_create(&th, NULL, run_thread, &a), 0);
    port = wait_port(srv);
    CHECK(port > 0);
    CHECK_INT(fetch(port, "/stop", body, sizeof body), 200);
    pthread_join(th, NULL);
    CHECK_INT(a.rc, MR_OK);
    server_free(srv);
}

/* ---- graceful stop: a request in progress finishes --------------------- */

static int h_slow(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    *(volatile int *)ud = 1; /* started */
    tl_sleep_ms(300);
    return resp_set_text(resp, "slow done");
}

typedef struct {
    int port, status;
    char body[64];
} fetch_arg;

static void *fetch_thread(void *p) {
    fetch_arg *f = (fetch_arg *)p;
    f->status = fetch(f->port, "/slow", f->body, sizeof f->body);
    return NULL;
}

static void test_graceful_stop(void) {
    mr_server *srv = tl_server_new();
    volatile int started = 0;
    pthread_t th;
    fetch_arg f;
    long long t0, deadline;
    tl_route(srv, "GET", "/slow", h_slow, (void *)&started);
    memset(&f, 0, sizeof f);
    f.port = tl_server_start(srv);
    CHECK_INT(pthread_create(&th, NULL, fetch_thread, &f), 0);
    deadline = tl_now_ms() + 5000;
    while (!started && tl_now_ms() < deadline) tl_sleep_ms(2);
    CHECK(started);
    t0 = tl_now_ms();
    CHECK_INT(server_stop(srv, 3000), MR_OK);
    CHECK(tl_now_ms() - t0 < 3000); /* it waited for the handler, not the whole grace */
    pthread_join(th, NULL);
    CHECK_INT(f.status, 200);
    CHECK_STR(f.body, "slow done");

    /* an idle keep-alive connection is closed by the stop */
    CHECK_INT(server_start(srv), MR_OK);
    {
        tl_conn *c = tl_connect(server_port(srv, 0));
        tl_resp r;
        started = 0;
        CHECK(c != NULL);
        if (c) {
            tl_send_str(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
            CHECK_INT(tl_read_response(c, &r, 0), 0);
            tl_resp_free(&r);
            CHECK_INT(server_stop(srv, 2000), MR_OK);
            CHECK_INT(tl_wait_eof(c, 2000), 1);
            tl_close(c);
        }
    }
    server_free(srv);
}

/* ---- fallback ---------------------------------------------------------- */

static int h_fallback(mr_req *req, mr_resp *resp, void *ud) {
    char b[128];
    (void)ud;
    CHECK_INT(resp_set_status(resp, 404), MR_OK);
    snprintf(b, sizeof b, "fallback %s %s", req_method(req), req_path(req));
    return resp_set_text(resp, b);
}

static void test_fallback(void) {
    mr_server *srv = tl_server_new();
    char body[128];
    tl_resp r;
    int port;
    tl_route(srv, "GET", "/only-get", h_hello, NULL);
    CHECK_INT(server_set_fallback(srv, h_fallback, NULL), MR_OK);
    port = tl_server_start(srv);
    CHECK_INT(fetch(port, "/nope/x", body, sizeof body), 404);
    CHECK_STR(body, "fallback GET /nope/x");
    /* another method on a known path: still 405, not the fallback */
    CHECK_INT(tl_request(port, "POST /only-get HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 405);
    CHECK_STR(tl_header(&r, "Allow"), "GET, HEAD");
    tl_resp_free(&r);
    CHECK_INT(server_stop(srv, 500), MR_OK);
    CHECK_INT(server_set_fallback(srv, NULL, NULL), MR_OK); /* back to the built-in 404 */
    port = tl_server_start(srv);
    CHECK_INT(tl_request(port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_HEAD(&r, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n");
    CHECK_BODY(&r, "404 Not Found\n");
    tl_resp_free(&r);
    server_free(srv);
}

/* ---- log callback ------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    int n;
    int level[16];
    char line[16][256];
} log_buf;

static void on_log(void *ud, int level, const char *line) {
    log_buf *b = (log_buf *)ud;
    pthread_mutex_lock(&b->lock);
    if (b->n < 16) {
        b->level[b->n] = level;
        snprintf(b->line[b->n], sizeof b->line[0], "%s", line);
        b->n++;
    }
    pthread_mutex_unlock(&b->lock);
}

/* Waits until the log has at least n lines (the access line may be written
 * just after the response). */
static int log_wait(log_buf *b, int n) {
    long long deadline = tl_now_ms() + 3000;
    int have;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        have = b->n;
        pthread_mutex_unlock(&b->lock);
        if (have >= n || tl_now_ms() > deadline) return have;
        tl_sleep_ms(2);
    }
}

static void test_log(void) {
    mr_server *srv = tl_server_new();
    log_buf b;
    tl_conn *c;
    tl_resp r;
    int port;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.lock, NULL);
    tl_route(srv, "GET", "/", h_hello, NULL);
    CHECK_INT(server_set_log(srv, on_log, &b), MR_OK);
    port = tl_server_start(srv);
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        char prefix[128];
        const char *l;
        getsockname(c->fd, (struct sockaddr *)&me, &ml);
        tl_send_str(c, "GET /?a=1 HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        tl_resp_free(&r);
        CHECK_INT(log_wait(&b, 1), 1);
        /* 127.0.0.1:50312 "GET /path?q HTTP/1.1" 200 5 0.042ms */
        snprintf(prefix, sizeof prefix, "127.0.0.1:%u \"GET /?a=1 HTTP/1.1\" 200 5 ",
                 (unsigned)ntohs(me.sin_port));
        l = b.line[0];
        CHECK_INT(b.level[0], MR_LOG_INFO);
        CHECK(strncmp(l, prefix, strlen(prefix)) == 0);
        CHECK(strlen(l) > 2 && strcmp(l + strlen(l) - 2, "ms") == 0);
        if (strncmp(l, prefix, strlen(prefix)) != 0) fprintf(stderr, "log line: %s\n", l);
        tl_close(c);
    }
    /* a bad request gives a WARN line (and its access line may follow) */
    CHECK_INT(tl_request(port, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 400);
    tl_resp_free(&r);
    log_wait(&b, 2);
    {
        int i, warn = 0;
        pthread_mutex_lock(&b.lock);
        for (i = 1; i < b.n; i++) warn |= b.level[i] == MR_LOG_WARN;
        pthread_mutex_unlock(&b.lock);
        CHECK(warn);
    }
    server_free(srv);
    pthread_mutex_destroy(&b.lock);
}

int main(void) {
    tl_init("test_lifecycle", 60);
    test_basic();
    test_eaddr();
    test_listeners();
    test_ipv6_only();
    test_run_stop_threads();
    test_stop_from_handler();
    test_graceful_stop();
    test_fallback();
    test_log();
    return tl_finish();
}

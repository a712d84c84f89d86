/*
 * Concurrency: several client threads at once (keep-alive, fresh
 * connections, pipelining), handlers running in parallel on the workers, the
 * log callback called from several threads, and a stop while clients are
 * busy.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long handled, logged;

static int h_echo(mr_req *req, mr_resp *resp, void *ud) {
    char b[128];
    (void)ud;
    pthread_mutex_lock(&count_lock);
    handled++;
    pthread_mutex_unlock(&count_lock);
    snprintf(b, sizeof b, "n=%s q=%s", req_param(req, "n"), req_query_param(req, "q"));
    CHECK_INT(resp_set_header(resp, "X-N", req_param(req, "n")), MR_OK);
    return resp_set_text(resp, b);
}

static int h_stream(mr_req *req, mr_resp *resp, void *ud) {
    int i;
    (void)ud;
    for (i = 0; i < 20; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s:%d;", req_param(req, "n"), i);
        if (resp_send_str(resp, b) != MR_OK) return 0;
    }
    return 0;
}

static int h_slow(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    tl_sleep_ms(200);
    return resp_set_text(resp, "slow");
}

static void on_log(void *ud, int level, const char *line) {
    (void)ud;
    if (level == MR_LOG_INFO && line && line[0]) {
        pthread_mutex_lock(&count_lock);
        logged++;
        pthread_mutex_unlock(&count_lock);
    }
}

typedef struct {
    int port, id, rounds;
    int ok; /* responses checked */
} client_arg;

static void *client(void *p) {
    client_arg *a = (client_arg *)p;
    tl_conn *keep = tl_connect(a->port);
    int i;
    CHECK(keep != NULL);
    for (i = 0; i < a->rounds; i++) {
        char req[256], expect[128], n[32];
        tl_resp r;
        snprintf(n, sizeof n, "%d-%d", a->id, i);
        snprintf(req, sizeof req, "GET /echo/%s?q=%d+%d HTTP/1.1\r\nHost: t\r\n\r\n", n, a->id, i);
        snprintf(expect, sizeof expect, "n=%s q=%d %d", n, a->id, i);
        if (i % 2 == 0 && keep) {
            /* on the thread's keep-alive connection */
            CHECK_INT(tl_send_str(keep, req), 0);
            CHECK_INT(tl_read_response(keep, &r, 0), 0);
        } else {
            /* on a fresh connection */
            CHECK_INT(tl_request(a->port, req, &r), 0);
        }
        CHECK_INT(r.status, 200);
        CHECK_BODY(&r, expect);
        CHECK_STR(tl_header(&r, "X-N"), n);
        if (r.ok && strcmp(r.body, expect) == 0) a->ok++;
        tl_resp_free(&r);
    }
    /* pipelined: five requests in one write, five answers in order */
    if (keep) {
        char req[1024];
        size_t off = 0;
        for (i = 0; i < 5; i++)
            off += (size_t)snprintf(req + off, sizeof req - off,
                                    "GET /%s/%d-p%d HTTP/1.1\r\nHost: t\r\n\r\n",
                                    i == 2 ? "stream" : "echo", a->id, i);
        CHECK_INT(tl_send(keep, req, off), 0);
        for (i = 0; i < 5; i++) {
            tl_resp r;
            char expect[256];
            CHECK_INT(tl_read_response(keep, &r, 0), 0);
            if (i == 2) {
                int k;
                size_t o = 0;
                for (k = 0; k < 20 && o < sizeof expect; k++) o += (size_t)snprintf(expect + o, sizeof expect - o, "%d-p%d:%d;", a->id, i, k);
                CHECK(r.chunked);
                if (o < sizeof expect) CHECK_BODY(&r, expect);
            } else {
                snprintf(expect, sizeof expect, "n=%d-p%d q=(null)", a->id, i);
                CHECK_BODY(&r, expect);
            }
            if (r.ok) a->ok++;
            tl_resp_free(&r);
        }
        tl_close(keep);
    }
    return NULL;
}

static void test_many_clients(void) {
    enum { MAX_THREADS = 8 };
    int threads = tl_quick() ? 3 : MAX_THREADS;
    int rounds = tl_quick() ? 6 : 40;
    mr_server *srv = tl_server_new();
    pthread_t th[MAX_THREADS];
    client_arg args[MAX_THREADS];
    int i, port, total_ok = 0;
    long expect_logged;
    CHECK_INT(server_set_workers(srv, 4), MR_OK);
    CHECK_INT(server_set_log(srv, on_log, NULL), MR_OK);
    tl_route(srv, "GET", "/echo/{n}", h_echo, NULL);
    tl_route(srv, "GET", "/stream/{n}", h_stream, NULL);
    port = tl_server_start(srv);
    for (i = 0; i < threads; i++) {
        args[i].port = port;
        args[i].id = i;
        args[i].rounds = rounds;
        args[i].ok = 0;
        CHECK_INT(pthread_create(&th[i], NULL, client, &args[i]), 0);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total_ok += args[i].ok;
    }
    CHECK_INT(total_ok, threads * (rounds + 5));
    pthread_mutex_lock(&count_lock);
    CHECK_INT(handled, threads * (rounds + 4));
    pthread_mutex_unlock(&count_lock);
    /* one access line per request (written after the response: wait a bit) */
    expect_logged = (long)threads * (rounds + 5);
    {
        long long deadline = tl_now_ms() + 3000;
        long n;
        for (;;) {
            pthread_mutex_lock(&count_lock);
            n = logged;
            pthread_mutex_unlock(&count_lock);
            if (n >= expect_logged || tl_now_ms() > deadline) break;
            tl_sleep_ms(5);
        }
        CHECK_INT(n, expect_logged);
    }
    server_free(srv);
}

/* Handlers run in parallel: 4 slow requests on 4 workers take ~1x, not 4x. */
typedef struct {
    int port, status;
} slow_arg;

static void *slow_client(void *p) {
    slow_arg *a = (slow_arg *)p;
    tl_resp r;
    a->status = -1;
    if (tl_request(a->port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0) a->status = r.status;
    tl_resp_free(&r);
    return NULL;
}

static void test_parallel_handlers(void) {
    mr_server *srv = tl_server_new();
    pthread_t th[4];
    slow_arg a[4];
    long long t0, elapsed;
    int i;
    CHECK_INT(server_set_workers(srv, 4), MR_OK);
    tl_route(srv, "GET", "/slow", h_slow, NULL);
    a[0].port = tl_server_start(srv);
    t0 = tl_now_ms();
    for (i = 0; i < 4; i++) {
        a[i].port = a[0].port;
        CHECK_INT(pthread_create(&th[i], NULL, slow_client, &a[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(a[i].status, 200);
    }
    elapsed = tl_now_ms() - t0;
    if (!tl_quick()) CHECK(elapsed < 700); /* serial would be >= 800 ms */
    printf("4 x 200 ms handlers on 4 workers: %lld ms\n", elapsed);
    server_free(srv);
}

/* A stop while clients hammer the server: every client gets a complete
 * response or a clean connection error, and nothing crashes or hangs. */
typedef struct {
    int port, done, complete, failed;
} hammer_arg;

static void *hammer(void *p) {
    hammer_arg *a = (hammer_arg *)p;
    int i;
    for (i = 0; i < 200 && !__atomic_load_n(&a->done, __ATOMIC_ACQUIRE); i++) {
        tl_resp r;
        if (tl_request(a->port, "GET /echo/x?q=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0) {
            if (r.status == 200 && strcmp(r.body, "n=x q=1") == 0) a->complete++;
            else if (r.status != 503) CHECK_INT(r.status, 200);
        } else {
            a->failed++;
        }
        tl_resp_free(&r);
    }
    return NULL;
}

static void test_stop_under_load(void) {
    mr_server *srv = tl_server_new();
    pthread_t th[4];
    hammer_arg a[4];
    int i, port, complete = 0;
    CHECK_INT(server_set_workers(srv, 2), MR_OK);
    tl_route(srv, "GET", "/echo/{n}", h_echo, NULL);
    port = tl_server_start(srv);
    memset(a, 0, sizeof a);
    for (i = 0; i < 4; i++) {
        a[i].port = port;
        CHECK_INT(pthread_create(&th[i], NULL, hammer, &a[i]), 0);
    }
    tl_sleep_ms(tl_quick() ? 300 : 100);
    CHECK_INT(server_stop(srv, 500), MR_OK);
    for (i = 0; i < 4; i++) __atomic_store_n(&a[i].done, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        complete += a[i].complete;
    }
    CHECK(complete > 0);
    server_free(srv);
}

int main(void) {
    tl_init("test_concurrency", 60);
    test_many_clients();
    test_parallel_handlers();
    test_stop_under_load();
    return tl_finish();
}

/*
 * Limits and timeouts as a C user meets them: MR_ETIMEDOUT and MR_ECLOSED
 * from resp_send, server_set_max_connections (503), server_set_limits (413,
 * 431, 414), server_set_max_headers (431), server_set_timeouts (408 for a
 * slow head, idle keep-alive close) and server_set_body_timeout (408).
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testlib.h"

#define PIECE (64 * 1024)
#define MAX_PIECES 4000 /* 256 MiB at most: far more than any socket buffer */

/* A one-shot event a handler can wait on, with a deadline. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int set;
} event;

static void ev_init(event *e) {
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    e->set = 0;
}

static void ev_set(event *e) {
    pthread_mutex_lock(&e->lock);
    e->set = 1;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static int ev_wait(event *e, int ms) {
    long long deadline = tl_now_ms() + ms;
    int set;
    pthread_mutex_lock(&e->lock);
    while (!e->set && tl_now_ms() < deadline) {
        pthread_mutex_unlock(&e->lock);
        tl_sleep_ms(2);
        pthread_mutex_lock(&e->lock);
    }
    set = e->set;
    pthread_mutex_unlock(&e->lock);
    return set;
}

static event client_gone, handler_done;
static int send_rc;
static int send_pieces;
static long long send_block_ms;

/* Sends until the library reports an error (bounded). */
static int h_flood(mr_req *req, mr_resp *resp, void *ud) {
    static char piece[PIECE];
    int i, rc = MR_OK;
    long long t0 = 0;
    (void)req; (void)ud;
    memset(piece, 'x', sizeof piece);
    if (strcmp(req_path(req), "/flood-after-close") == 0) CHECK(ev_wait(&client_gone, 5000));
    for (i = 0; i < MAX_PIECES && rc == MR_OK; i++) {
        t0 = tl_now_ms();
        rc = resp_send(resp, piece, sizeof piece);
    }
    send_rc = rc;
    send_pieces = i;
    send_block_ms = tl_now_ms() - t0;
    /* after the error the connection is closed: later sends fail too */
    CHECK(resp_send(resp, "x", 1) != MR_OK);
    ev_set(&handler_done);
    return 0;
}

static int h_body(mr_req *req, mr_resp *resp, void *ud) {
    size_t len = 999;
    const uint8_t *b = req_body(req, &len);
    (void)ud;
    if (!b) {
        /* the library answers (413/400/408) whatever we set now */
        CHECK(mr_last_error()[0] != 0);
        CHECK_INT(len, 999);
        CHECK(req_form_value(req, "a") == NULL);
        resp_set_text(resp, "handler saw NULL");
        return 0;
    }
    return resp_set_text(resp, "got body");
}

static int h_ok(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    return resp_set_text(resp, "ok");
}

static void test_write_errors(void) {
    mr_server *srv = tl_server_new();
    tl_conn *c;
    int port;
    CHECK_INT(server_set_timeouts(srv, 10000, 5000, 300), MR_OK);
    tl_route(srv, "GET", "/flood", h_flood, NULL);
    tl_route(srv, "GET", "/flood-after-close", h_flood, NULL);
    port = tl_server_start(srv);

    /* a client that never reads: MR_ETIMEDOUT after the write timeout */
    ev_init(&handler_done);
    ev_init(&client_gone);
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "GET /flood HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK(ev_wait(&handler_done, 15000));
        CHECK_INT(send_rc, MR_ETIMEDOUT);
        CHECK(send_pieces < MAX_PIECES);
        CHECK(send_block_ms >= 250); /* it did wait about write_ms */
        tl_close(c);
    }

    /* a client that went away: MR_ECLOSED */
    ev_init(&handler_done);
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "GET /flood-after-close HTTP/1.1\r\nHost: t\r\n\r\n");
        tl_sleep_ms(50); /* let the request arrive */
        tl_close(c);
        ev_set(&client_gone);
        CHECK(ev_wait(&handler_done, 15000));
        CHECK_INT(send_rc, MR_ECLOSED);
    }
    server_free(srv);
}

static void test_max_connections(void) {
    mr_server *srv = tl_server_new();
    tl_conn *a, *b;
    tl_resp r;
    int port;
    CHECK_INT(server_set_max_connections(srv, 1), MR_OK);
    /* Purge off: at the cap a new connection gets 503 rather than the idle
     * connection's place (LRU purge has its own tests). */
    CHECK_INT(server_set_lru_purge(srv, 0), MR_OK);
    tl_route(srv, "GET", "/", h_ok, NULL);
    port = tl_server_start(srv);
    a = tl_connect(port);
    CHECK(a != NULL);
    if (a) {
        tl_send_str(a, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(a, &r, 0), 0);
        CHECK_BODY(&r, "ok");
        tl_resp_free(&r);
        /* a is open and idle: a second connection is over the limit */
        b = tl_connect(port);
        CHECK(b != NULL);
        if (b) {
            tl_send_str(b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
            CHECK_INT(tl_read_response(b, &r, 0), 0);
            CHECK_INT(r.status, 503);
            CHECK_STR(tl_header(&r, "Retry-After"), "1");
            tl_resp_free(&r);
            CHECK_INT(tl_wait_eof(b, 3000), 1);
            tl_close(b);
        }
        tl_close(a);
    }
    /* once a is gone, a new connection is served (the count may take a moment) */
    {
        long long deadline = tl_now_ms() + 3000;
        int status = 0;
        while (status != 200 && tl_now_ms() < deadline) {
            if (tl_request(port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r) == 0)
                status = r.status;
            tl_resp_free(&r);
            if (status != 200) tl_sleep_ms(20);
        }
        CHECK_INT(status, 200);
    }
    server_free(srv);
}

static void test_size_limits(void) {
    mr_server *srv = tl_server_new();
    tl_resp r;
    char *big;
    int port;
    CHECK_INT(server_set_limits(srv, 1024, 100), MR_OK);
    CHECK_INT(server_set_max_headers(srv, 5), MR_OK);
    tl_route(srv, "POST", "/body", h_body, NULL);
    tl_route(srv, "GET", "/", h_ok, NULL);
    port = tl_server_start(srv);

    /* a body over max_body_bytes: req_body is NULL and the client gets 413 */
    big = (char *)malloc(4096);
    snprintf(big, 4096, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n\r\n%0200d", 0);
    CHECK_INT(tl_request(port, big, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK(strstr(r.body, "handler saw NULL") == NULL);
    tl_resp_free(&r);
    /* exactly the limit is fine */
    snprintf(big, 4096, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n%0100d", 0);
    CHECK_INT(tl_request(port, big, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, "got body");
    tl_resp_free(&r);
    /* chunked over the limit */
    snprintf(big, 4096, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "40\r\n%064d\r\n40\r\n%064d\r\n0\r\n\r\n", 0, 0);
    CHECK_INT(tl_request(port, big, &r), 0);
    CHECK_INT(r.status, 413);
    tl_resp_free(&r);

    /* a head over max_header_bytes: 431; a request line alone over it: 414 */
    snprintf(big, 4096, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %02000d\r\n\r\n", 0);
    CHECK_INT(tl_request(port, big, &r), 0);
    CHECK_INT(r.status, 431);
    tl_resp_free(&r);
    /* BUG shown here: the request line alone is over the limit, so the header
     * doc promises 414; the library gives 431 when the rest of the head
     * arrived in the same read (it only looks for the first LF). */
    snprintf(big, 4096, "GET /%02000d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
    CHECK_INT(tl_request(port, big, &r), 0);
    CHECK_INT(r.status, 414);
    tl_resp_free(&r);
    /* more than max_headers fields: 431; exactly 5 is fine */
    CHECK_INT(tl_request(port, "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 431);
    tl_resp_free(&r);
    CHECK_INT(tl_request(port, "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 200);
    tl_resp_free(&r);
    free(big);
    server_free(srv);
}

static void test_timeouts(void) {
    mr_server *srv = tl_server_new();
    tl_conn *c;
    tl_resp r;
    long long t0;
    int port;
    CHECK_INT(server_set_timeouts(srv, 300, 300, 1000), MR_OK);
    CHECK_INT(server_set_body_timeout(srv, 300), MR_OK);
    tl_route(srv, "GET", "/", h_ok, NULL);
    tl_route(srv, "POST", "/body", h_body, NULL);
    port = tl_server_start(srv);

    /* a head that never completes: 408 and close */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        t0 = tl_now_ms();
        tl_send_str(c, "GET / HTTP/1.1\r\nHost: t\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 408);
        CHECK(tl_now_ms() - t0 >= 250);
        tl_resp_free(&r);
        CHECK_INT(tl_wait_eof(c, 3000), 1);
        tl_close(c);
    }

    /* an idle keep-alive connection is closed after idle_ms */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 200);
        tl_resp_free(&r);
        t0 = tl_now_ms();
        CHECK_INT(tl_wait_eof(c, 3000), 1);
        CHECK(tl_now_ms() - t0 >= 200);
        tl_close(c);
    }

    /* a body that stalls: req_body fails, the client gets 408 */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 408);
        CHECK(strstr(r.body, "handler saw NULL") == NULL);
        tl_resp_free(&r);
        tl_close(c);
    }
    server_free(srv);
}

int main(void) {
    tl_init("test_limits", 60);
    test_write_errors();
    test_max_connections();
    test_size_limits();
    test_timeouts();
    return tl_finish();
}

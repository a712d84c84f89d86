/*
 * The library-wide functions and every way a C caller can misuse the API:
 * mr_version / mr_strerror / mr_last_error, NULL handles and NULL arguments
 * to every function (MR_EINVAL or NULL, never a crash), and header
 * injection attempts (refused with MR_EINVAL, nothing emitted).
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* ---- library ----------------------------------------------------------- */

static void *fresh_thread_error(void *p) {
    /* a thread that never failed sees "" */
    *(int *)p = strcmp(mr_last_error(), "") == 0;
    return NULL;
}

static void *failing_thread(void *p) {
    (void)p;
    (void)server_listen(NULL, "127.0.0.1:0"); /* fails on this thread only */
    return (void *)(mr_last_error()[0] != 0 ? (void *)1 : NULL);
}

static void test_library(void) {
    static const int codes[] = {MR_OK, MR_EINVAL, MR_ESTATE, MR_ETIMEDOUT, MR_ECLOSED, MR_EIO,
                                MR_ENOTFOUND, MR_EFORBIDDEN, MR_ETOOLARGE, MR_EADDR,
                                MR_EUNSUPPORTED, MR_EINTERNAL};
    size_t i, j;
    char expect[32];
    const char *unknown;
    pthread_t th;
    int fresh = 0;
    void *failed = NULL;
    char saved[256];

    /* version: a static string matching the header's macros */
    snprintf(expect, sizeof expect, "%d.%d.%d", MR_VERSION_MAJOR, MR_VERSION_MINOR, MR_VERSION_PATCH);
    CHECK(mr_version() != NULL);
    CHECK_STR(mr_version(), expect);
    CHECK_STR(mr_version(), "0.1.0");
    CHECK(mr_version() == mr_version());

    /* the codes: stable values, distinct non-empty texts */
    CHECK_INT(MR_OK, 0);
    CHECK_INT(MR_EINVAL, -1);
    CHECK_INT(MR_ESTATE, -2);
    CHECK_INT(MR_ETIMEDOUT, -3);
    CHECK_INT(MR_ECLOSED, -4);
    CHECK_INT(MR_EIO, -5);
    CHECK_INT(MR_ENOTFOUND, -6);
    CHECK_INT(MR_EFORBIDDEN, -7);
    CHECK_INT(MR_ETOOLARGE, -8);
    CHECK_INT(MR_EADDR, -9);
    CHECK_INT(MR_EUNSUPPORTED, -10);
    CHECK_INT(MR_EINTERNAL, -11);
    unknown = mr_strerror(12345);
    CHECK(unknown != NULL);
    CHECK_STR(unknown, "unknown error code");
    CHECK_STR(mr_strerror(-12), "unknown error code");
    CHECK_STR(mr_strerror(1), "unknown error code");
    CHECK_STR(mr_strerror(-2147483647 - 1), "unknown error code");
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *t = mr_strerror(codes[i]);
        CHECK(t != NULL && t[0] != 0);
        CHECK(t != NULL && strcmp(t, unknown) != 0);
        CHECK(t == mr_strerror(codes[i])); /* static */
        for (j = 0; j < i; j++) CHECK(strcmp(t, mr_strerror(codes[j])) != 0);
    }

    /* last error: thread-local, "" until a call fails, kept across successes */
    CHECK_INT(pthread_create(&th, NULL, fresh_thread_error, &fresh), 0);
    pthread_join(th, NULL);
    CHECK(fresh);
    CHECK_INT(server_set_workers(NULL, 1), MR_EINVAL);
    CHECK(mr_last_error() != NULL && mr_last_error()[0] != 0);
    snprintf(saved, sizeof saved, "%s", mr_last_error());
    {
        mr_server *srv = server_new();
        CHECK_INT(server_set_workers(srv, 1), MR_OK); /* success does not clear */
        CHECK_STR(mr_last_error(), saved);
        CHECK_INT(server_set_workers(srv, 5000), MR_EINVAL);
        CHECK(strcmp(mr_last_error(), saved) != 0); /* a new failure, new detail */
        snprintf(saved, sizeof saved, "%s", mr_last_error());
        server_free(srv);
    }
    CHECK_INT(pthread_create(&th, NULL, failing_thread, NULL), 0);
    pthread_join(th, &failed);
    CHECK(failed != NULL);
    CHECK_STR(mr_last_error(), saved); /* the other thread's failure is not ours */
}

/* ---- NULL handles ------------------------------------------------------ */

static int h_ok(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)resp; (void)ud;
    return 0;
}

static void on_log(void *ud, int level, const char *line) {
    (void)ud; (void)level; (void)line;
}

static void test_null_handles(void) {
    size_t len = 77;
    const char *n = "unchanged", *v = "unchanged";
    unsigned char byte = 0;

    /* server */
    CHECK_INT(server_listen(NULL, "127.0.0.1:0"), MR_EINVAL);
    CHECK_INT(server_route(NULL, "GET", "/", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_set_fallback(NULL, h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_set_workers(NULL, 1), MR_EINVAL);
    CHECK_INT(server_set_max_connections(NULL, 1), MR_EINVAL);
    CHECK_INT(server_set_limits(NULL, 4096, 4096), MR_EINVAL);
    CHECK_INT(server_set_max_headers(NULL, 10), MR_EINVAL);
    CHECK_INT(server_set_timeouts(NULL, 1, 1, 1), MR_EINVAL);
    CHECK_INT(server_set_body_timeout(NULL, 1), MR_EINVAL);
    CHECK_INT(server_set_log(NULL, on_log, NULL), MR_EINVAL);
    CHECK_INT(server_start(NULL), MR_EINVAL);
    CHECK_INT(server_port(NULL, 0), MR_EINVAL);
    CHECK_INT(server_run(NULL), MR_EINVAL);
    CHECK_INT(server_stop(NULL, 0), MR_EINVAL);
    server_free(NULL);

    /* request */
    CHECK(req_method(NULL) == NULL);
    CHECK(req_path(NULL) == NULL);
    CHECK(req_query(NULL) == NULL);
    CHECK(req_query_param(NULL, "q") == NULL);
    CHECK(req_param(NULL, "id") == NULL);
    CHECK(req_header(NULL, "Host") == NULL);
    CHECK_INT(req_header_count(NULL), 0);
    CHECK_INT(req_header_at(NULL, 0, &n, &v), MR_EINVAL);
    CHECK_STR(n, "unchanged");
    CHECK_STR(v, "unchanged");
    CHECK(req_cookie(NULL, "a") == NULL);
    CHECK(req_body(NULL, &len) == NULL);
    CHECK_INT(len, 77); /* outputs written only on success */
    CHECK(req_body(NULL, NULL) == NULL);
    CHECK(req_form_value(NULL, "a") == NULL);
    CHECK(req_remote_addr(NULL) == NULL);
    CHECK(req_host(NULL) == NULL);
    CHECK_INT(req_http_version(NULL), MR_EINVAL);

    /* response */
    CHECK_INT(resp_set_status(NULL, 200), MR_EINVAL);
    CHECK_INT(resp_status(NULL), MR_EINVAL);
    CHECK_INT(resp_set_header(NULL, "X-A", "1"), MR_EINVAL);
    CHECK_INT(resp_add_header(NULL, "X-A", "1"), MR_EINVAL);
    CHECK_INT(resp_remove_header(NULL, "X-A"), MR_EINVAL);
    CHECK(resp_header(NULL, "X-A") == NULL);
    CHECK_INT(resp_set_mime_type(NULL, "text/plain"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(NULL, "a", "b"), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(NULL, "a", "b", -1, NULL, NULL, 0), MR_EINVAL);
    CHECK_INT(resp_delete_cookie(NULL, "a"), MR_EINVAL);
    CHECK_INT(resp_set_text(NULL, "x"), MR_EINVAL);
    CHECK_INT(resp_set_html(NULL, "x"), MR_EINVAL);
    CHECK_INT(resp_set_content(NULL, &byte, 1), MR_EINVAL);
    CHECK_INT(resp_set_json(NULL, "{}"), MR_EINVAL);
    CHECK_INT(resp_send_header(NULL, NULL, NULL, 0), MR_EINVAL);
    CHECK_INT(resp_send(NULL, "x", 1), MR_EINVAL);
    CHECK_INT(resp_send_str(NULL, "x"), MR_EINVAL);
    CHECK_INT(resp_flush(NULL), MR_EINVAL);
    CHECK_INT(resp_redirect(NULL, "/", 302), MR_EINVAL);
    CHECK_INT(resp_abort(NULL, 500, NULL, NULL), MR_EINVAL);
    CHECK_INT(resp_close(NULL), MR_EINVAL);
    CHECK_INT(resp_client_fd(NULL), MR_EINVAL);
    CHECK(mr_last_error()[0] != 0);
}

/* NULL arguments with valid handles, inside a handler. */
static int h_null_args(mr_req *req, mr_resp *resp, void *ud) {
    (void)ud;
    CHECK(req_query_param(req, NULL) == NULL);
    CHECK(req_param(req, NULL) == NULL);
    CHECK(req_header(req, NULL) == NULL);
    CHECK(req_cookie(req, NULL) == NULL);
    CHECK(req_form_value(req, NULL) == NULL);
    CHECK_INT(resp_set_header(resp, NULL, "v"), MR_EINVAL);
    CHECK_INT(resp_set_header(resp, "X-A", NULL), MR_EINVAL);
    CHECK_INT(resp_add_header(resp, NULL, "v"), MR_EINVAL);
    CHECK_INT(resp_add_header(resp, "X-A", NULL), MR_EINVAL);
    CHECK_INT(resp_remove_header(resp, NULL), MR_EINVAL);
    CHECK(resp_header(resp, NULL) == NULL);
    CHECK_INT(resp_set_mime_type(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, NULL, "v"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "a", NULL), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, NULL, "v", -1, NULL, NULL, 0), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "a", NULL, -1, NULL, NULL, 0), MR_EINVAL);
    CHECK_INT(resp_delete_cookie(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_set_text(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_set_html(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_set_content(resp, NULL, 1), MR_EINVAL);
    CHECK_INT(resp_set_json(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_redirect(resp, NULL, 302), MR_EINVAL);
    CHECK_INT(resp_send(resp, NULL, 1), MR_EINVAL);
    CHECK_INT(resp_send_str(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, NULL, NULL, 1), MR_EINVAL);
    CHECK_INT(req_header_at(req, 0, NULL, NULL), MR_OK);
    /* nothing above changed the response: a plain 200 goes out */
    return 0;
}

/* ---- header injection -------------------------------------------------- */

static int h_inject(mr_req *req, mr_resp *resp, void *ud) {
    static const char *bad_names[] = {"X-A\r\nX-Evil", "X-A\nX-Evil", "X-A\rX-Evil", "X A", "X-A:",
                                      "", "X-\x01", "X-\x7f", "X-\xc3\xa9", "(X)", "X-A\t", NULL};
    static const char *bad_values[] = {"v\r\nX-Evil: 1", "v\nX-Evil: 1", "v\rX-Evil: 1",
                                       "\r\nX-Evil: 1", "v\x01", "v\x7f", " leading", "trailing ",
                                       "\ttab-leading", "v\r\n\r\n<html>", NULL};
    size_t i;
    (void)req; (void)ud;
    for (i = 0; bad_names[i]; i++) {
        CHECK_INT(resp_set_header(resp, bad_names[i], "v"), MR_EINVAL);
        CHECK_INT(resp_add_header(resp, bad_names[i], "v"), MR_EINVAL);
    }
    for (i = 0; bad_values[i]; i++) {
        int rc = resp_set_header(resp, "X-A", bad_values[i]);
        if (rc != MR_EINVAL) fprintf(stderr, "resp_set_header value #%u accepted\n", (unsigned)i);
        CHECK_INT(rc, MR_EINVAL);
        CHECK_INT(resp_add_header(resp, "X-A", bad_values[i]), MR_EINVAL);
        CHECK_INT(resp_set_mime_type(resp, bad_values[i]), MR_EINVAL);
        CHECK_INT(resp_set_cookie(resp, "c", bad_values[i]), MR_EINVAL);
        CHECK_INT(resp_set_cookie_ex(resp, "c", "v", -1, bad_values[i], NULL, 0), MR_EINVAL);
        CHECK_INT(resp_set_cookie_ex(resp, "c", "v", -1, NULL, bad_values[i], 0), MR_EINVAL);
        CHECK_INT(resp_redirect(resp, bad_values[i], 302), MR_EINVAL);
    }
    CHECK_INT(resp_set_cookie(resp, "c\r\nX-Evil", "v"), MR_EINVAL);
    CHECK(resp_header(resp, "X-A") == NULL);
    CHECK(resp_header(resp, "Set-Cookie") == NULL);
    CHECK(resp_header(resp, "Location") == NULL);
    CHECK(resp_header(resp, "Content-Type") == NULL);
    return resp_set_text(resp, "clean");
}

static int h_inject_reason(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_send_header(resp, "OK\r\nX-Evil: 1", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, "OK\n", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, "OK\r", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, "O\x7fK", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_abort(resp, 400, NULL, "Bad\r\nX-Evil: 1"), MR_EINVAL);
    CHECK_INT(resp_abort(resp, 400, NULL, "Bad\n"), MR_EINVAL);
    return resp_send_header(resp, "Fine Reason", "ok", 2);
}

static void test_injection(int port) {
    tl_resp r;
    CHECK_INT(tl_request(port, "GET /inject HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n");
    CHECK_BODY(&r, "clean");
    CHECK(strstr(r.head, "Evil") == NULL);
    tl_resp_free(&r);

    CHECK_INT(tl_request(port, "GET /inject-reason HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_HEAD(&r, "HTTP/1.1 200 Fine Reason\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK_BODY(&r, "ok");
    CHECK(strstr(r.head, "Evil") == NULL);
    tl_resp_free(&r);

    CHECK_INT(tl_request(port, "GET /null-args?q=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    tl_resp_free(&r);
}

int main(void) {
    mr_server *srv;
    int port;
    tl_init("test_api_misuse", 30);
    test_library();
    test_null_handles();
    srv = tl_server_new();
    if (!srv) return tl_finish();
    tl_route(srv, "GET", "/inject", h_inject, NULL);
    tl_route(srv, "GET", "/inject-reason", h_inject_reason, NULL);
    tl_route(srv, "GET", "/null-args", h_null_args, NULL);
    port = tl_server_start(srv);
    if (port > 0) test_injection(port);
    server_free(srv);
    return tl_finish();
}

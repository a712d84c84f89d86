/*
 * The library-wide functions and every way a C caller can misuse the API:
 * mr_version / mr_strerror / mr_last_error / mr_last_error_code, NULL
 * handles and NULL arguments to every function (MR_EINVAL or NULL, never a
 * crash), invalid UTF-8 in names, paths and values, huge sizes, wrong
 * states (configuration after server_start, resp_* after the head was sent,
 * after resp_abort, on a response that was deferred, resp_finish on the
 * handler's own response), and header injection attempts (refused with
 * MR_EINVAL, nothing emitted). check_misuse_coverage.py makes sure every
 * symbol of abi/symbols.txt is called here.
 *
 * Not testable (undefined behaviour on the caller's side, not detectable by
 * the library): a handle used after it was freed (req/resp after the
 * handler returned, a deferred handle after resp_finish, a server after
 * server_free), a string that is not NUL-terminated, a (data, len) or
 * (buf, cap) pair larger than the real buffer, and a handle pointer that
 * was never returned by the library.
 */
#define _GNU_SOURCE 1
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

/* ---- library ----------------------------------------------------------- */

static void *fresh_thread_error(void *p) {
    /* a thread that never failed sees "" */
    *(int *)p = strcmp(mr_last_error(), "") == 0 && mr_last_error_code() == MR_OK;
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
    CHECK_INT(mr_last_error_code(), MR_EINVAL);
    snprintf(saved, sizeof saved, "%s", mr_last_error());
    {
        mr_server *srv = server_new();
        CHECK_INT(server_set_workers(srv, 1), MR_OK); /* success does not clear */
        CHECK_STR(mr_last_error(), saved);
        CHECK_INT(mr_last_error_code(), MR_EINVAL);
        CHECK_INT(server_start(srv), MR_ESTATE); /* no listener: a new code */
        CHECK_INT(mr_last_error_code(), MR_ESTATE);
        CHECK_INT(server_set_workers(srv, 5000), MR_EINVAL);
        CHECK(strcmp(mr_last_error(), saved) != 0); /* a new failure, new detail */
        snprintf(saved, sizeof saved, "%s", mr_last_error());
        server_free(srv);
    }
    CHECK_INT(pthread_create(&th, NULL, failing_thread, NULL), 0);
    pthread_join(th, &failed);
    CHECK(failed != NULL);
    CHECK_STR(mr_last_error(), saved); /* the other thread's failure is not ours */
    CHECK_INT(mr_last_error_code(), MR_EINVAL);

    /* mr_mime_for_path: never NULL, octet-stream for whatever it cannot use */
    CHECK_STR(mr_mime_for_path(NULL), "application/octet-stream");
    CHECK_STR(mr_mime_for_path(""), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("\xff\xfe"), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("a.\xff\xfe"), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("\xff\xfe.html"), "application/octet-stream"); /* not UTF-8 */
    CHECK_STR(mr_mime_for_path("."), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("x."), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("a.html\r\n"), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("A.PNG"), "image/png");
    {
        /* a 1 MiB name: no limit, no crash */
        size_t n = (size_t)1 << 20;
        char *big = malloc(n + 1);
        CHECK(big != NULL);
        if (big) {
            memset(big, 'a', n);
            memcpy(big + n - 5, ".json", 5);
            big[n] = 0;
            CHECK_STR(mr_mime_for_path(big), "application/json; charset=utf-8");
            big[n - 5] = 'x';
            CHECK_STR(mr_mime_for_path(big), "application/octet-stream");
            free(big);
        }
    }
}

/* ---- NULL handles ------------------------------------------------------ */

static int h_ok(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)resp; (void)ud;
    return 0;
}

static void on_log(void *ud, int level, const char *line) {
    (void)ud; (void)level; (void)line;
}

static ptrdiff_t prod_never(void *ud, void *buf, size_t cap) {
    (void)ud; (void)buf; (void)cap;
    return 0;
}

/* counts free_userdata calls: a refused resp_stream must not take userdata */
static int g_prod_freed;
static void prod_free(void *ud) {
    (void)ud;
    g_prod_freed++;
}

/* Every call that sets a response body (the JSON builder, templates,
 * files) answers `want` on `resp`: NULL, a redirect, a head already sent. */
static void body_setters_give(mr_resp *resp, const char *file, int want) {
    CHECK_INT(resp_json_set_str(resp, "s", "v"), want);
    CHECK_INT(resp_json_set_int(resp, "i", 1), want);
    CHECK_INT(resp_json_set_double(resp, "d", 1.0), want);
    CHECK_INT(resp_json_set_bool(resp, "b", 1), want);
    CHECK_INT(resp_json_set_null(resp, "z"), want);
    CHECK_INT(resp_json_set_raw(resp, "r", "[]"), want);
    CHECK_INT(resp_load_template(resp, "t.html", NULL), want);
    CHECK_INT(resp_send_file(resp, file), want);
}

/* A NULL-returning call failed with `code`, with a detail. */
#define CHECK_NULL_CODE(expr, code)                                      \
    do {                                                                 \
        CHECK((expr) == NULL);                                           \
        CHECK_INT(mr_last_error_code(), (code));                         \
        CHECK(mr_last_error()[0] != 0);                                  \
    } while (0)

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
    CHECK_INT(server_route_named(NULL, "n", "GET", "/", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_set_templates_dir(NULL, "."), MR_EINVAL);
    CHECK_INT(server_set_templates_reload(NULL, 1), MR_EINVAL);
    CHECK_INT(server_static(NULL, "/s", "."), MR_EINVAL);
    CHECK_INT(server_static_ex(NULL, "/s", ".", 0, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_set_max_connections_per_ip(NULL, 1), MR_EINVAL);
    CHECK_INT(server_set_lru_purge(NULL, 1), MR_EINVAL);
    CHECK_INT(server_set_stack_size(NULL, 65536), MR_EINVAL);
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
    {
        char buf[8];
        int64_t i64 = 5;
        double d = 5.0;
        int b = 5;
        CHECK_INT(req_read(NULL, buf, sizeof buf), MR_EINVAL);
        CHECK_INT(req_read(NULL, NULL, 0), MR_EINVAL);
        CHECK_INT(req_read(NULL, buf, SIZE_MAX), MR_EINVAL);
        CHECK_NULL_CODE(req_json_str(NULL, "a"), MR_EINVAL);
        CHECK_NULL_CODE(req_json_raw(NULL, "a"), MR_EINVAL);
        CHECK_NULL_CODE(req_json_raw(NULL, NULL), MR_EINVAL);
        CHECK_INT(req_json_int(NULL, "a", &i64), MR_EINVAL);
        CHECK_INT(req_json_double(NULL, "a", &d), MR_EINVAL);
        CHECK_INT(req_json_bool(NULL, "a", &b), MR_EINVAL);
        CHECK_INT(i64, 5); /* outputs written only on MR_OK */
        CHECK(d == 5.0);
        CHECK_INT(b, 5);
    }
    CHECK_NULL_CODE(req_method(NULL), MR_EINVAL);
    CHECK_NULL_CODE(req_body(NULL, NULL), MR_EINVAL);

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
    {
        static const char *const params[] = {"id", "1", NULL};
        g_prod_freed = 0;
        body_setters_give(NULL, "/etc/hostname", MR_EINVAL);
        CHECK_INT(resp_redirect_route(NULL, "home"), MR_EINVAL);
        CHECK_INT(resp_redirect_route_params(NULL, "user", params, 302), MR_EINVAL);
        CHECK_INT(resp_sse_event(NULL, NULL, "x", NULL), MR_EINVAL);
        CHECK_INT(resp_sse_heartbeat(NULL, 1), MR_EINVAL);
        CHECK_INT(resp_stream(NULL, prod_never, &g_prod_freed, prod_free), MR_EINVAL);
        CHECK_INT(g_prod_freed, 0); /* refused: userdata stays ours */
        CHECK_NULL_CODE(resp_defer(NULL), MR_EINVAL);
        CHECK_INT(resp_finish(NULL), MR_EINVAL);
        CHECK_INT(mr_last_error_code(), MR_EINVAL);
    }
}

/* ---- configuration ------------------------------------------------------ */

/* A scratch folder: t.html (a template), f.txt (a file), sub/ (a folder). */
static char g_dir[64];
static char g_file[96];
static char g_sub[96];
static char g_tmpl[96];

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int make_scratch(void) {
    strcpy(g_dir, "/tmp/mr-misuse-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_file, sizeof g_file, "%s/f.txt", g_dir);
    snprintf(g_sub, sizeof g_sub, "%s/sub", g_dir);
    snprintf(g_tmpl, sizeof g_tmpl, "%s/t.html", g_dir);
    if (write_file(g_file, "file\n") != 0) return -1;
    if (write_file(g_tmpl, "Hi {{ name }}") != 0) return -1;
    if (mkdir(g_sub, 0700) != 0) return -1;
    return 0;
}

static void remove_scratch(void) {
    unlink(g_file);
    unlink(g_tmpl);
    rmdir(g_sub);
    rmdir(g_dir);
}

/* Every configuration call with bad arguments, on a server not started. */
static void test_config_args(void) {
    mr_server *srv = server_new();
    char *big;
    size_t n = (size_t)1 << 20;
    CHECK(srv != NULL);
    if (!srv) return;

    /* server_route_named */
    CHECK_INT(server_route_named(srv, NULL, "GET", "/a", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "", "GET", "/a", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "\xff\xfe", "GET", "/a", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "a", "GET", NULL, h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "a", "GET", "/a", NULL, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "a", "G\xff", "/a", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "a", "GET", "/\xff\xfe", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "a", "GET", "no-slash", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route_named(srv, "a", "GET", "/a", h_ok, NULL), MR_OK);
    CHECK_INT(server_route_named(srv, "a", "GET", "/b", h_ok, NULL), MR_EINVAL); /* name used */
    CHECK_INT(server_route_named(srv, "b", "GET", "/a", h_ok, NULL), MR_EINVAL); /* route exists */
    CHECK_INT(server_route(srv, "GET", "/\xff\xfe", h_ok, NULL), MR_EINVAL);
    CHECK_INT(server_route(srv, "\xff\xfe", "/c", h_ok, NULL), MR_EINVAL);

    /* server_set_templates_dir / reload */
    CHECK_INT(server_set_templates_dir(srv, NULL), MR_EINVAL);
    CHECK_INT(server_set_templates_dir(srv, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(server_set_templates_dir(srv, "/nonexistent/mr-misuse"), MR_ENOTFOUND);
    CHECK_INT(server_set_templates_dir(srv, g_file), MR_ENOTFOUND); /* not a folder */
    CHECK_INT(server_set_templates_reload(srv, INT_MIN), MR_OK);     /* any non-zero */
    CHECK_INT(server_set_templates_reload(srv, 0), MR_OK);

    /* server_static */
    CHECK_INT(server_static(srv, NULL, g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s", NULL), MR_EINVAL);
    CHECK_INT(server_static(srv, "s", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s/../t", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s/./t", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/{s}", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s%2f", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s?", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s#", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s\r\n", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/\xff\xfe", g_dir), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s", "\xff\xfe"), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s", "/nonexistent/mr-misuse"), MR_ENOTFOUND);
    CHECK_INT(server_static(srv, "/s", g_file), MR_ENOTFOUND); /* not a folder */
    CHECK_INT(server_static(srv, "/a", g_dir), MR_EINVAL);     /* a route covers /a */

    /* server_static_ex */
    CHECK_INT(server_static_ex(srv, NULL, g_dir, 0, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", NULL, 0, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0x80000000u, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, UINT_MAX, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, "max-age=1\r\nX-Evil: 1", NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, "\xff\xfe", NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, NULL, "/etc/passwd"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, NULL, "../f.txt"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, NULL, "a//f.txt"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, NULL, "./f.txt"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, NULL, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/\xff\xfe", g_dir, 0, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/s", "/nonexistent/mr-misuse", 0, NULL, NULL), MR_ENOTFOUND);

    /* sizes and counts: the documented bounds, huge values */
    CHECK_INT(server_set_stack_size(srv, 1), MR_EINVAL);
    CHECK_INT(server_set_stack_size(srv, 8191), MR_EINVAL);
    CHECK_INT(server_set_stack_size(srv, 8192), MR_OK);
    CHECK_INT(server_set_stack_size(srv, 0), MR_OK);
    CHECK_INT(server_set_limits(srv, SIZE_MAX, 4096), MR_EINVAL);
    CHECK_INT(server_set_limits(srv, 255, 4096), MR_EINVAL);
    CHECK_INT(server_set_limits(srv, 4096, SIZE_MAX), MR_OK); /* no upper bound on bodies */
    CHECK_INT(server_set_workers(srv, UINT_MAX), MR_EINVAL);
    CHECK_INT(server_set_max_headers(srv, UINT_MAX), MR_EINVAL);
    CHECK_INT(server_set_max_headers(srv, 0), MR_EINVAL);
    CHECK_INT(server_set_max_connections(srv, 0), MR_EINVAL);
    CHECK_INT(server_set_timeouts(srv, 0, 1, 1), MR_EINVAL);
    CHECK_INT(server_set_timeouts(srv, 1, 0, 1), MR_EINVAL);
    CHECK_INT(server_set_timeouts(srv, 1, 1, 0), MR_EINVAL);
    CHECK_INT(server_set_body_timeout(srv, 0), MR_EINVAL);
    CHECK_INT(server_set_max_connections_per_ip(srv, UINT_MAX), MR_OK);
    CHECK_INT(server_set_max_connections_per_ip(srv, 0), MR_OK);
    CHECK_INT(server_set_lru_purge(srv, INT_MIN), MR_OK);
    CHECK_INT(server_set_lru_purge(srv, 0), MR_OK);
    CHECK_INT(server_listen(srv, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(server_listen(srv, "127.0.0.1:65536"), MR_EINVAL);

    /* a 1 MiB argument is refused or taken, never a crash */
    big = malloc(n + 1);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', n);
        big[0] = '/';
        big[n] = 0;
        CHECK_INT(server_set_templates_dir(srv, big), MR_ENOTFOUND);
        CHECK_INT(server_static(srv, "/big", big), MR_ENOTFOUND);
        CHECK_INT(server_listen(srv, big), MR_EINVAL);
        big[0] = 'a';
        CHECK_INT(server_route_named(srv, big, "GET", "/big", h_ok, NULL), MR_OK);
        free(big);
    }
    server_free(srv);
}

/* Every configuration call fails with MR_ESTATE while the server runs. */
static void test_config_after_start(void) {
    mr_server *srv = tl_server_new();
    int port;
    if (!srv) return;
    port = tl_server_start(srv);
    if (port > 0) {
        CHECK_INT(server_listen(srv, "127.0.0.1:0"), MR_ESTATE);
        CHECK_INT(server_route(srv, "GET", "/x", h_ok, NULL), MR_ESTATE);
        CHECK_INT(server_route_named(srv, "x", "GET", "/x", h_ok, NULL), MR_ESTATE);
        CHECK_INT(server_set_templates_dir(srv, g_dir), MR_ESTATE);
        CHECK_INT(server_set_templates_reload(srv, 0), MR_ESTATE);
        CHECK_INT(server_set_fallback(srv, h_ok, NULL), MR_ESTATE);
        CHECK_INT(server_static(srv, "/s", g_dir), MR_ESTATE);
        CHECK_INT(server_static_ex(srv, "/s", g_dir, 0, NULL, NULL), MR_ESTATE);
        CHECK_INT(server_set_workers(srv, 1), MR_ESTATE);
        CHECK_INT(server_set_max_connections(srv, 1), MR_ESTATE);
        CHECK_INT(server_set_limits(srv, 4096, 4096), MR_ESTATE);
        CHECK_INT(server_set_max_headers(srv, 10), MR_ESTATE);
        CHECK_INT(server_set_timeouts(srv, 1, 1, 1), MR_ESTATE);
        CHECK_INT(server_set_max_connections_per_ip(srv, 1), MR_ESTATE);
        CHECK_INT(server_set_lru_purge(srv, 0), MR_ESTATE);
        CHECK_INT(server_set_body_timeout(srv, 1), MR_ESTATE);
        CHECK_INT(server_set_stack_size(srv, 65536), MR_ESTATE);
        CHECK_INT(server_set_log(srv, on_log, NULL), MR_ESTATE);
        CHECK_INT(server_start(srv), MR_ESTATE);
        CHECK_INT(mr_last_error_code(), MR_ESTATE);
        CHECK_INT(server_port(srv, 1), MR_EINVAL);       /* no such listener */
        CHECK_INT(server_port(srv, SIZE_MAX), MR_EINVAL);
        CHECK_INT(server_stop(srv, UINT_MAX), MR_OK); /* nothing in flight: returns at once */
        CHECK_INT(server_stop(srv, 0), MR_OK);        /* not running: nothing */
        /* stopped: configurable again */
        CHECK_INT(server_set_lru_purge(srv, 1), MR_OK);
        CHECK_INT(server_set_stack_size(srv, 65536), MR_OK);
    }
    server_free(srv);
    {
        mr_server *fresh = server_new();
        CHECK_INT(server_port(fresh, 0), MR_ESTATE); /* never started */
        server_free(fresh);
    }
}

/* Huge but documented-valid values: the server starts and serves. */
static void test_config_huge(void) {
    mr_server *srv = tl_server_new();
    int port;
    tl_resp r;
    if (!srv) return;
    tl_route(srv, "GET", "/", h_ok, NULL);
    CHECK_INT(server_set_timeouts(srv, UINT_MAX, UINT_MAX, UINT_MAX), MR_OK);
    CHECK_INT(server_set_body_timeout(srv, UINT_MAX), MR_OK);
    CHECK_INT(server_set_max_connections(srv, UINT_MAX), MR_OK);
    CHECK_INT(server_set_max_connections_per_ip(srv, UINT_MAX), MR_OK);
    CHECK_INT(server_set_limits(srv, (size_t)1 << 20, SIZE_MAX), MR_OK);
    CHECK_INT(server_set_workers(srv, 1), MR_OK);
    port = tl_server_start(srv);
    if (port > 0) {
        CHECK_INT(tl_request(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        CHECK_INT(r.status, 200);
        tl_resp_free(&r);
    }
    server_free(srv);

    /* a stack no thread can get: server_start fails cleanly (MR_EIO) */
    srv = tl_server_new();
    if (!srv) return;
    CHECK_INT(server_set_stack_size(srv, SIZE_MAX), MR_OK);
    CHECK_INT(server_set_workers(srv, 1), MR_OK);
    CHECK_INT(server_start(srv), MR_EIO);
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(server_set_stack_size(srv, 0), MR_OK); /* not running: configurable */
    port = tl_server_start(srv);
    CHECK(port > 0);
    server_free(srv);
}

/* ---- request and response calls, inside handlers ------------------------ */

/* POST /json with {"s":"v","i":1,"d":1.5,"b":true,"o":{"k":[1]}} */
static int h_json_args(mr_req *req, mr_resp *resp, void *ud) {
    int64_t i64 = 5;
    double d = 5.0;
    int b = 5;
    (void)ud;
    CHECK_NULL_CODE(req_json_str(req, NULL), MR_EINVAL);
    CHECK_NULL_CODE(req_json_str(req, "\xff\xfe"), MR_EINVAL);
    CHECK_NULL_CODE(req_json_str(req, "nope"), MR_ENOTFOUND);
    CHECK_NULL_CODE(req_json_str(req, "i"), MR_EINVAL); /* not a string */
    CHECK_NULL_CODE(req_json_str(req, "o.k.99999999999999999999"), MR_ENOTFOUND);
    CHECK_NULL_CODE(req_json_str(req, "s.x"), MR_ENOTFOUND); /* below a string */
    /* an empty key is a bad path (as for resp_json_set_*), not a missing value */
    CHECK_NULL_CODE(req_json_str(req, ""), MR_EINVAL);
    CHECK_NULL_CODE(req_json_str(req, "..."), MR_EINVAL);
    CHECK_INT(req_json_int(req, "o..k", &i64), MR_EINVAL);
    CHECK_NULL_CODE(req_json_raw(req, "\xff\xfe"), MR_EINVAL);
    CHECK_NULL_CODE(req_json_raw(req, "nope"), MR_ENOTFOUND);
    CHECK_INT(req_json_int(req, NULL, &i64), MR_EINVAL);
    CHECK_INT(req_json_int(req, "i", NULL), MR_EINVAL);
    CHECK_INT(req_json_int(req, "\xff\xfe", &i64), MR_EINVAL);
    CHECK_INT(req_json_int(req, "nope", &i64), MR_ENOTFOUND);
    CHECK_INT(req_json_int(req, "d", &i64), MR_EINVAL); /* not an integer */
    CHECK_INT(req_json_int(req, "s", &i64), MR_EINVAL);
    CHECK_INT(req_json_double(req, NULL, &d), MR_EINVAL);
    CHECK_INT(req_json_double(req, "d", NULL), MR_EINVAL);
    CHECK_INT(req_json_double(req, "\xff\xfe", &d), MR_EINVAL);
    CHECK_INT(req_json_double(req, "nope", &d), MR_ENOTFOUND);
    CHECK_INT(req_json_double(req, "b", &d), MR_EINVAL);
    CHECK_INT(req_json_bool(req, NULL, &b), MR_EINVAL);
    CHECK_INT(req_json_bool(req, "b", NULL), MR_EINVAL);
    CHECK_INT(req_json_bool(req, "\xff\xfe", &b), MR_EINVAL);
    CHECK_INT(req_json_bool(req, "nope", &b), MR_ENOTFOUND);
    CHECK_INT(req_json_bool(req, "i", &b), MR_EINVAL); /* 1 is not true */
    CHECK_INT(i64, 5); /* untouched by the failures */
    CHECK(d == 5.0);
    CHECK_INT(b, 5);
    /* the document is still usable */
    CHECK_STR(req_json_str(req, "s"), "v");
    CHECK_INT(req_json_int(req, "i", &i64), MR_OK);
    CHECK_INT(i64, 1);
    CHECK_INT(req_json_bool(req, "b", &b), MR_OK);
    CHECK_INT(b, 1);
    CHECK_STR(req_json_raw(req, "o"), "{\"k\":[1]}");
    return resp_set_text(resp, "json ok");
}

/* POST /notjson with a body that is not JSON */
static int h_not_json(mr_req *req, mr_resp *resp, void *ud) {
    int64_t i64 = 5;
    double d = 5.0;
    int b = 5;
    (void)ud;
    CHECK_NULL_CODE(req_json_str(req, "a"), MR_EINVAL);
    CHECK_NULL_CODE(req_json_raw(req, NULL), MR_EINVAL);
    CHECK_INT(req_json_int(req, "a", &i64), MR_EINVAL);
    CHECK_INT(req_json_double(req, "a", &d), MR_EINVAL);
    CHECK_INT(req_json_bool(req, "a", &b), MR_EINVAL);
    CHECK_INT(i64, 5);
    CHECK(d == 5.0);
    CHECK_INT(b, 5);
    return resp_set_text(resp, "notjson ok");
}

/* POST /read with the body "hello" */
static int h_read(mr_req *req, mr_resp *resp, void *ud) {
    char buf[16];
    (void)ud;
    memset(buf, 'z', sizeof buf);
    CHECK_INT(req_read(req, NULL, sizeof buf), MR_EINVAL);
    CHECK_INT(req_read(req, NULL, SIZE_MAX), MR_EINVAL);
    CHECK_INT(req_read(req, buf, 0), MR_EINVAL);
    CHECK_INT(buf[0], 'z'); /* nothing written, nothing consumed */
    CHECK_INT(req_read(req, buf, sizeof buf), 5);
    CHECK_MEM(buf, 5, "hello", 5);
    CHECK_INT(req_read(req, buf, sizeof buf), 0);
    CHECK_INT(req_read(req, buf, 0), MR_EINVAL);
    return resp_set_text(resp, "read ok");
}

/* GET /json-set: every refused resp_json_set_* call changes nothing */
static int h_json_set(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_json_set_int(resp, "n", 1), MR_OK);
    CHECK_INT(resp_json_set_str(resp, NULL, "v"), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "s", NULL), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "\xff\xfe", "v"), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "s", "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "a..b", "v"), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "", "v"), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "a.", "v"), MR_EINVAL);
    CHECK_INT(resp_json_set_str(resp, "n.sub", "v"), MR_EINVAL); /* below a number */
    CHECK_INT(resp_json_set_int(resp, NULL, 1), MR_EINVAL);
    CHECK_INT(resp_json_set_int(resp, "\xff\xfe", 1), MR_EINVAL);
    CHECK_INT(resp_json_set_int(resp, ".a", INT64_MIN), MR_EINVAL);
    CHECK_INT(resp_json_set_double(resp, NULL, 1.0), MR_EINVAL);
    CHECK_INT(resp_json_set_double(resp, "\xff\xfe", 1.0), MR_EINVAL);
    CHECK_INT(resp_json_set_double(resp, "d", NAN), MR_EINVAL);
    CHECK_INT(resp_json_set_double(resp, "d", INFINITY), MR_EINVAL);
    CHECK_INT(resp_json_set_double(resp, "d", -INFINITY), MR_EINVAL);
    CHECK_INT(resp_json_set_bool(resp, NULL, 1), MR_EINVAL);
    CHECK_INT(resp_json_set_bool(resp, "\xff\xfe", 1), MR_EINVAL);
    CHECK_INT(resp_json_set_bool(resp, "n.x", 1), MR_EINVAL);
    CHECK_INT(resp_json_set_null(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_json_set_null(resp, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_json_set_null(resp, "x..y"), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, NULL, "1"), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, "r", NULL), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, "\xff\xfe", "1"), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, "r", "\"\xff\xfe\""), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, "r", "{\"a\":"), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, "r", ""), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(resp, "r", "1 2"), MR_EINVAL);
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(resp_json_set_int(resp, "m", INT64_MIN), MR_OK);
    CHECK_INT(resp_json_set_double(resp, "big", 1e308), MR_OK);
    return 0;
}

/* GET /json-set-redirect: body calls on a redirect are MR_ESTATE */
static int h_json_set_redirect(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_redirect(resp, "/there", 302), MR_OK);
    body_setters_give(resp, g_file, MR_ESTATE);
    CHECK(resp_header(resp, "Content-Type") == NULL);
    return 0;
}

/* GET /template (the server has g_dir as its template folder) */
static int h_template(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_load_template(resp, NULL, NULL), MR_EINVAL);
    CHECK_INT(resp_load_template(resp, "\xff\xfe", NULL), MR_EINVAL);
    CHECK_INT(resp_load_template(resp, "t.html", "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_load_template(resp, "t.html", "[1]"), MR_EINVAL);   /* not an object */
    CHECK_INT(resp_load_template(resp, "t.html", "\"s\""), MR_EINVAL);
    CHECK_INT(resp_load_template(resp, "t.html", "{\"name\":"), MR_EINVAL); /* not JSON */
    CHECK_INT(resp_load_template(resp, "nope.html", NULL), MR_ENOTFOUND);
    CHECK_INT(resp_load_template(resp, "../t.html", NULL), MR_ENOTFOUND); /* leaves the folder */
    CHECK_INT(resp_load_template(resp, g_tmpl, NULL), MR_ENOTFOUND);      /* absolute */
    CHECK_INT(resp_load_template(resp, "sub", NULL), MR_ENOTFOUND);       /* a folder */
    CHECK(resp_header(resp, "Content-Type") == NULL); /* nothing changed */
    return resp_load_template(resp, "t.html", "{\"name\":\"<x>\"}");
}

/* GET /template-nodir on a server without a template folder */
static int h_template_nodir(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_load_template(resp, "t.html", NULL), MR_ESTATE);
    CHECK_INT(resp_load_template(resp, NULL, NULL), MR_EINVAL);
    return resp_set_text(resp, "nodir ok");
}

/* GET /redirect-route: named routes "home" (/) and "user" (/users/{id}) */
static int h_redirect_route(mr_req *req, mr_resp *resp, void *ud) {
    static const char *const ok[] = {"id", "42", NULL};
    static const char *const odd[] = {"id", "42", "extra", NULL};
    static const char *const novalue[] = {"id", NULL};
    static const char *const empty[] = {"id", "", NULL};
    static const char *const badutf[] = {"id", "\xff\xfe", NULL};
    static const char *const badname[] = {"\xff\xfe", "1", NULL};
    static const char *const other[] = {"nope", "1", NULL};
    static const char *const none[] = {NULL};
    (void)req; (void)ud;
    CHECK_INT(resp_redirect_route(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_redirect_route(resp, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_redirect_route(resp, "nope"), MR_ENOTFOUND);
    CHECK_INT(resp_redirect_route(resp, "user"), MR_EINVAL); /* needs {id} */
    CHECK_INT(resp_redirect_route_params(resp, NULL, ok, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "\xff\xfe", ok, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "nope", ok, 302), MR_ENOTFOUND);
    CHECK_INT(resp_redirect_route_params(resp, "user", NULL, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", none, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", odd, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", novalue, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", empty, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", badutf, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", badname, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", other, 302), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", ok, 200), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", ok, -1), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", ok, INT_MAX), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "user", ok, INT_MIN), MR_EINVAL);
    CHECK_INT(resp_redirect_route_params(resp, "home", NULL, 304), MR_EINVAL);
    CHECK(resp_header(resp, "Location") == NULL); /* nothing changed */
    CHECK_INT(resp_status(resp), 200);
    return resp_redirect_route_params(resp, "user", ok, 0);
}

/* GET /send-file */
static int h_send_file(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_send_file(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_send_file(resp, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_send_file(resp, "/nonexistent/mr-misuse"), MR_ENOTFOUND);
    CHECK_INT(resp_send_file(resp, ""), MR_ENOTFOUND);
    CHECK_INT(resp_send_file(resp, g_sub), MR_EFORBIDDEN);   /* a folder */
    CHECK_INT(resp_send_file(resp, "/dev/null"), MR_EFORBIDDEN); /* a device */
    CHECK(resp_header(resp, "Content-Type") == NULL); /* nothing changed */
    CHECK(resp_header(resp, "ETag") == NULL);
    return resp_set_text(resp, "send-file ok");
}

/* GET /sse: resp_sse_event / resp_sse_heartbeat arguments */
static int h_sse(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_sse_event(resp, NULL, NULL, NULL), MR_EINVAL);
    CHECK_INT(resp_sse_event(resp, "e\r\n", "x", NULL), MR_EINVAL);
    CHECK_INT(resp_sse_event(resp, NULL, "x", "1\n"), MR_EINVAL);
    CHECK_INT(resp_sse_event(resp, "\xff\xfe", "x", NULL), MR_EINVAL);
    CHECK_INT(resp_sse_event(resp, NULL, "\xff\xfe", NULL), MR_EINVAL);
    CHECK_INT(resp_sse_event(resp, NULL, "x", "\xff\xfe"), MR_EINVAL);
    CHECK(resp_header(resp, "Content-Type") == NULL); /* no head, nothing sent */
    CHECK_INT(resp_sse_heartbeat(resp, 0), MR_OK);
    CHECK_INT(resp_sse_event(resp, "e", "one", "1"), MR_OK);
    return 0;
}

/* GET /stream: resp_stream arguments and states */
static int h_stream(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    g_prod_freed = 0;
    CHECK_INT(resp_stream(resp, NULL, &g_prod_freed, prod_free), MR_EINVAL);
    CHECK_INT(g_prod_freed, 0);
    CHECK_INT(resp_stream(resp, prod_never, NULL, NULL), MR_OK);
    CHECK_INT(resp_stream(resp, prod_never, &g_prod_freed, prod_free), MR_ESTATE);
    CHECK_INT(g_prod_freed, 0); /* refused: not taken */
    CHECK(resp_defer(resp) == NULL);     /* has a producer */
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(resp_send_file(resp, g_file), MR_ESTATE);
    CHECK_INT(resp_sse_event(resp, NULL, "x", NULL), MR_ESTATE);
    return 0;
}

/* GET /sent: after the head went out */
static int h_sent(mr_req *req, mr_resp *resp, void *ud) {
    static const char *const ok[] = {"id", "42", NULL};
    (void)req; (void)ud;
    CHECK_INT(resp_send_header(resp, NULL, "x", 1), MR_OK);
    body_setters_give(resp, g_file, MR_ESTATE);
    CHECK_INT(resp_redirect_route(resp, "home"), MR_ESTATE);
    CHECK_INT(resp_redirect_route_params(resp, "user", ok, 0), MR_ESTATE);
    CHECK_INT(resp_send_header(resp, NULL, NULL, 0), MR_ESTATE);
    CHECK_INT(resp_set_status(resp, 201), MR_ESTATE);
    CHECK_INT(resp_send(resp, NULL, SIZE_MAX), MR_EINVAL);
    return resp_send_str(resp, "y");
}

/* GET /aborted: every call after resp_abort */
static int h_aborted(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    g_prod_freed = 0;
    CHECK_INT(resp_abort(resp, 418, "teapot", NULL), MR_OK);
    CHECK_INT(resp_abort(resp, 500, NULL, NULL), MR_ESTATE);
    CHECK_INT(resp_sse_event(resp, NULL, "x", NULL), MR_ESTATE);
    CHECK_INT(resp_sse_heartbeat(resp, 1), MR_ESTATE);
    CHECK_INT(resp_stream(resp, prod_never, &g_prod_freed, prod_free), MR_ESTATE);
    CHECK_INT(g_prod_freed, 0);
    CHECK(resp_defer(resp) == NULL);
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(resp_send_file(resp, g_file), MR_ESTATE);
    CHECK_INT(resp_json_set_int(resp, "i", 1), MR_ESTATE);
    CHECK_INT(resp_load_template(resp, "t.html", NULL), MR_ESTATE);
    CHECK_INT(resp_redirect_route(resp, "home"), MR_ESTATE);
    CHECK_INT(resp_send(resp, "x", 1), MR_ESTATE);
    CHECK_INT(resp_finish(resp), MR_ESTATE); /* not a deferred handle */
    return 0;
}

/* GET /finish-own: resp_finish on the handler's own response */
static int h_finish_own(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_finish(resp), MR_ESTATE);
    CHECK_INT(mr_last_error_code(), MR_ESTATE);
    CHECK_INT(resp_finish(resp), MR_ESTATE); /* and again: nothing was freed */
    return resp_set_text(resp, "still mine");
}

/* GET /defer: the handler's resp after resp_defer, and the deferred handle */
static pthread_t g_finisher;
static int g_finisher_started;
static int g_finish_rc = 12345;

static void *finisher(void *p) {
    g_finish_rc = resp_finish((mr_resp *)p);
    return NULL;
}

static int h_defer(mr_req *req, mr_resp *resp, void *ud) {
    static const char *const ok[] = {"id", "42", NULL};
    mr_resp *h = resp_defer(resp);
    (void)req; (void)ud;
    g_prod_freed = 0;
    CHECK(h != NULL);
    if (!h) return 1;
    /* the old resp: every call is MR_ESTATE (NULL for resp_defer) */
    CHECK(resp_defer(resp) == NULL);
    CHECK(mr_last_error()[0] != 0);
    CHECK_INT(resp_finish(resp), MR_ESTATE);
    CHECK_INT(resp_set_status(resp, 201), MR_ESTATE);
    CHECK_INT(resp_set_header(resp, "X-A", "1"), MR_ESTATE);
    CHECK_INT(resp_json_set_int(resp, "i", 1), MR_ESTATE);
    CHECK_INT(resp_json_set_str(resp, "\xff\xfe", "v"), MR_ESTATE);
    CHECK_INT(resp_load_template(resp, "t.html", NULL), MR_ESTATE);
    CHECK_INT(resp_redirect_route(resp, "home"), MR_ESTATE);
    CHECK_INT(resp_redirect_route_params(resp, "user", ok, 0), MR_ESTATE);
    CHECK_INT(resp_send_file(resp, g_file), MR_ESTATE);
    CHECK_INT(resp_sse_event(resp, NULL, "x", NULL), MR_ESTATE);
    CHECK_INT(resp_sse_heartbeat(resp, 1), MR_ESTATE);
    CHECK_INT(resp_stream(resp, prod_never, &g_prod_freed, prod_free), MR_ESTATE);
    CHECK_INT(resp_send(resp, "x", 1), MR_ESTATE);
    CHECK_INT(g_prod_freed, 0);
    /* the handle: what a deferred response cannot do */
    CHECK(resp_defer(h) == h);
    CHECK_INT(resp_stream(h, prod_never, &g_prod_freed, prod_free), MR_ESTATE);
    CHECK_INT(g_prod_freed, 0);
    CHECK_INT(resp_send_file(h, g_file), MR_ESTATE);
    /* bad arguments on the handle, as on any response */
    CHECK_INT(resp_json_set_str(h, "\xff\xfe", "v"), MR_EINVAL);
    CHECK_INT(resp_json_set_double(h, "d", NAN), MR_EINVAL);
    CHECK_INT(resp_json_set_raw(h, "r", "{"), MR_EINVAL);
    CHECK_INT(resp_redirect_route(h, "nope"), MR_ENOTFOUND);
    CHECK_INT(resp_sse_heartbeat(h, UINT_MAX), MR_OK); /* huge, but a valid period */
    CHECK_INT(resp_sse_heartbeat(h, 0), MR_OK);
    CHECK_INT(resp_json_set_int(h, "n", 7), MR_OK);
    /* resp_finish from another thread, as the header intends */
    if (pthread_create(&g_finisher, NULL, finisher, h) == 0) {
        g_finisher_started = 1;
    } else {
        CHECK(!"pthread_create");
        g_finish_rc = resp_finish(h);
    }
    return 0;
}

static void expect(int port, const char *raw, int status, const char *body_part) {
    tl_resp r;
    if (tl_request(port, raw, &r) != 0) {
        tl_fail(__FILE__, __LINE__, "tl_request", raw);
        return;
    }
    if (r.status != status || (body_part && (!r.body || !strstr(r.body, body_part)))) {
        char d[512];
        snprintf(d, sizeof d, "%.60s: got %d \"%.200s\", want %d with \"%s\"", raw, r.status,
                 r.body ? r.body : "", status, body_part ? body_part : "");
        tl_fail(__FILE__, __LINE__, "response", d);
    }
    tl_resp_free(&r);
}

static void test_handlers(void) {
    static const char json[] = "{\"s\":\"v\",\"i\":1,\"d\":1.5,\"b\":true,\"o\":{\"k\":[1]}}";
    char raw[512];
    mr_server *srv = tl_server_new(), *bare;
    int port, tmpl_rc;
    tl_resp r;
    if (!srv) return;
    tl_route(srv, "POST", "/json", h_json_args, NULL);
    tl_route(srv, "POST", "/notjson", h_not_json, NULL);
    tl_route(srv, "POST", "/read", h_read, NULL);
    tl_route(srv, "GET", "/json-set", h_json_set, NULL);
    tl_route(srv, "GET", "/json-set-redirect", h_json_set_redirect, NULL);
    tl_route(srv, "GET", "/template", h_template, NULL);
    tl_route(srv, "GET", "/redirect-route", h_redirect_route, NULL);
    tl_route(srv, "GET", "/send-file", h_send_file, NULL);
    tl_route(srv, "GET", "/sse", h_sse, NULL);
    tl_route(srv, "GET", "/stream", h_stream, NULL);
    tl_route(srv, "GET", "/sent", h_sent, NULL);
    tl_route(srv, "GET", "/aborted", h_aborted, NULL);
    tl_route(srv, "GET", "/finish-own", h_finish_own, NULL);
    tl_route(srv, "GET", "/defer", h_defer, NULL);
    CHECK_INT(server_route_named(srv, "home", "GET", "/", h_ok, NULL), MR_OK);
    CHECK_INT(server_route_named(srv, "user", "GET", "/users/{id}", h_ok, NULL), MR_OK);
    tmpl_rc = server_set_templates_dir(srv, g_dir);
    CHECK(tmpl_rc == MR_OK || tmpl_rc == MR_EUNSUPPORTED);
    port = tl_server_start(srv);
    if (port > 0) {
        snprintf(raw, sizeof raw, "POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 "Content-Length: %u\r\n\r\n%s", (unsigned)strlen(json), json);
        expect(port, raw, 200, "json ok");
        expect(port, "POST /notjson HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\nnot json", 200,
               "notjson ok");
        expect(port, "POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 200, "read ok");
        expect(port, "GET /json-set HTTP/1.1\r\nHost: t\r\n\r\n", 200,
               "{\"n\":1,\"m\":-9223372036854775808,\"big\":1");
        expect(port, "GET /json-set-redirect HTTP/1.1\r\nHost: t\r\n\r\n", 302, NULL);
        if (tmpl_rc == MR_OK) expect(port, "GET /template HTTP/1.1\r\nHost: t\r\n\r\n", 200, "Hi &lt;x&gt;");
        CHECK_INT(tl_request(port, "GET /redirect-route HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        CHECK_INT(r.status, 302);
        CHECK_STR(tl_header(&r, "Location"), "/users/42");
        tl_resp_free(&r);
        expect(port, "GET /send-file HTTP/1.1\r\nHost: t\r\n\r\n", 200, "send-file ok");
        CHECK_INT(tl_request(port, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(tl_header(&r, "Content-Type"), "text/event-stream");
        CHECK(r.body && strstr(r.body, "data: one\n") != NULL);
        CHECK(strstr(r.head, "\xff") == NULL && (!r.body || strstr(r.body, "\xff") == NULL));
        tl_resp_free(&r);
        expect(port, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", 200, "");
        expect(port, "GET /sent HTTP/1.1\r\nHost: t\r\n\r\n", 200, "xy");
        expect(port, "GET /aborted HTTP/1.1\r\nHost: t\r\n\r\n", 418, "teapot");
        expect(port, "GET /finish-own HTTP/1.1\r\nHost: t\r\n\r\n", 200, "still mine");
        expect(port, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n", 200, "{\"n\":7}");
        if (g_finisher_started) pthread_join(g_finisher, NULL);
        CHECK_INT(g_finish_rc, MR_OK);
    }
    server_free(srv);

    /* no template folder: MR_ESTATE */
    bare = tl_server_new();
    if (!bare) return;
    tl_route(bare, "GET", "/template-nodir", h_template_nodir, NULL);
    port = tl_server_start(bare);
    if (port > 0) expect(port, "GET /template-nodir HTTP/1.1\r\nHost: t\r\n\r\n", 200, "nodir ok");
    server_free(bare);
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
    CHECK_INT(req_header_at(req, SIZE_MAX, NULL, NULL), MR_EINVAL);
    /* lengths no buffer can have (> PTRDIFF_MAX) are refused before any read */
    CHECK_INT(resp_set_content(resp, NULL, SIZE_MAX), MR_EINVAL);
    CHECK_INT(resp_set_content(resp, "x", SIZE_MAX), MR_EINVAL);
    CHECK_INT(resp_set_content(resp, "x", (size_t)PTRDIFF_MAX + 1), MR_EINVAL);
    CHECK_INT(resp_send(resp, "x", SIZE_MAX), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, NULL, "x", SIZE_MAX), MR_EINVAL);
    CHECK_INT(resp_set_status(resp, INT_MAX), MR_EINVAL);
    CHECK_INT(resp_set_status(resp, INT_MIN), MR_EINVAL);
    CHECK_INT(resp_set_text(resp, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_set_html(resp, "\xff\xfe"), MR_EINVAL);
    CHECK_INT(resp_abort(resp, INT_MAX, NULL, NULL), MR_EINVAL);
    CHECK_INT(resp_abort(resp, 500, "\xff\xfe", NULL), MR_EINVAL);
    CHECK(resp_header(resp, "Content-Type") == NULL);
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
    if (make_scratch() != 0) {
        tl_fail(__FILE__, __LINE__, "make_scratch", g_dir);
        return tl_finish();
    }
    test_config_args();
    test_config_after_start();
    test_config_huge();
    test_handlers();
    remove_scratch();
    return tl_finish();
}

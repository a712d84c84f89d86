/*
 * Files: resp_send_file (the seed's send_file(path)), server_static /
 * server_static_ex and mr_mime_for_path, written only against the header.
 *
 * Everything happens in a temporary folder made at start and removed at the
 * end. File times are set to a fixed instant (utimes), so Last-Modified is
 * known exactly; the ETag is only required to be strong, so the expected
 * heads take it from the response and check its form.
 *
 *   send_file_*     200 exact head + body, HEAD, 304 (If-None-Match and
 *                   If-Modified-Since), 206 (closed, open, suffix ranges,
 *                   If-Range), 416, an empty file, a handler's own type and
 *                   status kept, keep-alive after a file body
 *   send_file_errors  MR_ENOTFOUND / MR_EFORBIDDEN (folder, FIFO without
 *                   blocking, /dev/null, no permission when not root) with
 *                   nothing sent or changed, so the
 *                   handler answers itself; MR_EINVAL / MR_ESTATE misuse
 *   send_file_big   a 5 MiB file by checksum (1 MiB with TL_QUICK)
 *   send_file_shrinks  a file truncated after resp_send_file: the connection
 *                   ends, the body is never padded
 *   send_file_stalled_client  a client that stops reading halfway: the
 *                   write timeout closes it, the server keeps serving
 *   static_*        index, 301 to the slash form, 403, 404, dot segments
 *                   and encoded ones (400), symlinks out (404) and in,
 *                   pre-compressed .gz/.br twins (never a twin linking
 *                   out), the _ex flags, cache
 *                   control, SPA fallback, route priority, argument errors
 *   mime            mr_mime_for_path for several names, NULL, non-UTF-8
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

/* 2001-09-09 01:46:40 UTC: every file made here gets this mtime. */
#define MTIME 1000000000L
#define MTIME_HTTP "Sun, 09 Sep 2001 01:46:40 GMT"
#define MTIME_HTTP_BEFORE "Sun, 09 Sep 2001 01:46:39 GMT"
#define MTIME_HTTP_AFTER "Sun, 09 Sep 2001 01:46:41 GMT"

#define TEXT "text/plain; charset=utf-8"
#define HELLO "hello, file!\n" /* 13 bytes */

static char tmp[256]; /* the temporary folder */

/* ---- helpers ------------------------------------------------------------ */

/* tmp/rel into out. */
static const char *in_tmp(char *out, size_t cap, const char *rel) {
    snprintf(out, cap, "%s/%s", tmp, rel);
    return out;
}

static void set_mtime(const char *path) {
    struct timeval tv[2];
    tv[0].tv_sec = tv[1].tv_sec = MTIME;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    CHECK_INT(utimes(path, tv), 0);
}

static void write_file(const char *rel, const void *data, size_t len) {
    char p[512];
    FILE *f = fopen(in_tmp(p, sizeof p, rel), "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_INT(fwrite(data, 1, len, f), len);
    CHECK_INT(fclose(f), 0);
    set_mtime(p);
}

static void write_str(const char *rel, const char *s) { write_file(rel, s, strlen(s)); }

static void make_dir(const char *rel) {
    char p[512];
    CHECK_INT(mkdir(in_tmp(p, sizeof p, rel), 0755), 0);
}

static void make_link(const char *target, const char *rel) {
    char p[512];
    CHECK_INT(symlink(target, in_tmp(p, sizeof p, rel)), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static unsigned char big_byte(size_t i) { return (unsigned char)((i * 131) ^ (i >> 13)); }

static unsigned long long fnv1a(const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    unsigned long long h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* A strong entity tag: "..." of etagc characters, no W/ (RFC 9110 8.8.3). */
static int strong_etag(const char *t) {
    size_t i, n = t ? strlen(t) : 0;
    if (n < 2 || t[0] != '"' || t[n - 1] != '"') return 0;
    for (i = 1; i + 1 < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch < 0x21 || ch == '"' || ch > 0x7e) return 0;
    }
    return 1;
}

/* One request on a fresh connection; CHECKs that a response came. */
static void get(int port, const char *raw, tl_resp *r) {
    int rc = tl_request(port, raw, r);
    if (rc != 0) fprintf(stderr, "no response to: %s", raw);
    CHECK_INT(rc, 0);
}

/* The head resp_send_file gives a whole file (no Date). */
static void file_head(char *out, size_t cap, const char *status, const char *type, const char *etag,
                      const char *extra, size_t len) {
    snprintf(out, cap,
             "HTTP/1.1 %s\r\nContent-Type: %s\r\nETag: %s\r\nLast-Modified: " MTIME_HTTP
             "\r\nAccept-Ranges: bytes\r\n%sContent-Length: %zu\r\n\r\n",
             status, type, etag, extra, len);
}

/* ---- resp_send_file: handlers ------------------------------------------- */

/* userdata: the path to send */
static int h_file(mr_req *req, mr_resp *resp, void *ud) {
    int rc = resp_send_file(resp, (const char *)ud);
    (void)req;
    CHECK_INT(rc, MR_OK);
    return rc;
}

/* A type set by the handler is kept. */
static int h_file_typed(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    CHECK_INT(resp_set_mime_type(resp, "application/x-custom"), MR_OK);
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_OK);
    CHECK_STR(resp_header(resp, "Content-Type"), "application/x-custom");
    return 0;
}

/* A file as a 404 page: conditionals and ranges apply only to 200. */
static int h_file_404(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    CHECK_INT(resp_set_status(resp, 404), MR_OK);
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_OK);
    return 0;
}

/* Headers may still be set after resp_send_file (the seed's download). */
static int h_file_attachment(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_OK);
    CHECK(strong_etag(resp_header(resp, "ETag")));
    CHECK_STR(resp_header(resp, "Last-Modified"), MTIME_HTTP);
    CHECK_STR(resp_header(resp, "Accept-Ranges"), "bytes");
    CHECK_INT(resp_set_header(resp, "Content-Disposition", "attachment; filename=\"hello.txt\""),
              MR_OK);
    return 0;
}

/* A failing resp_send_file: expected code, nothing sent, nothing changed;
 * the handler then answers itself. */
struct fail_case {
    char path[512];
    int expect;      /* MR_ENOTFOUND or MR_EFORBIDDEN */
    int answer;      /* the status the handler answers with */
    long long ms;    /* how long resp_send_file took */
};

static int h_file_fails(mr_req *req, mr_resp *resp, void *ud) {
    struct fail_case *fc = (struct fail_case *)ud;
    long long t0;
    int rc;
    char text[64];
    (void)req;
    CHECK_INT(resp_set_header(resp, "X-Before", "1"), MR_OK);
    t0 = tl_now_ms();
    rc = resp_send_file(resp, fc->path);
    fc->ms = tl_now_ms() - t0;
    CHECK_INT(rc, fc->expect);
    CHECK(mr_last_error()[0] != '\0');
    /* nothing changed: the response is still ours */
    CHECK_INT(resp_status(resp), 200);
    CHECK_STR(resp_header(resp, "X-Before"), "1");
    CHECK(resp_header(resp, "Content-Type") == NULL);
    CHECK(resp_header(resp, "ETag") == NULL);
    CHECK(resp_header(resp, "Last-Modified") == NULL);
    CHECK(resp_header(resp, "Accept-Ranges") == NULL);
    CHECK(resp_header(resp, "Content-Length") == NULL);
    CHECK_INT(resp_set_status(resp, fc->answer), MR_OK);
    snprintf(text, sizeof text, "mine: %s\n", mr_strerror(rc));
    return resp_set_text(resp, text);
}

/* Misuse: NULL arguments, and states in which a file cannot be sent. */
static int h_file_misuse(mr_req *req, mr_resp *resp, void *ud) {
    const char *path = (const char *)ud;
    (void)req;
    CHECK_INT(resp_send_file(NULL, path), MR_EINVAL);
    CHECK_INT(resp_send_file(resp, NULL), MR_EINVAL);
    CHECK_INT(resp_send_file(resp, "\xff\xfe.txt"), MR_EINVAL); /* not UTF-8 */
    CHECK_INT(resp_redirect(resp, "/elsewhere", 302), MR_OK);
    CHECK_INT(resp_send_file(resp, path), MR_ESTATE); /* a redirect */
    CHECK(resp_header(resp, "ETag") == NULL);
    return 0;
}

static int h_file_after_head(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    CHECK_INT(resp_send_header(resp, NULL, "early", 5), MR_OK);
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_ESTATE); /* head already sent */
    return 0;
}

static ptrdiff_t empty_producer(void *ud, void *buf, size_t cap) {
    (void)ud; (void)buf; (void)cap;
    return 0;
}

static int h_file_after_stream(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    CHECK_INT(resp_stream(resp, empty_producer, NULL, NULL), MR_OK);
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_ESTATE); /* has a producer */
    return 0;
}

static int h_file_deferred(mr_req *req, mr_resp *resp, void *ud) {
    mr_resp *d;
    (void)req;
    d = resp_defer(resp);
    CHECK(d != NULL);
    if (!d) return 1;
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_ESTATE); /* the old handle */
    CHECK_INT(resp_send_file(d, (const char *)ud), MR_ESTATE);    /* was deferred */
    CHECK_INT(resp_set_text(d, "deferred"), MR_OK);
    CHECK_INT(resp_finish(d), MR_OK);
    return 0;
}

/* The file shrinks after it was opened: never padded, the connection ends. */
static int h_file_shrinks(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    CHECK_INT(resp_send_file(resp, (const char *)ud), MR_OK);
    CHECK_INT(truncate((const char *)ud, 3), 0);
    return 0;
}

static int h_text(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    return resp_set_text(resp, (const char *)ud);
}

/* ---- resp_send_file: tests ---------------------------------------------- */

static char p_hello[512], p_empty[512], p_big[512], p_huge[512], p_shrink[512];

static void test_send_file(void) {
    mr_server *srv = tl_server_new();
    char exp[1024], etag[256], req[512], extra[128];
    tl_resp r;
    tl_conn *c;
    int port;
    printf("send_file\n");
    tl_route(srv, "GET", "/hello", h_file, p_hello);
    tl_route(srv, "GET", "/empty", h_file, p_empty);
    tl_route(srv, "GET", "/typed", h_file_typed, p_hello);
    tl_route(srv, "GET", "/page404", h_file_404, p_hello);
    tl_route(srv, "GET", "/attachment", h_file_attachment, p_hello);
    port = tl_server_start(srv);

    /* 200: exact head, body */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    snprintf(etag, sizeof etag, "%s", tl_header(&r, "ETag") ? tl_header(&r, "ETag") : "");
    CHECK(strong_etag(etag));
    file_head(exp, sizeof exp, "200 OK", TEXT, etag, "", 13);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);

    /* HEAD: the same head, no body */
    get(port, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, exp);
    CHECK_INT(r.body_len, 0);
    tl_resp_free(&r);

    /* 304: If-None-Match with the tag (also in a list, also weakly) */
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n", etag);
    get(port, req, &r);
    snprintf(exp, sizeof exp, "HTTP/1.1 304 Not Modified\r\nETag: %s\r\nLast-Modified: " MTIME_HTTP
             "\r\n\r\n", etag);
    CHECK_HEAD(&r, exp);
    CHECK_INT(r.body_len, 0);
    tl_resp_free(&r);
    snprintf(req, sizeof req,
             "GET /hello HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\", W/%s\r\n\r\n", etag);
    get(port, req, &r);
    CHECK_INT(r.status, 304);
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n", &r);
    CHECK_INT(r.status, 304);
    tl_resp_free(&r);
    /* a HEAD gets the 304 too */
    snprintf(req, sizeof req, "HEAD /hello HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n", etag);
    get(port, req, &r);
    CHECK_HEAD(&r, exp);
    tl_resp_free(&r);
    /* a stale tag: the whole file */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"stale\"\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);
    /* If-Modified-Since: at or after the mtime 304, before it 200 */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " MTIME_HTTP "\r\n\r\n", &r);
    CHECK_INT(r.status, 304);
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " MTIME_HTTP_AFTER "\r\n\r\n", &r);
    CHECK_INT(r.status, 304);
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " MTIME_HTTP_BEFORE "\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);
    /* If-None-Match wins over If-Modified-Since (a stale tag: 200) */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"stale\"\r\n"
              "If-Modified-Since: " MTIME_HTTP_AFTER "\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    tl_resp_free(&r);

    /* 206: a closed range, exact */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n", &r);
    file_head(exp, sizeof exp, "206 Partial Content", TEXT, etag, "Content-Range: bytes 2-5/13\r\n", 4);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, "llo,");
    tl_resp_free(&r);
    /* an open range, a suffix range, a last position past the end */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=7-\r\n\r\n", &r);
    CHECK_INT(r.status, 206);
    CHECK_STR(tl_header(&r, "Content-Range"), "bytes 7-12/13");
    CHECK_BODY(&r, "file!\n");
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=-3\r\n\r\n", &r);
    CHECK_INT(r.status, 206);
    CHECK_STR(tl_header(&r, "Content-Range"), "bytes 10-12/13");
    CHECK_BODY(&r, "e!\n");
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=12-99\r\n\r\n", &r);
    CHECK_INT(r.status, 206);
    CHECK_STR(tl_header(&r, "Content-Range"), "bytes 12-12/13");
    CHECK_BODY(&r, "\n");
    tl_resp_free(&r);
    /* several ranges or an invalid one: the whole file */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=x-y\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);
    /* If-Range: the current tag or date keeps the range, another gives all */
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\nIf-Range: %s\r\n\r\n",
             etag);
    get(port, req, &r);
    CHECK_INT(r.status, 206);
    CHECK_BODY(&r, "hello");
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\nIf-Range: " MTIME_HTTP "\r\n\r\n",
        &r);
    CHECK_INT(r.status, 206);
    CHECK_BODY(&r, "hello");
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\nIf-Range: \"old\"\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);
    /* HEAD with a range: no body either way */
    get(port, "HEAD /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n\r\n", &r);
    CHECK(r.status == 200 || r.status == 206);
    CHECK_INT(r.body_len, 0);
    tl_resp_free(&r);

    /* 416: exact */
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=13-\r\n\r\n", &r);
    CHECK_HEAD(&r, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */13\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\r\n");
    CHECK_BODY(&r, "416 Range Not Satisfiable\n");
    tl_resp_free(&r);
    get(port, "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=-0\r\n\r\n", &r);
    CHECK_INT(r.status, 416);
    tl_resp_free(&r);

    /* an empty file: 200 with no body; any range 416 */
    get(port, "GET /empty HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    {
        char et[256];
        snprintf(et, sizeof et, "%s", tl_header(&r, "ETag") ? tl_header(&r, "ETag") : "");
        CHECK(strong_etag(et));
        CHECK(strcmp(et, etag) != 0); /* another file, another tag */
        file_head(exp, sizeof exp, "200 OK", TEXT, et, "", 0);
        CHECK_HEAD(&r, exp);
        CHECK_INT(r.body_len, 0);
    }
    tl_resp_free(&r);
    get(port, "GET /empty HTTP/1.1\r\nHost: t\r\nRange: bytes=0-\r\n\r\n", &r);
    CHECK_INT(r.status, 416);
    CHECK_STR(tl_header(&r, "Content-Range"), "bytes */0");
    tl_resp_free(&r);

    /* the handler's own type is kept */
    get(port, "GET /typed HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    file_head(exp, sizeof exp, "200 OK", "application/x-custom", etag, "", 13);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);

    /* a file as a 404 page: If-None-Match and Range do not apply */
    snprintf(req, sizeof req, "GET /page404 HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n"
             "Range: bytes=0-1\r\n\r\n", etag);
    get(port, req, &r);
    file_head(exp, sizeof exp, "404 Not Found", TEXT, etag, "", 13);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);

    /* a header set after resp_send_file */
    get(port, "GET /attachment HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    snprintf(extra, sizeof extra, "Content-Disposition: attachment; filename=\"hello.txt\"\r\n");
    file_head(exp, sizeof exp, "200 OK", TEXT, etag, extra, 13);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, HELLO);
    tl_resp_free(&r);

    /* keep-alive: three pipelined requests on one connection, file bodies
     * framed exactly (a range between two whole files) */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        CHECK_INT(tl_send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                                 "GET /hello HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n\r\n"
                                 "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 200);
        CHECK_BODY(&r, HELLO);
        tl_resp_free(&r);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 206);
        CHECK_BODY(&r, "hello");
        tl_resp_free(&r);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 200);
        CHECK_BODY(&r, HELLO);
        tl_resp_free(&r);
        CHECK_INT(tl_wait_eof(c, 200), 0); /* open and quiet */
        tl_close(c);
    }
    server_free(srv);
}

static void test_send_file_errors(void) {
    static struct fail_case missing, folder, fifo, devnull, nodir, locked;
    mr_server *srv = tl_server_new();
    tl_resp r;
    tl_conn *c;
    int port;
    printf("send_file_errors\n");
    in_tmp(missing.path, sizeof missing.path, "no-such-file.txt");
    missing.expect = MR_ENOTFOUND;
    missing.answer = 404;
    in_tmp(nodir.path, sizeof nodir.path, "hello.txt/below"); /* a file used as a folder */
    nodir.expect = MR_ENOTFOUND;
    nodir.answer = 404;
    in_tmp(folder.path, sizeof folder.path, "dir");
    folder.expect = MR_EFORBIDDEN;
    folder.answer = 403;
    in_tmp(fifo.path, sizeof fifo.path, "fifo");
    fifo.expect = MR_EFORBIDDEN;
    fifo.answer = 403;
    snprintf(devnull.path, sizeof devnull.path, "/dev/null");
    devnull.expect = MR_EFORBIDDEN;
    devnull.answer = 403;
    in_tmp(locked.path, sizeof locked.path, "www/locked.txt"); /* mode 0 */
    locked.expect = MR_EFORBIDDEN;
    locked.answer = 403;
    tl_route(srv, "GET", "/locked", h_file_fails, &locked);
    tl_route(srv, "GET", "/missing", h_file_fails, &missing);
    tl_route(srv, "GET", "/nodir", h_file_fails, &nodir);
    tl_route(srv, "GET", "/folder", h_file_fails, &folder);
    tl_route(srv, "GET", "/fifo", h_file_fails, &fifo);
    tl_route(srv, "GET", "/devnull", h_file_fails, &devnull);
    tl_route(srv, "GET", "/misuse", h_file_misuse, p_hello);
    tl_route(srv, "GET", "/after-head", h_file_after_head, p_hello);
    tl_route(srv, "GET", "/after-stream", h_file_after_stream, p_hello);
    tl_route(srv, "GET", "/deferred", h_file_deferred, p_hello);
    port = tl_server_start(srv);

    /* missing: the handler's own 404, exactly, and nothing else on the
     * connection (it stays open and quiet) */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        CHECK_INT(tl_send_str(c, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        char body[128], exp[256];
        snprintf(body, sizeof body, "mine: %s\n", mr_strerror(MR_ENOTFOUND));
        snprintf(exp, sizeof exp, "HTTP/1.1 404 Not Found\r\nX-Before: 1\r\nContent-Type: "
                 "text/plain; charset=utf-8\r\nContent-Length: %zu\r\n\r\n", strlen(body));
        CHECK_HEAD(&r, exp);
        CHECK_BODY(&r, body);
        tl_resp_free(&r);
        CHECK_INT(tl_wait_eof(c, 300), 0);
        /* and the connection still serves */
        CHECK_INT(tl_send_str(c, "GET /folder HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 403);
        CHECK_STR(tl_header(&r, "X-Before"), "1");
        CHECK(tl_header(&r, "ETag") == NULL);
        tl_resp_free(&r);
        CHECK_INT(tl_wait_eof(c, 200), 0);
        tl_close(c);
    }
    get(port, "GET /nodir HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 404);
    tl_resp_free(&r);
    /* a FIFO nobody writes to: refused at once, never blocks */
    get(port, "GET /fifo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 403);
    CHECK(strncmp(r.body ? r.body : "", "mine: ", 6) == 0);
    tl_resp_free(&r);
    if (fifo.ms > 2000) fprintf(stderr, "resp_send_file on a FIFO took %lld ms\n", fifo.ms);
    CHECK(fifo.ms < 2000);
    get(port, "GET /devnull HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 403);
    tl_resp_free(&r);
    if (geteuid() != 0) { /* root reads everything */
        get(port, "GET /locked HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        CHECK_INT(r.status, 403);
        tl_resp_free(&r);
    }

    /* misuse */
    get(port, "GET /misuse HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
    tl_resp_free(&r);
    get(port, "GET /after-head HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, "early");
    tl_resp_free(&r);
    get(port, "GET /after-stream HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body_len, 0);
    tl_resp_free(&r);
    get(port, "GET /deferred HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, "deferred");
    tl_resp_free(&r);
    server_free(srv);
}

static void test_send_file_big(size_t size) {
    mr_server *srv = tl_server_new();
    unsigned char *data = (unsigned char *)malloc(size);
    char cl[32];
    size_t i;
    tl_resp r;
    int port;
    long long t0;
    printf("send_file_big (%zu bytes)\n", size);
    if (!data) abort();
    for (i = 0; i < size; i++) data[i] = big_byte(i);
    write_file("big.bin", data, size);
    tl_route(srv, "GET", "/big", h_file, p_big);
    port = tl_server_start(srv);
    t0 = tl_now_ms();
    get(port, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(tl_header(&r, "Content-Type"), "application/octet-stream");
    snprintf(cl, sizeof cl, "%zu", size);
    CHECK_STR(tl_header(&r, "Content-Length"), cl);
    CHECK_INT(r.body_len, size);
    CHECK_INT(fnv1a(r.body, r.body_len), fnv1a(data, size));
    printf("  %zu bytes in %lld ms\n", size, tl_now_ms() - t0);
    tl_resp_free(&r);
    /* a range from the middle, by checksum */
    get(port, "GET /big HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-200999\r\n\r\n", &r);
    CHECK_INT(r.status, 206);
    CHECK_INT(r.body_len, 200000);
    CHECK_INT(fnv1a(r.body, r.body_len), fnv1a(data + 1000, 200000));
    tl_resp_free(&r);
    free(data);
    server_free(srv);
}

static void test_send_file_shrinks(void) {
    const size_t size = 1 << 20;
    unsigned char *data = (unsigned char *)calloc(1, size);
    mr_server *srv = tl_server_new();
    tl_conn *c;
    tl_resp r;
    int port;
    printf("send_file_shrinks\n");
    if (!data) abort();
    memset(data, 'x', size);
    write_file("shrink.bin", data, size);
    free(data);
    tl_route(srv, "GET", "/shrink", h_file_shrinks, p_shrink);
    tl_route(srv, "GET", "/ok", h_text, (void *)"ok");
    port = tl_server_start(srv);
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        CHECK_INT(tl_send_str(c, "GET /shrink HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        /* the head promises 1 MiB, the body stops short and the connection
         * ends: tl_read_response fails inside the body */
        CHECK_INT(tl_read_response(c, &r, 0), -1);
        CHECK_INT(r.status, 200);
        CHECK_STR(tl_header(&r, "Content-Length"), "1048576");
        CHECK(c->eof);
        CHECK(c->len <= 3); /* what was left of the file; never padded */
        tl_resp_free(&r);
        tl_close(c);
    }
    get(port, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_BODY(&r, "ok");
    tl_resp_free(&r);
    server_free(srv);
}

/* A client that stops reading halfway through a large file: after the
 * write timeout without progress the server closes that connection, and
 * it keeps answering others meanwhile and afterwards. */
static void test_send_file_stalled_client(void) {
    const long long huge = 64LL << 20; /* sparse: no disk, no memory */
    mr_server *srv = tl_server_new();
    char buf[65536];
    long long got = 0, t0;
    int fd, port, eof = 0, small = 16384;
    tl_conn *c;
    tl_resp r;
    printf("send_file_stalled_client\n");
    fd = open(p_huge, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_INT(ftruncate(fd, (off_t)huge), 0);
        close(fd);
    }
    CHECK_INT(server_set_workers(srv, 2), MR_OK);
    CHECK_INT(server_set_timeouts(srv, 2000, 2000, 300), MR_OK); /* write: 300 ms */
    tl_route(srv, "GET", "/huge", h_file, p_huge);
    tl_route(srv, "GET", "/ok", h_text, (void *)"ok");
    port = tl_server_start(srv);
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        CHECK_INT(tl_send_str(c, "GET /huge HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        /* read the head and some of the body, then stop reading */
        while (got < 256 * 1024) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            if (got == 0) CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
            got += n;
        }
        CHECK(got >= 256 * 1024);
        /* the server is still healthy while this client is stuck */
        t0 = tl_now_ms();
        get(port, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        CHECK_BODY(&r, "ok");
        tl_resp_free(&r);
        CHECK(tl_now_ms() - t0 < 2000);
        tl_sleep_ms(tl_quick() ? 3000 : 1500); /* well past the 300 ms write timeout */
        /* drain: what the kernels had buffered, then the end (bounded by
         * the socket's receive timeout) */
        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                eof = 1;
                break;
            }
            if (n < 0) break; /* timeout: the server did not close */
            got += n;
        }
        CHECK(eof);
        CHECK(got < huge); /* cut short, not the whole file */
        printf("  the stalled client got %lld of %lld bytes\n", got, huge);
        tl_close(c);
    }
    /* and afterwards */
    get(port, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_BODY(&r, "ok");
    tl_resp_free(&r);
    CHECK_INT(server_stop(srv, 1000), MR_OK);
    server_free(srv);
    unlink(p_huge);
}

/* ---- server_static ------------------------------------------------------ */

static void make_tree(void) {
    make_dir("www");
    make_dir("www/sub");
    make_dir("www/empty");
    write_str("www/index.html", "<h1>home</h1>\n");
    write_str("www/a.css", "a{}\n");
    write_str("www/app.js", "console.log(1);\n");
    write_str("www/app.js.gz", "GZ-TWIN");      /* stands for the gzip bytes */
    write_str("www/only.txt", "plain text\n");
    write_str("www/only.txt.br", "BR-TWIN");
    write_str("www/sub/index.html", "<p>sub</p>\n");
    write_str("www/empty/x.txt", "x\n");
    write_str("www/empty/<b>&.txt", "y\n");     /* a name to escape in a listing */
    write_str("www/space name.txt", "spaced\n");
    write_str("secret.txt", "secret\n");       /* outside the folder */
    make_link("../secret.txt", "www/out.txt");  /* a link out of the folder */
    make_link("..", "www/up");                  /* a folder link out */
    make_link("a.css", "www/in.css");           /* a link that stays inside */
    write_str("www/leak.txt", "not the secret\n");
    make_link("../secret.txt", "www/leak.txt.gz"); /* a twin that leads out */
    write_str("www/locked.txt", "locked\n");      /* unreadable (unless root) */
    {
        char p[512];
        CHECK_INT(chmod(in_tmp(p, sizeof p, "www/locked.txt"), 0), 0);
    }
    {
        char p[512];
        CHECK_INT(mkfifo(in_tmp(p, sizeof p, "www/pipe"), 0644), 0);
    }
}

static void check_status_body(int port, const char *raw, int status, const char *body) {
    tl_resp r;
    get(port, raw, &r);
    if (r.status != status) fprintf(stderr, "for: %s", raw);
    CHECK_INT(r.status, status);
    if (body) CHECK_BODY(&r, body);
    tl_resp_free(&r);
}

static void test_static(void) {
    mr_server *srv = tl_server_new();
    char www[512], sub[512], exp[1024], etag[256];
    const char *js = mr_mime_for_path("app.js");
    tl_resp r;
    int port;
    printf("static\n");
    in_tmp(www, sizeof www, "www");
    in_tmp(sub, sizeof sub, "www/sub");

    /* argument errors */
    CHECK_INT(server_static(NULL, "/s", www), MR_EINVAL);
    CHECK_INT(server_static(srv, NULL, www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/s", NULL), MR_EINVAL);
    CHECK_INT(server_static(srv, "s", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/a/../b", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/a/./b", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/{x}", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/a%20b", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/a?b", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/a#b", www), MR_EINVAL);
    CHECK_INT(server_static(srv, "/a\nb", www), MR_EINVAL);
    {
        char p[512];
        CHECK_INT(server_static(srv, "/x", in_tmp(p, sizeof p, "no-such-folder")), MR_ENOTFOUND);
        CHECK_INT(server_static(srv, "/x", in_tmp(p, sizeof p, "www/a.css")), MR_ENOTFOUND);
    }
    CHECK_INT(server_static_ex(srv, "/x", www, 1u << 10, NULL, NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/x", www, 0, "a\r\nX-Evil: 1", NULL), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/x", www, 0, NULL, "/etc/passwd"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/x", www, 0, NULL, "../secret.txt"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/x", www, 0, NULL, "a/./b"), MR_EINVAL);
    CHECK_INT(server_static_ex(srv, "/x", www, 0, NULL, "a//b"), MR_EINVAL);

    /* a prefix a route already covers */
    tl_route(srv, "GET", "/covered/{rest...}", h_text, (void *)"covered");
    CHECK_INT(server_static(srv, "/covered", www), MR_EINVAL);

    /* the mounts; routes under a prefix, before or after, keep priority */
    tl_route(srv, "GET", "/s/early", h_text, (void *)"early route");
    CHECK_INT(server_static(srv, "/s", www), MR_OK);
    CHECK_INT(server_static_ex(srv, "/f/v1", www,
                               MR_STATIC_FOLLOW_SYMLINKS | MR_STATIC_LISTING |
                                   MR_STATIC_NO_PRECOMPRESSED,
                               "public, max-age=5", NULL), MR_OK);
    CHECK_INT(server_static_ex(srv, "/spa", sub, 0, NULL, "index.html"), MR_OK);
    tl_route(srv, "GET", "/s/hello", h_text, (void *)"from a route");
    port = tl_server_start(srv);
    CHECK_INT(server_static(srv, "/late", www), MR_ESTATE); /* running */

    /* a folder's index.html, exact */
    get(port, "GET /s/ HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    snprintf(etag, sizeof etag, "%s", tl_header(&r, "ETag") ? tl_header(&r, "ETag") : "");
    CHECK(strong_etag(etag));
    file_head(exp, sizeof exp, "200 OK", "text/html; charset=utf-8", etag, "", 14);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, "<h1>home</h1>\n");
    tl_resp_free(&r);
    check_status_body(port, "GET /s/index.html HTTP/1.1\r\nHost: t\r\n\r\n", 200, "<h1>home</h1>\n");
    check_status_body(port, "GET /s/sub/ HTTP/1.1\r\nHost: t\r\n\r\n", 200, "<p>sub</p>\n");
    /* a folder without its slash: 301 to the slash form */
    get(port, "GET /s HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, "HTTP/1.1 301 Moved Permanently\r\nLocation: /s/\r\nContent-Length: 0\r\n\r\n");
    tl_resp_free(&r);
    get(port, "GET /s/sub HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, "HTTP/1.1 301 Moved Permanently\r\nLocation: /s/sub/\r\nContent-Length: 0\r\n\r\n");
    tl_resp_free(&r);
    /* a file, HEAD, a range, 304 */
    get(port, "GET /s/a.css HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    snprintf(etag, sizeof etag, "%s", tl_header(&r, "ETag") ? tl_header(&r, "ETag") : "");
    file_head(exp, sizeof exp, "200 OK", "text/css; charset=utf-8", etag, "", 4);
    CHECK_HEAD(&r, exp);
    CHECK_BODY(&r, "a{}\n");
    tl_resp_free(&r);
    get(port, "HEAD /s/a.css HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, exp);
    CHECK_INT(r.body_len, 0);
    tl_resp_free(&r);
    check_status_body(port, "GET /s/a.css HTTP/1.1\r\nHost: t\r\nRange: bytes=1-2\r\n\r\n", 206, "{}");
    {
        char req[512];
        snprintf(req, sizeof req, "GET /s/a.css HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n", etag);
        check_status_body(port, req, 304, "");
    }
    check_status_body(port, "GET /s/space%20name.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200, "spaced\n");
    /* not there, a folder without index.html, not GET */
    get(port, "GET /s/nope.css HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: 14\r\n\r\n");
    tl_resp_free(&r);
    check_status_body(port, "GET /s/empty/ HTTP/1.1\r\nHost: t\r\n\r\n", 403, NULL);
    check_status_body(port, "GET /s/a.css/x HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL);
    {
        get(port, "POST /s/a.css HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
        CHECK_INT(r.status, 405);
        tl_resp_free(&r);
    }
    /* a route under the prefix keeps priority */
    check_status_body(port, "GET /s/hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, "from a route");
    check_status_body(port, "GET /s/early HTTP/1.1\r\nHost: t\r\n\r\n", 200, "early route");
    check_status_body(port, "GET /covered/x HTTP/1.1\r\nHost: t\r\n\r\n", 200, "covered");
    /* an unreadable file: 403 (root reads everything: then 200) */
    check_status_body(port, "GET /s/locked.txt HTTP/1.1\r\nHost: t\r\n\r\n",
                      geteuid() == 0 ? 200 : 403, NULL);

    /* dot segments, decoded or not, and encoded '/', '\' or NUL: 400 */
    get(port, "GET /s/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_HEAD(&r, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: 16\r\n\r\n");
    CHECK_BODY(&r, "400 Bad Request\n");
    tl_resp_free(&r);
    check_status_body(port, "GET /s/sub/../../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/%2e%2e/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/%2E%2E/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/.%2e/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/./a.css HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/%2e/a.css HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/sub/..%2f..%2fsecret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/..%2Fsecret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/..%5csecret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    check_status_body(port, "GET /s/a.css%00.png HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    /* symbolic links: out of the folder 404, inside it served */
    check_status_body(port, "GET /s/out.txt HTTP/1.1\r\nHost: t\r\n\r\n", 404, "404 Not Found\n");
    check_status_body(port, "GET /s/up/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL);
    check_status_body(port, "GET /s/in.css HTTP/1.1\r\nHost: t\r\n\r\n", 200, "a{}\n");
    /* a FIFO inside the folder: only regular files are sent (and nothing
     * blocks on it) */
    get(port, "GET /s/pipe HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK(r.status == 403 || r.status == 404);
    tl_resp_free(&r);

    /* pre-compressed twins */
    get(port, "GET /s/app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: deflate, gzip\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(tl_header(&r, "Content-Type"), js); /* the original's type */
    CHECK_STR(tl_header(&r, "Content-Encoding"), "gzip");
    CHECK_STR(tl_header(&r, "Vary"), "Accept-Encoding");
    CHECK_STR(tl_header(&r, "Content-Length"), "7");
    CHECK(strong_etag(tl_header(&r, "ETag")));
    CHECK_BODY(&r, "GZ-TWIN");
    tl_resp_free(&r);
    get(port, "GET /s/app.js HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(tl_header(&r, "Content-Type"), js);
    CHECK(tl_header(&r, "Content-Encoding") == NULL);
    CHECK_STR(tl_header(&r, "Vary"), "Accept-Encoding"); /* the answer depends on it */
    CHECK_BODY(&r, "console.log(1);\n");
    tl_resp_free(&r);
    get(port, "GET /s/app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0, br\r\n\r\n", &r);
    CHECK(tl_header(&r, "Content-Encoding") == NULL);
    CHECK_BODY(&r, "console.log(1);\n");
    tl_resp_free(&r);
    get(port, "GET /s/only.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n", &r);
    CHECK_STR(tl_header(&r, "Content-Type"), TEXT);
    CHECK_STR(tl_header(&r, "Content-Encoding"), "br");
    CHECK_STR(tl_header(&r, "Vary"), "Accept-Encoding");
    CHECK_BODY(&r, "BR-TWIN");
    tl_resp_free(&r);
    get(port, "GET /s/only.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n", &r);
    CHECK(tl_header(&r, "Content-Encoding") == NULL); /* there is no .gz twin */
    CHECK_BODY(&r, "plain text\n");
    tl_resp_free(&r);
    /* a twin that is a link out of the folder is never sent */
    get(port, "GET /s/leak.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK(tl_header(&r, "Content-Encoding") == NULL);
    CHECK_BODY(&r, "not the secret\n");
    tl_resp_free(&r);
    get(port, "GET /s/a.css HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br\r\n\r\n", &r);
    CHECK(tl_header(&r, "Content-Encoding") == NULL); /* no twin at all */
    CHECK(tl_header(&r, "Vary") == NULL);
    CHECK_BODY(&r, "a{}\n");
    tl_resp_free(&r);

    /* server_static_ex: links followed, listing, no twins, Cache-Control */
    get(port, "GET /f/v1/out.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(tl_header(&r, "Cache-Control"), "public, max-age=5");
    CHECK_BODY(&r, "secret\n");
    tl_resp_free(&r);
    check_status_body(port, "GET /f/v1/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);
    get(port, "GET /f/v1/app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK(tl_header(&r, "Content-Encoding") == NULL);
    CHECK(tl_header(&r, "Vary") == NULL);
    CHECK_STR(tl_header(&r, "Cache-Control"), "public, max-age=5");
    CHECK_BODY(&r, "console.log(1);\n");
    tl_resp_free(&r);
    get(port, "GET /f/v1/empty/ HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(tl_header(&r, "Content-Type"), "text/html; charset=utf-8");
    CHECK(r.body && strstr(r.body, "x.txt") != NULL);
    CHECK(r.body && strstr(r.body, "&lt;b&gt;&amp;.txt") != NULL); /* HTML-escaped */
    CHECK(r.body && strstr(r.body, "<b>") == NULL);
    tl_resp_free(&r);
    check_status_body(port, "GET /f/v1/ HTTP/1.1\r\nHost: t\r\n\r\n", 200, "<h1>home</h1>\n");
    get(port, "GET /f/v1 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT(r.status, 301);
    CHECK_STR(tl_header(&r, "Location"), "/f/v1/");
    tl_resp_free(&r);

    /* SPA fallback: paths that do not exist get index.html */
    check_status_body(port, "GET /spa/some/client/route HTTP/1.1\r\nHost: t\r\n\r\n", 200,
                      "<p>sub</p>\n");
    check_status_body(port, "GET /spa/ HTTP/1.1\r\nHost: t\r\n\r\n", 200, "<p>sub</p>\n");
    check_status_body(port, "GET /spa/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL);

    CHECK_INT(server_stop(srv, 1000), MR_OK);
    server_free(srv);
}

/* ---- mr_mime_for_path --------------------------------------------------- */

static void test_mime(void) {
    const char *a;
    printf("mime\n");
    CHECK_STR(mr_mime_for_path("index.html"), "text/html; charset=utf-8");
    CHECK_STR(mr_mime_for_path("/a/b/INDEX.HTM"), "text/html; charset=utf-8");
    CHECK_STR(mr_mime_for_path("style.css"), "text/css; charset=utf-8");
    CHECK_STR(mr_mime_for_path("notes.txt"), "text/plain; charset=utf-8");
    CHECK_STR(mr_mime_for_path("data.json"), "application/json; charset=utf-8");
    CHECK_STR(mr_mime_for_path("logo.png"), "image/png");
    CHECK_STR(mr_mime_for_path("LOGO.PNG"), "image/png"); /* case-insensitive */
    CHECK_STR(mr_mime_for_path("photo.jpg"), "image/jpeg");
    CHECK_STR(mr_mime_for_path("photo.JPEG"), "image/jpeg");
    CHECK_STR(mr_mime_for_path("anim.gif"), "image/gif");
    CHECK_STR(mr_mime_for_path("doc.pdf"), "application/pdf");
    CHECK_STR(mr_mime_for_path("font.woff2"), "font/woff2");
    a = mr_mime_for_path("app.js");
    CHECK(strncmp(a, "text/javascript", 15) == 0 || strncmp(a, "application/javascript", 22) == 0);
    CHECK(strstr(a, "; charset=utf-8") != NULL); /* a text type */
    /* unknown, missing, NULL, not UTF-8 */
    CHECK_STR(mr_mime_for_path("blob.unknownext"), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("Makefile"), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("dir.d/file"), "application/octet-stream");
    CHECK_STR(mr_mime_for_path(""), "application/octet-stream");
    CHECK_STR(mr_mime_for_path(NULL), "application/octet-stream");
    CHECK_STR(mr_mime_for_path("\xff\xfe.png"), "application/octet-stream");
    /* static strings: still valid after other calls */
    a = mr_mime_for_path("x.png");
    mr_mime_for_path("y.css");
    mr_mime_for_path("z.html");
    CHECK_STR(a, "image/png");
}

/* ---- main --------------------------------------------------------------- */

int main(void) {
    char p[512];
    tl_init("test_files", 110);
    snprintf(tmp, sizeof tmp, "/tmp/microroute-files.XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    write_str("hello.txt", HELLO);
    write_str("empty.txt", "");
    make_dir("dir");
    CHECK_INT(mkfifo(in_tmp(p, sizeof p, "fifo"), 0644), 0);
    in_tmp(p_hello, sizeof p_hello, "hello.txt");
    in_tmp(p_empty, sizeof p_empty, "empty.txt");
    in_tmp(p_big, sizeof p_big, "big.bin");
    in_tmp(p_huge, sizeof p_huge, "huge.bin");
    in_tmp(p_shrink, sizeof p_shrink, "shrink.bin");
    make_tree();

    test_mime();
    test_send_file();
    test_send_file_errors();
    test_send_file_big(tl_quick() ? (size_t)1 << 20 : (size_t)5 << 20);
    test_send_file_shrinks();
    test_send_file_stalled_client();
    test_static();

    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return tl_finish();
}

/*
 * Every resp_* function, checked by the exact bytes that reach the client.
 *
 * Each route exercises one part of the response API; handlers CHECK the
 * return codes they get (CHECK is thread-safe), and main() CHECKs the status
 * line, header fields and body on the wire.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testlib.h"

/* ---- status ----------------------------------------------------------- */

static int h_default(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_status(resp), 200);
    return 0; /* sets nothing: 200, empty body */
}

static int h_status(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_status(resp), 200);
    CHECK_INT(resp_set_status(resp, 418), MR_OK);
    CHECK_INT(resp_status(resp), 418);
    CHECK_INT(resp_set_status(resp, 99), MR_EINVAL);
    CHECK_INT(resp_set_status(resp, 1000), MR_EINVAL);
    CHECK_INT(resp_set_status(resp, -200), MR_EINVAL);
    CHECK_INT(resp_status(resp), 418); /* failed calls change nothing */
    return resp_set_text(resp, "teapot");
}

static int h_status_custom(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_status(resp, 599), MR_OK);
    return resp_set_text(resp, "x");
}

/* ---- headers ---------------------------------------------------------- */

static int h_headers(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK(resp_header(resp, "X-A") == NULL);
    CHECK_INT(resp_set_header(resp, "X-A", "1"), MR_OK);
    CHECK_INT(resp_set_header(resp, "x-a", "2"), MR_OK); /* replaces (name and value), case-insensitive */
    CHECK_STR(resp_header(resp, "X-A"), "2");
    CHECK_INT(resp_add_header(resp, "Vary", "Accept"), MR_OK);
    CHECK_INT(resp_add_header(resp, "Vary", "Cookie"), MR_OK);
    CHECK_STR(resp_header(resp, "VARY"), "Accept"); /* first value */
    CHECK_INT(resp_set_header(resp, "X-Gone", "soon"), MR_OK);
    CHECK_INT(resp_remove_header(resp, "x-gone"), MR_OK);
    CHECK(resp_header(resp, "X-Gone") == NULL);
    CHECK_INT(resp_remove_header(resp, "X-Never-Set"), MR_OK);
    CHECK_INT(resp_set_header(resp, "X-Tab", "a\tb"), MR_OK); /* tab is allowed inside */
    /* framing belongs to the library */
    CHECK_INT(resp_set_header(resp, "Transfer-Encoding", "chunked"), MR_EINVAL);
    CHECK_INT(resp_add_header(resp, "transfer-encoding", "gzip"), MR_EINVAL);
    CHECK_INT(resp_set_header(resp, "Connection", "upgrade"), MR_EINVAL);
    CHECK_INT(resp_set_header(resp, "Content-Length", "abc"), MR_EINVAL);
    CHECK_INT(resp_set_header(resp, "Content-Length", "-1"), MR_EINVAL);
    /* a Content-Length set by the handler does not override a buffered body */
    CHECK_INT(resp_set_header(resp, "Content-Length", "99"), MR_OK);
    CHECK_INT(resp_set_text(resp, "hdrs"), MR_OK);
    CHECK_STR(resp_header(resp, "content-type"), "text/plain; charset=utf-8");
    return 0;
}

static int h_conn_close(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_header(resp, "Connection", "close"), MR_OK);
    return resp_set_text(resp, "bye");
}

/* ---- mime type -------------------------------------------------------- */

static int h_mime(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "a,b"), MR_OK);
    CHECK_INT(resp_set_mime_type(resp, "text/csv"), MR_OK); /* after the setter: overrides */
    CHECK_STR(resp_header(resp, "Content-Type"), "text/csv");
    CHECK_INT(resp_set_mime_type(resp, ""), MR_EINVAL);
    CHECK_INT(resp_set_mime_type(resp, "text/a\r\nX-Evil: 1"), MR_EINVAL);
    CHECK_INT(resp_set_mime_type(resp, NULL), MR_EINVAL);
    CHECK_STR(resp_header(resp, "Content-Type"), "text/csv");
    return 0;
}

static int h_mime_before(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_mime_type(resp, "text/csv"), MR_OK);
    CHECK_INT(resp_set_text(resp, "a,b"), MR_OK); /* the setter sets its own type */
    return 0;
}

static int h_mime_send(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_mime_type(resp, "text/plain"), MR_OK);
    return resp_send_str(resp, "plain stream");
}

/* ---- cookies ---------------------------------------------------------- */

static int h_cookies(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_cookie(resp, "a", "old"), MR_OK);
    CHECK_INT(resp_set_cookie(resp, "a", "1"), MR_OK); /* same name: replaced */
    CHECK_INT(resp_set_cookie_ex(resp, "b", "2", 3600, "/p", "example.com",
                                 MR_COOKIE_SECURE | MR_COOKIE_HTTPONLY | MR_COOKIE_SAMESITE_STRICT),
              MR_OK);
    CHECK_INT(resp_set_cookie_ex(resp, "s", "session", -1, NULL, NULL, 0), MR_OK);
    CHECK_INT(resp_set_cookie_ex(resp, "n", "x", 0, NULL, NULL,
                                 MR_COOKIE_SECURE | MR_COOKIE_SAMESITE_NONE), MR_OK);
    CHECK_INT(resp_delete_cookie(resp, "gone"), MR_OK);
    /* invalid ones */
    CHECK_INT(resp_set_cookie(resp, "a b", "1"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "", "1"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", "x y"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", "x;y"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", "x,y"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", "x\"y"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", "x\\y"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", "x\r\nSet-Cookie: evil=1"), MR_EINVAL);
    CHECK_INT(resp_set_cookie(resp, "c", NULL), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "c", "1", -1, NULL, NULL, 32), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "c", "1", -1, NULL, NULL,
                                 MR_COOKIE_SAMESITE_LAX | MR_COOKIE_SAMESITE_STRICT), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "c", "1", -1, NULL, NULL, MR_COOKIE_SAMESITE_NONE), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "c", "1", -1, "/a;b", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "c", "1", -1, NULL, "ex ample.com", 0), MR_EINVAL);
    CHECK_INT(resp_set_cookie_ex(resp, "c", "1", -1, NULL, "a.com\r\nX: y", 0), MR_EINVAL);
    CHECK_INT(resp_delete_cookie(resp, "bad name"), MR_EINVAL);
    CHECK_INT(resp_delete_cookie(resp, NULL), MR_EINVAL);
    CHECK_STR(resp_header(resp, "set-cookie"), "a=1; Path=/; HttpOnly; SameSite=Lax");
    return resp_set_text(resp, "cookies");
}

/* ---- buffered bodies -------------------------------------------------- */

static int h_text(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "\xff\xfe"), MR_EINVAL); /* not UTF-8 */
    CHECK_INT(resp_set_text(resp, NULL), MR_EINVAL);
    return resp_set_text(resp, "hello!");
}

static int h_html(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "replaced"), MR_OK);
    CHECK_INT(resp_set_html(resp, "\xc3\x28"), MR_EINVAL); /* bad UTF-8, nothing changed */
    CHECK_INT(resp_set_html(resp, NULL), MR_EINVAL);
    return resp_set_html(resp, "<p>caf\xc3\xa9</p>");
}

static int h_content(mr_req *req, mr_resp *resp, void *ud) {
    static const unsigned char bin[] = {0, 1, 2, 0xff, 0, 'h', 'i', 0};
    (void)req; (void)ud;
    CHECK_INT(resp_set_content(resp, NULL, 3), MR_EINVAL);
    return resp_set_content(resp, bin, sizeof bin);
}

static int h_content_empty(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "replaced"), MR_OK);
    return resp_set_content(resp, NULL, 0);
}

static int h_json(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    return resp_set_json(resp, "{\"hello\": \"world!\", \"n\": [1, 2.5, null, true]}");
}

static int h_json_invalid(mr_req *req, mr_resp *resp, void *ud) {
    static const char *bad[] = {"", "{", "{\"a\":}", "[1,]", "{'a': 1}", "nul", "{\"a\":1} x",
                                "\"unterminated", NULL};
    int i;
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "kept"), MR_OK);
    for (i = 0; bad[i]; i++) {
        int rc = resp_set_json(resp, bad[i]);
        if (rc != MR_EINVAL) fprintf(stderr, "resp_set_json(\"%s\") = %d\n", bad[i], rc);
        CHECK_INT(rc, MR_EINVAL);
        CHECK(mr_last_error()[0] != 0); /* the parse error is in the detail */
    }
    CHECK_INT(resp_set_json(resp, NULL), MR_EINVAL);
    CHECK_STR(resp_header(resp, "Content-Type"), "text/plain; charset=utf-8");
    return 0; /* the text body stays */
}

/* ---- sending now ------------------------------------------------------ */

static int h_send_header(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_send_header(resp, "Bad\r\nX-Evil: 1", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, "Bad\x01", NULL, 0), MR_EINVAL);
    CHECK_INT(resp_send_header(resp, NULL, NULL, 5), MR_EINVAL);
    CHECK_INT(resp_set_status(resp, 202), MR_OK);
    CHECK_INT(resp_set_header(resp, "X-Before", "yes"), MR_OK);
    CHECK_INT(resp_send_header(resp, "Custom Reason", "abc", 3), MR_OK);
    /* the head is out: no more changes to it */
    CHECK_INT(resp_send_header(resp, NULL, NULL, 0), MR_ESTATE);
    CHECK_INT(resp_set_status(resp, 500), MR_ESTATE);
    CHECK_INT(resp_status(resp), 202);
    CHECK_INT(resp_set_header(resp, "X-After", "no"), MR_ESTATE);
    CHECK_INT(resp_add_header(resp, "X-After", "no"), MR_ESTATE);
    CHECK_INT(resp_remove_header(resp, "X-Before"), MR_ESTATE);
    CHECK_INT(resp_set_mime_type(resp, "text/plain"), MR_ESTATE);
    CHECK_INT(resp_set_cookie(resp, "a", "b"), MR_ESTATE);
    CHECK_INT(resp_set_cookie_ex(resp, "a", "b", -1, NULL, NULL, 0), MR_ESTATE);
    CHECK_INT(resp_delete_cookie(resp, "a"), MR_ESTATE);
    CHECK_INT(resp_set_text(resp, "no"), MR_ESTATE);
    CHECK_INT(resp_set_html(resp, "no"), MR_ESTATE);
    CHECK_INT(resp_set_content(resp, "no", 2), MR_ESTATE);
    CHECK_INT(resp_set_json(resp, "{}"), MR_ESTATE);
    CHECK_INT(resp_redirect(resp, "/", 302), MR_ESTATE);
    CHECK_INT(resp_send(resp, "def", 3), MR_OK); /* the body may go on */
    return 0;
}

static int h_send_header_std(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_status(resp, 404), MR_OK);
    return resp_send_header(resp, NULL, NULL, 0); /* standard reason, empty body */
}

static int h_send_cl(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_header(resp, "Content-Length", "10"), MR_OK);
    CHECK_INT(resp_set_mime_type(resp, "text/plain"), MR_OK);
    CHECK_INT(resp_send_header(resp, NULL, "hello", 5), MR_OK);
    CHECK_INT(resp_send(resp, "world!", 6), MR_EINVAL); /* would pass Content-Length */
    CHECK_INT(resp_send(resp, "world", 5), MR_OK);
    CHECK_INT(resp_send(resp, "!", 1), MR_EINVAL);
    return 0;
}

/* A resp_send_header refused with MR_EINVAL (content passes the
 * Content-Length) changes nothing: the head is not sent yet. */
static int h_send_cl_over(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_header(resp, "Content-Length", "10"), MR_OK);
    CHECK_INT(resp_send_header(resp, NULL, "hello world", 11), MR_EINVAL); /* passes it */
    CHECK_INT(resp_set_status(resp, 201), MR_OK); /* the head is not sent yet */
    CHECK_INT(resp_send_header(resp, NULL, "helloworld", 10), MR_OK);
    return 0;
}

static int h_stream(mr_req *req, mr_resp *resp, void *ud) {
    int i;
    (void)req; (void)ud;
    CHECK_INT(resp_send(resp, NULL, 1), MR_EINVAL);
    CHECK_INT(resp_send_str(resp, NULL), MR_EINVAL);
    for (i = 0; i < 3; i++) {
        char line[32];
        snprintf(line, sizeof line, "count: %d\n", i);
        CHECK_INT(resp_send(resp, line, strlen(line)), MR_OK);
    }
    CHECK_INT(resp_send(resp, "", 0), MR_OK);   /* empty piece: no empty chunk */
    CHECK_INT(resp_send(resp, NULL, 0), MR_OK);
    CHECK_INT(resp_send_str(resp, "Completed!"), MR_OK);
    return 0;
}

/* /big: many small pieces, then large ones that go out at once */
static unsigned char big_byte(size_t i) { return (unsigned char)((i * 7 + i / 251) & 0xff); }
#define BIG_SMALL 300
#define BIG_PIECE 1000
#define BIG_LARGE (64 * 1024)
#define BIG_TOTAL (BIG_SMALL * BIG_PIECE + 2 * BIG_LARGE)

static int h_big(mr_req *req, mr_resp *resp, void *ud) {
    unsigned char *buf = (unsigned char *)malloc(BIG_TOTAL);
    size_t i, off = 0;
    int rc = MR_OK;
    (void)req; (void)ud;
    if (!buf) return -1;
    for (i = 0; i < BIG_TOTAL; i++) buf[i] = big_byte(i);
    CHECK_INT(resp_set_mime_type(resp, "application/octet-stream"), MR_OK);
    for (i = 0; i < BIG_SMALL && rc == MR_OK; i++, off += BIG_PIECE) rc = resp_send(resp, buf + off, BIG_PIECE);
    CHECK_INT(rc, MR_OK);
    CHECK_INT(resp_send(resp, buf + off, BIG_LARGE), MR_OK);
    off += BIG_LARGE;
    CHECK_INT(resp_send(resp, buf + off, BIG_LARGE), MR_OK);
    free(buf);
    return 0;
}

/* /flush: the first piece must reach the client before the handler goes
 * on; the client signals back through this flag. */
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flush_cond = PTHREAD_COND_INITIALIZER;
static int flush_seen;

static int h_flush(mr_req *req, mr_resp *resp, void *ud) {
    struct timespec until;
    int seen;
    (void)req; (void)ud;
    CHECK_INT(resp_flush(resp), MR_OK); /* nothing sent yet: does nothing */
    CHECK_INT(resp_send_str(resp, "part1"), MR_OK);
    CHECK_INT(resp_flush(resp), MR_OK);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&flush_lock);
    while (!flush_seen)
        if (pthread_cond_timedwait(&flush_cond, &flush_lock, &until) != 0) break;
    seen = flush_seen;
    pthread_mutex_unlock(&flush_lock);
    CHECK(seen); /* the client got part1 while we were still in the handler */
    return resp_send_str(resp, "part2");
}

/* ---- redirects -------------------------------------------------------- */

static int h_redirect(mr_req *req, mr_resp *resp, void *ud) {
    const char *code = req_query_param(req, "code");
    (void)ud;
    CHECK_INT(resp_set_text(resp, "dropped"), MR_OK); /* the body is cleared */
    CHECK_INT(resp_redirect(resp, "/target?x=%2F", code ? atoi(code) : 0), MR_OK);
    CHECK_INT(resp_set_text(resp, "no"), MR_ESTATE);
    CHECK_INT(resp_set_html(resp, "no"), MR_ESTATE);
    CHECK_INT(resp_set_content(resp, "no", 2), MR_ESTATE);
    CHECK_INT(resp_set_json(resp, "{}"), MR_ESTATE);
    CHECK_INT(resp_send_str(resp, "no"), MR_ESTATE);
    CHECK_INT(resp_send_header(resp, NULL, NULL, 0), MR_ESTATE);
    CHECK_INT(resp_set_header(resp, "X-Still", "ok"), MR_OK); /* headers may still be set */
    CHECK_INT(resp_set_cookie(resp, "r", "1"), MR_OK);
    return 0;
}

static int h_redirect_checks(mr_req *req, mr_resp *resp, void *ud) {
    static const int bad_codes[] = {200, 300, 304, 305, 306, 309, 404, -1, 1000};
    static const char *bad_locs[] = {"//evil.example", "/\\evil.example", "\\\\evil.example",
                                     "javascript:alert(1)", "data:text/html,x", "/a b",
                                     "/a\r\nX-Evil: 1", "/caf\xc3\xa9", "", NULL};
    static const char *good_locs[] = {"/", "relative/path", "?q=1", "http://www.example.com",
                                      "https://example.com/a?b=c#d", "/login?next=%2F", NULL};
    size_t i;
    (void)req; (void)ud;
    for (i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        int rc = resp_redirect(resp, "/x", bad_codes[i]);
        if (rc != MR_EINVAL) fprintf(stderr, "resp_redirect(code %d) = %d\n", bad_codes[i], rc);
        CHECK_INT(rc, MR_EINVAL);
    }
    for (i = 0; bad_locs[i]; i++) {
        int rc = resp_redirect(resp, bad_locs[i], 302);
        if (rc != MR_EINVAL) fprintf(stderr, "resp_redirect(\"%s\") = %d\n", bad_locs[i], rc);
        CHECK_INT(rc, MR_EINVAL);
    }
    CHECK_INT(resp_redirect(resp, NULL, 302), MR_EINVAL);
    CHECK(resp_header(resp, "Location") == NULL); /* refused calls set nothing */
    for (i = 0; good_locs[i]; i++) {
        int rc = resp_redirect(resp, good_locs[i], 307);
        if (rc != MR_OK) fprintf(stderr, "resp_redirect(\"%s\") = %d %s\n", good_locs[i], rc, mr_last_error());
        CHECK_INT(rc, MR_OK);
    }
    return 0; /* the last one wins */
}

/* ---- abort / close / client fd ---------------------------------------- */

static int h_abort(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_abort(resp, 99, NULL, NULL), MR_EINVAL);
    CHECK_INT(resp_abort(resp, 403, NULL, "Bad\r\nReason"), MR_EINVAL);
    CHECK_INT(resp_abort(resp, 403, "\xff", NULL), MR_EINVAL);
    CHECK_INT(resp_set_header(resp, "WWW-Authenticate", "Basic realm=\"x\""), MR_OK);
    CHECK_INT(resp_abort(resp, 403, "<h1>Forbidden</h1>", "Go Away"), MR_OK);
    CHECK_INT(resp_abort(resp, 500, NULL, NULL), MR_ESTATE);
    CHECK_INT(resp_send_str(resp, "more"), MR_ESTATE);
    CHECK_INT(resp_send_header(resp, NULL, NULL, 0), MR_ESTATE);
    CHECK_INT(resp_set_text(resp, "no"), MR_ESTATE);
    return 0;
}

/* A body set earlier is dropped; its Content-Type counts as "set" (the
 * header doc: content is "sent as text/html unless a Content-Type was set"). */
static int h_abort_after_text(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "dropped"), MR_OK);
    return resp_abort(resp, 400, "plain words", NULL);
}

static int h_abort_default(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    return resp_abort(resp, 0, NULL, NULL);
}

static int h_abort_mime(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_mime_type(resp, "application/json"), MR_OK);
    return resp_abort(resp, 429, "{\"error\":\"slow down\"}", NULL);
}

static int h_abort_after_send(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_send_str(resp, "partial"), MR_OK);
    CHECK_INT(resp_flush(resp), MR_OK);
    return resp_abort(resp, 500, NULL, NULL);
}

static int h_close(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "never sent"), MR_OK);
    CHECK(resp_client_fd(resp) >= 0);
    CHECK_INT(resp_close(resp), MR_OK);
    CHECK_INT(resp_close(resp), MR_ECLOSED);
    CHECK_INT(resp_client_fd(resp), MR_ECLOSED);
    CHECK_INT(resp_send_str(resp, "late"), MR_ECLOSED);
    CHECK_INT(resp_send_header(resp, NULL, NULL, 0), MR_ECLOSED);
    return 0;
}

static int h_close_after_send(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_send_str(resp, "sent"), MR_OK);
    CHECK_INT(resp_flush(resp), MR_OK);
    return resp_close(resp);
}

static int h_fd(mr_req *req, mr_resp *resp, void *ud) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    char buf[64];
    int fd = resp_client_fd(resp);
    (void)ud;
    CHECK(fd >= 0);
    /* the descriptor is the client's socket: its peer is req_remote_addr */
    CHECK_INT(getpeername(fd, (struct sockaddr *)&peer, &plen), 0);
    snprintf(buf, sizeof buf, "127.0.0.1:%u", (unsigned)ntohs(peer.sin_port));
    CHECK_STR(req_remote_addr(req), buf);
    return resp_set_text(resp, buf);
}

/* ---- body-less responses ---------------------------------------------- */

static int h_nobody(mr_req *req, mr_resp *resp, void *ud) {
    const char *code = req_query_param(req, "code");
    (void)ud;
    CHECK_INT(resp_set_status(resp, atoi(code ? code : "204")), MR_OK);
    return resp_set_text(resp, "must not be sent");
}

static int h_nobody_send(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_status(resp, 204), MR_OK);
    CHECK_INT(resp_send_str(resp, "must not be sent"), MR_OK);
    return 0;
}

/* ---- handler results -------------------------------------------------- */

static int h_fail(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_text(resp, "half done"), MR_OK);
    return -1; /* nothing sent yet: 500 */
}

static int h_fail_after_send(mr_req *req, mr_resp *resp, void *ud) {
    (void)req; (void)ud;
    CHECK_INT(resp_set_header(resp, "Content-Length", "4"), MR_OK);
    CHECK_INT(resp_send_str(resp, "done"), MR_OK);
    return 7; /* already sent: the response stands */
}

/* ---- client side ------------------------------------------------------ */

static void get(int port, const char *path, tl_resp *r) {
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    if (tl_request(port, req, r) != 0) {
        fprintf(stderr, "request for %s failed\n", path);
        CHECK(r->ok);
    }
}

static void test_status_and_headers(int port) {
    tl_resp r;
    get(port, "/default", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK_INT(r.body_len, 0);
    tl_resp_free(&r);

    get(port, "/status", &r);
    CHECK_HEAD(&r, "HTTP/1.1 418 I'm a teapot\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: 6\r\n\r\n");
    CHECK_BODY(&r, "teapot");
    tl_resp_free(&r);

    get(port, "/status-custom", &r);
    CHECK_INT(r.status, 599);
    CHECK_STR(r.version, "HTTP/1.1");
    tl_resp_free(&r);

    get(port, "/headers", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nx-a: 2\r\nVary: Accept\r\nVary: Cookie\r\nX-Tab: a\tb\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\n");
    CHECK_BODY(&r, "hdrs");
    tl_resp_free(&r);

    {
        /* Connection: close from the handler: the server closes after the response */
        tl_conn *c = tl_connect(port);
        CHECK(c != NULL);
        if (c) {
            tl_send_str(c, "GET /conn-close HTTP/1.1\r\nHost: t\r\n\r\n");
            CHECK_INT(tl_read_response(c, &r, 0), 0);
            CHECK_STR(tl_header(&r, "Connection"), "close");
            CHECK_INT(tl_header_count(&r, "Connection"), 1);
            CHECK_BODY(&r, "bye");
            CHECK_INT(tl_wait_eof(c, 2000), 1);
            tl_resp_free(&r);
            tl_close(c);
        }
    }
}

static void test_mime_and_cookies(int port) {
    tl_resp r;
    get(port, "/mime", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 3\r\n\r\n");
    CHECK_BODY(&r, "a,b");
    tl_resp_free(&r);

    get(port, "/mime-before", &r);
    CHECK_STR(tl_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    tl_resp_free(&r);

    get(port, "/mime-send", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK_BODY(&r, "plain stream");
    tl_resp_free(&r);

    get(port, "/cookies", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\n"
                   "Set-Cookie: a=1; Path=/; HttpOnly; SameSite=Lax\r\n"
                   "Set-Cookie: b=2; Max-Age=3600; Path=/p; Domain=example.com; Secure; HttpOnly; SameSite=Strict\r\n"
                   "Set-Cookie: s=session; Path=/\r\n"
                   "Set-Cookie: n=x; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; SameSite=None\r\n"
                   "Set-Cookie: gone=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\n\r\n");
    tl_resp_free(&r);
}

static void test_bodies(int port) {
    static const unsigned char bin[] = {0, 1, 2, 0xff, 0, 'h', 'i', 0};
    static const char json[] = "{\"hello\": \"world!\", \"n\": [1, 2.5, null, true]}";
    char head[256];
    tl_resp r;

    get(port, "/text", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\n");
    CHECK_BODY(&r, "hello!");
    tl_resp_free(&r);

    get(port, "/html", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 12\r\n\r\n");
    CHECK_BODY(&r, "<p>caf\xc3\xa9</p>");
    tl_resp_free(&r);

    get(port, "/content", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 8\r\n\r\n");
    CHECK_MEM(r.body, r.body_len, bin, sizeof bin);
    tl_resp_free(&r);

    get(port, "/content-empty", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 0\r\n\r\n");
    tl_resp_free(&r);

    get(port, "/json", &r);
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %u\r\n\r\n",
             (unsigned)strlen(json));
    CHECK_HEAD(&r, head);
    CHECK_BODY(&r, json); /* sent as given */
    tl_resp_free(&r);

    get(port, "/json-invalid", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\n");
    CHECK_BODY(&r, "kept");
    tl_resp_free(&r);

    /* HEAD: same head as GET, no body */
    CHECK_INT(tl_request(port, "HEAD /text HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n"
                   "Connection: close\r\n\r\n");
    tl_resp_free(&r);
    {
        /* ...and truly no body bytes on the wire */
        tl_conn *c = tl_connect(port);
        size_t n = 0;
        char *all;
        if (c) {
            tl_send_str(c, "HEAD /text HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            all = tl_read_all(c, &n);
            CHECK(n > 4 && strcmp(all + n - 4, "\r\n\r\n") == 0);
            free(all);
            tl_close(c);
        }
    }
}

static void test_sending(int port) {
    tl_resp r;
    tl_conn *c;

    get(port, "/send-header", &r);
    CHECK_HEAD(&r, "HTTP/1.1 202 Custom Reason\r\nX-Before: yes\r\nContent-Type: text/html\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n");
    CHECK_BODY(&r, "abcdef");
    tl_resp_free(&r);

    get(port, "/send-header-std", &r);
    CHECK_HEAD(&r, "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK_MEM(r.raw_body, r.raw_body_len, "0\r\n\r\n", 5);
    tl_resp_free(&r);

    get(port, "/send-cl", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n");
    CHECK_BODY(&r, "helloworld");
    tl_resp_free(&r);

    get(port, "/send-cl-over", &r);
    CHECK_HEAD(&r, "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\n");
    CHECK_BODY(&r, "helloworld");
    tl_resp_free(&r);

    get(port, "/stream", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(r.chunked);
    CHECK_BODY(&r, "count: 0\ncount: 1\ncount: 2\nCompleted!");
    /* pieces are buffered: the exact chunking is not fixed, but it ends with one 0-chunk */
    CHECK(r.raw_body_len >= 5 && memcmp(r.raw_body + r.raw_body_len - 5, "0\r\n\r\n", 5) == 0);
    CHECK(strstr(r.raw_body, "\r\n0\r\n\r\n") == r.raw_body + r.raw_body_len - 7);
    tl_resp_free(&r);

    /* HTTP/1.0: close-delimited, exact bytes */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        size_t n = 0;
        char *all, *nodate;
        tl_send_str(c, "GET /stream HTTP/1.0\r\n\r\n");
        all = tl_read_all(c, &n);
        CHECK(strncmp(all, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
        nodate = strstr(all, "GMT\r\n");
        CHECK(nodate != NULL);
        if (nodate)
            CHECK_STR(nodate + 5, "Content-Type: text/html\r\nConnection: close\r\n\r\n"
                                  "count: 0\ncount: 1\ncount: 2\nCompleted!");
        free(all);
        tl_close(c);
    }

    /* keep-alive after a chunked response: the connection is reusable */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /text HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, "count: 0\ncount: 1\ncount: 2\nCompleted!");
        tl_resp_free(&r);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, "hello!");
        tl_resp_free(&r);
        tl_close(c);
    }

    /* resp_flush: part1 arrives while the handler waits for us */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        long long deadline = tl_now_ms() + 4000;
        size_t n;
        char *all;
        tl_send_str(c, "GET /flush HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        while (tl_now_ms() < deadline) {
            char buf[512];
            ssize_t k = recv(c->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
            if (k > 0) {
                buf[k] = 0;
                /* accumulate in the connection buffer for the final check */
                c->buf = (char *)realloc(c->buf, c->len + (size_t)k + 1);
                memcpy(c->buf + c->len, buf, (size_t)k);
                c->len += (size_t)k;
                c->buf[c->len] = 0;
                if (strstr(c->buf, "part1")) break;
            } else {
                tl_sleep_ms(5);
            }
        }
        CHECK(c->buf && strstr(c->buf, "5\r\npart1\r\n") != NULL);
        pthread_mutex_lock(&flush_lock);
        flush_seen = 1;
        pthread_cond_broadcast(&flush_cond);
        pthread_mutex_unlock(&flush_lock);
        c->cap = c->len;
        all = tl_read_all(c, &n);
        CHECK(strstr(all, "5\r\npart1\r\n5\r\npart2\r\n0\r\n\r\n") != NULL);
        free(all);
        tl_close(c);
    }
}

static void test_big(int port) {
    tl_resp r;
    size_t i, bad = 0;
    get(port, "/big", &r);
    CHECK(r.chunked);
    CHECK_INT(r.body_len, BIG_TOTAL);
    for (i = 0; i < r.body_len && i < BIG_TOTAL; i++)
        if ((unsigned char)r.body[i] != big_byte(i)) bad++;
    CHECK_INT(bad, 0);
    tl_resp_free(&r);
}

static void test_redirects(int port) {
    static const int codes[] = {0, 301, 302, 303, 307, 308};
    static const char *lines[] = {"302 Found", "301 Moved Permanently", "302 Found",
                                  "303 See Other", "307 Temporary Redirect", "308 Permanent Redirect"};
    size_t i;
    tl_resp r;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char path[64], head[512];
        snprintf(path, sizeof path, "/redirect?code=%d", codes[i]);
        get(port, path, &r);
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\nLocation: /target?x=%%2F\r\nX-Still: ok\r\n"
                 "Set-Cookie: r=1; Path=/; HttpOnly; SameSite=Lax\r\nContent-Length: 0\r\n\r\n",
                 lines[i]);
        CHECK_HEAD(&r, head);
        CHECK_INT(r.body_len, 0);
        tl_resp_free(&r);
    }
    get(port, "/redirect-checks", &r);
    CHECK_INT(r.status, 307);
    CHECK_STR(tl_header(&r, "Location"), "/login?next=%2F");
    CHECK_INT(tl_header_count(&r, "Location"), 1);
    tl_resp_free(&r);
}

static void test_abort_close_fd(int port) {
    tl_resp r;
    tl_conn *c;

    /* abort: sent, then the connection is closed (even though keep-alive) */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "GET /abort HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_HEAD(&r, "HTTP/1.1 403 Go Away\r\nWWW-Authenticate: Basic realm=\"x\"\r\n"
                       "Content-Type: text/html\r\nContent-Length: 18\r\nConnection: close\r\n\r\n");
        CHECK_BODY(&r, "<h1>Forbidden</h1>");
        CHECK_INT(tl_wait_eof(c, 2000), 1);
        tl_resp_free(&r);
        tl_close(c);
    }

    get(port, "/abort-after-text", &r);
    CHECK_HEAD(&r, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: 11\r\nConnection: close\r\n\r\n");
    CHECK_BODY(&r, "plain words");
    tl_resp_free(&r);

    get(port, "/abort-default", &r);
    CHECK_HEAD(&r, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: 26\r\nConnection: close\r\n\r\n");
    CHECK_BODY(&r, "500 Internal Server Error\n");
    tl_resp_free(&r);

    /* a Content-Type set with resp_set_mime_type is kept */
    get(port, "/abort-mime", &r);
    CHECK_HEAD(&r, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                   "Content-Length: 21\r\nConnection: close\r\n\r\n");
    CHECK_BODY(&r, "{\"error\":\"slow down\"}");
    tl_resp_free(&r);

    /* abort after the head went out: truncated chunked body, then close */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        size_t n;
        char *all;
        tl_send_str(c, "GET /abort-after-send HTTP/1.1\r\nHost: t\r\n\r\n");
        all = tl_read_all(c, &n);
        CHECK(strstr(all, "HTTP/1.1 200 OK\r\n") == all);
        CHECK(strstr(all, "\r\n\r\n7\r\npartial\r\n") != NULL);
        CHECK(strstr(all, "0\r\n\r\n") == NULL); /* never finished */
        CHECK(c->eof);
        free(all);
        tl_close(c);
    }

    /* close: nothing at all reaches the client */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        size_t n = 99;
        char *all;
        tl_send_str(c, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
        all = tl_read_all(c, &n);
        CHECK_INT(n, 0);
        CHECK(c->eof);
        free(all);
        tl_close(c);
    }

    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        size_t n;
        char *all;
        tl_send_str(c, "GET /close-after-send HTTP/1.1\r\nHost: t\r\n\r\n");
        all = tl_read_all(c, &n);
        CHECK(strstr(all, "\r\n\r\n4\r\nsent\r\n") != NULL);
        CHECK(strstr(all, "0\r\n\r\n") == NULL);
        free(all);
        tl_close(c);
    }

    /* client fd: the handler's getpeername matches our socket */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        char expect[64];
        getsockname(c->fd, (struct sockaddr *)&me, &ml);
        snprintf(expect, sizeof expect, "127.0.0.1:%u", (unsigned)ntohs(me.sin_port));
        tl_send_str(c, "GET /fd HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, expect);
        tl_resp_free(&r);
        /* the library still owns the socket: the connection keeps working */
        tl_send_str(c, "GET /text HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, "hello!");
        tl_resp_free(&r);
        tl_close(c);
    }
}

static void test_bodyless_and_results(int port) {
    static const int codes[] = {204, 304, 101, 199};
    size_t i;
    tl_resp r;
    tl_conn *c;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char path[64];
        size_t n;
        char *all;
        snprintf(path, sizeof path, "GET /nobody?code=%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", codes[i]);
        c = tl_connect(port);
        CHECK(c != NULL);
        if (!c) continue;
        tl_send_str(c, path);
        all = tl_read_all(c, &n);
        /* the whole reply ends with the head: no body bytes at all */
        CHECK(n > 4 && strcmp(all + n - 4, "\r\n\r\n") == 0);
        CHECK(strstr(all, "must not") == NULL);
        if (codes[i] == 204 || codes[i] < 200) CHECK(strstr(all, "Content-Length") == NULL);
        free(all);
        tl_close(c);
    }

    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        size_t n;
        char *all;
        tl_send_str(c, "GET /nobody-send HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        all = tl_read_all(c, &n);
        CHECK(strncmp(all, "HTTP/1.1 204 No Content\r\n", 25) == 0);
        CHECK(strstr(all, "must not") == NULL);
        CHECK(strstr(all, "Transfer-Encoding") == NULL);
        CHECK(n > 4 && strcmp(all + n - 4, "\r\n\r\n") == 0);
        free(all);
        tl_close(c);
    }

    /* HEAD on a streaming handler: the head only, whatever it sends */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        size_t n;
        char *all;
        tl_send_str(c, "HEAD /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        all = tl_read_all(c, &n);
        CHECK(strncmp(all, "HTTP/1.1 200 OK\r\n", 17) == 0);
        CHECK(strstr(all, "count") == NULL);
        CHECK(n > 4 && strcmp(all + n - 4, "\r\n\r\n") == 0);
        free(all);
        tl_close(c);
    }

    get(port, "/fail", &r);
    CHECK_INT(r.status, 500);
    CHECK(strstr(r.body, "half done") == NULL);
    tl_resp_free(&r);

    get(port, "/fail-after-send", &r);
    CHECK_HEAD(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\n");
    CHECK_BODY(&r, "done");
    tl_resp_free(&r);
}

int main(void) {
    mr_server *srv;
    int port;
    tl_init("test_response", 60);

    srv = tl_server_new();
    if (!srv) return tl_finish();
    tl_route(srv, "GET", "/default", h_default, NULL);
    tl_route(srv, "GET", "/status", h_status, NULL);
    tl_route(srv, "GET", "/status-custom", h_status_custom, NULL);
    tl_route(srv, "GET", "/headers", h_headers, NULL);
    tl_route(srv, "GET", "/conn-close", h_conn_close, NULL);
    tl_route(srv, "GET", "/mime", h_mime, NULL);
    tl_route(srv, "GET", "/mime-before", h_mime_before, NULL);
    tl_route(srv, "GET", "/mime-send", h_mime_send, NULL);
    tl_route(srv, "GET", "/cookies", h_cookies, NULL);
    tl_route(srv, "GET", "/text", h_text, NULL);
    tl_route(srv, "GET", "/html", h_html, NULL);
    tl_route(srv, "GET", "/content", h_content, NULL);
    tl_route(srv, "GET", "/content-empty", h_content_empty, NULL);
    tl_route(srv, "GET", "/json", h_json, NULL);
    tl_route(srv, "GET", "/json-invalid", h_json_invalid, NULL);
    tl_route(srv, "GET", "/send-header", h_send_header, NULL);
    tl_route(srv, "GET", "/send-header-std", h_send_header_std, NULL);
    tl_route(srv, "GET", "/send-cl", h_send_cl, NULL);
    tl_route(srv, "GET", "/send-cl-over", h_send_cl_over, NULL);
    tl_route(srv, "GET", "/stream", h_stream, NULL);
    tl_route(srv, "GET", "/flush", h_flush, NULL);
    tl_route(srv, "GET", "/big", h_big, NULL);
    tl_route(srv, "GET", "/redirect", h_redirect, NULL);
    tl_route(srv, "GET", "/redirect-checks", h_redirect_checks, NULL);
    tl_route(srv, "GET", "/abort", h_abort, NULL);
    tl_route(srv, "GET", "/abort-after-text", h_abort_after_text, NULL);
    tl_route(srv, "GET", "/abort-default", h_abort_default, NULL);
    tl_route(srv, "GET", "/abort-mime", h_abort_mime, NULL);
    tl_route(srv, "GET", "/abort-after-send", h_abort_after_send, NULL);
    tl_route(srv, "GET", "/close", h_close, NULL);
    tl_route(srv, "GET", "/close-after-send", h_close_after_send, NULL);
    tl_route(srv, "GET", "/fd", h_fd, NULL);
    tl_route(srv, "GET", "/nobody", h_nobody, NULL);
    tl_route(srv, "GET", "/nobody-send", h_nobody_send, NULL);
    tl_route(srv, "GET", "/fail", h_fail, NULL);
    tl_route(srv, "GET", "/fail-after-send", h_fail_after_send, NULL);
    port = tl_server_start(srv);
    if (port > 0) {
        test_status_and_headers(port);
        test_mime_and_cookies(port);
        test_bodies(port);
        test_sending(port);
        test_big(port);
        test_redirects(port);
        test_abort_close_fd(port);
        test_bodyless_and_results(port);
    }
    CHECK_INT(server_stop(srv, 1000), MR_OK);
    server_free(srv);
    return tl_finish();
}

/*
 * Every req_* function, seen from a handler.
 *
 * The /dump handler writes what each getter returns, one "key=value" line
 * each ("(null)" for NULL), and main() compares the whole text with what the
 * header documents for the request it sent.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testlib.h"

/* A growing text buffer for the dumps. */
typedef struct {
    char *p;
    size_t len;
} sbuf;

static void sb_add(sbuf *b, const char *key, const char *val) {
    size_t kl = strlen(key), vl = val ? strlen(val) : 6;
    char *np = (char *)realloc(b->p, b->len + kl + vl + 3);
    if (!np) return;
    b->p = np;
    memcpy(b->p + b->len, key, kl);
    b->p[b->len + kl] = '=';
    memcpy(b->p + b->len + kl + 1, val ? val : "(null)", vl);
    b->p[b->len + kl + 1 + vl] = '\n';
    b->len += kl + vl + 2;
    b->p[b->len] = 0;
}

static int send_dump(mr_resp *resp, sbuf *b) {
    int rc = resp_set_text(resp, b->p ? b->p : "");
    free(b->p);
    return rc;
}

/* Dumps the request line parts, the query parameters named in the "names"
 * list of the userdata, the route params and the headers. */
static int h_dump(mr_req *req, mr_resp *resp, void *ud) {
    static const char *qnames[] = {"q", "flag", "e", "a b", "missing", "dup", "enc", "Q", NULL};
    static const char *pnames[] = {"id", "rest", "x", "nope", NULL};
    sbuf b = {NULL, 0};
    char key[64];
    size_t i, n;
    const char *name = "?", *value = "?";
    (void)ud;
    sb_add(&b, "method", req_method(req));
    sb_add(&b, "path", req_path(req));
    sb_add(&b, "query", req_query(req));
    for (i = 0; qnames[i]; i++) {
        snprintf(key, sizeof key, "qp[%s]", qnames[i]);
        sb_add(&b, key, req_query_param(req, qnames[i]));
    }
    for (i = 0; pnames[i]; i++) {
        snprintf(key, sizeof key, "param[%s]", pnames[i]);
        sb_add(&b, key, req_param(req, pnames[i]));
    }
    sb_add(&b, "host", req_host(req));
    snprintf(key, sizeof key, "%d", req_http_version(req));
    sb_add(&b, "version", key);
    n = req_header_count(req);
    for (i = 0; i < n; i++) {
        const char *hn = NULL, *hv = NULL;
        CHECK_INT(req_header_at(req, i, &hn, &hv), MR_OK);
        snprintf(key, sizeof key, "h%u[%s]", (unsigned)i, hn ? hn : "(null)");
        sb_add(&b, key, hv);
    }
    /* out of range: MR_EINVAL, outputs untouched */
    CHECK_INT(req_header_at(req, n, &name, &value), MR_EINVAL);
    CHECK_STR(name, "?");
    CHECK_STR(value, "?");
    CHECK_INT(req_header_at(req, (size_t)-1, &name, &value), MR_EINVAL);
    if (n > 0) {
        CHECK_INT(req_header_at(req, 0, NULL, NULL), MR_OK); /* outputs are optional */
        CHECK_INT(req_header_at(req, 0, &name, NULL), MR_OK);
        CHECK(name != NULL && strcmp(name, "?") != 0);
    }
    return send_dump(resp, &b);
}

/* Header lookups, case-insensitive, first value, trimmed. */
static int h_headers(mr_req *req, mr_resp *resp, void *ud) {
    sbuf b = {NULL, 0};
    char cnt[32];
    (void)ud;
    sb_add(&b, "x-repeat", req_header(req, "x-repeat"));
    sb_add(&b, "X-REPEAT", req_header(req, "X-REPEAT"));
    sb_add(&b, "x-spaces", req_header(req, "X-Spaces"));
    sb_add(&b, "x-empty", req_header(req, "x-empty"));
    sb_add(&b, "x-absent", req_header(req, "x-absent"));
    sb_add(&b, "host", req_header(req, "HOST"));
    snprintf(cnt, sizeof cnt, "%u", (unsigned)req_header_count(req));
    sb_add(&b, "count", cnt);
    return send_dump(resp, &b);
}

static int h_cookies(mr_req *req, mr_resp *resp, void *ud) {
    static const char *names[] = {"a", "b", "c", "e", "sp", "empty", "missing", "A", NULL};
    sbuf b = {NULL, 0};
    size_t i;
    (void)ud;
    for (i = 0; names[i]; i++) sb_add(&b, names[i], req_cookie(req, names[i]));
    return send_dump(resp, &b);
}

static int h_body(mr_req *req, mr_resp *resp, void *ud) {
    size_t len = 12345, len2 = 999;
    const uint8_t *body = req_body(req, &len);
    const uint8_t *again;
    char head[64];
    (void)ud;
    CHECK(body != NULL);
    if (!body) return -1;
    CHECK(body[len] == 0); /* NUL after the body, not counted */
    again = req_body(req, &len2); /* a second call gives the same body */
    CHECK(again == body);
    CHECK_INT(len2, len);
    CHECK(req_body(req, NULL) == body); /* len may be NULL */
    snprintf(head, sizeof head, "len=%u\n", (unsigned)len);
    CHECK_INT(resp_send_str(resp, head), MR_OK);
    return resp_send(resp, body, len);
}

static int h_form(mr_req *req, mr_resp *resp, void *ud) {
    static const char *names[] = {"a", "b", "c", "d", "flag", "missing", "x y", NULL};
    sbuf b = {NULL, 0};
    size_t i;
    (void)ud;
    for (i = 0; names[i]; i++) sb_add(&b, names[i], req_form_value(req, names[i]));
    return send_dump(resp, &b);
}

static int h_remote(mr_req *req, mr_resp *resp, void *ud) {
    (void)ud;
    return resp_set_text(resp, req_remote_addr(req));
}

static int h_tag(mr_req *req, mr_resp *resp, void *ud) {
    (void)req;
    return resp_set_text(resp, (const char *)ud);
}

/* ---- client side ------------------------------------------------------ */

static void expect_dump(int port, const char *request, const char *expected) {
    tl_resp r;
    if (tl_request(port, request, &r) != 0) {
        fprintf(stderr, "request failed: %s\n", request);
        CHECK(r.ok);
        tl_resp_free(&r);
        return;
    }
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, expected);
    tl_resp_free(&r);
}

static void test_request_line(int port) {
    expect_dump(port,
                "GET /users/a%20b+c?q=a+b%21&flag&e=&a+b=sp%61ce&dup=1&dup=2&enc=%2541%c3%A9&Q=upper"
                " HTTP/1.1\r\nHost: example.com:8080\r\nX-Test:  padded \t\r\n\r\n",
                "method=GET\n"
                "path=/users/a%20b+c\n"
                "query=q=a+b%21&flag&e=&a+b=sp%61ce&dup=1&dup=2&enc=%2541%c3%A9&Q=upper\n"
                "qp[q]=a b!\n"
                "qp[flag]=\n"
                "qp[e]=\n"
                "qp[a b]=space\n"
                "qp[missing]=(null)\n"
                "qp[dup]=1\n"
                "qp[enc]=%41\xc3\xa9\n"
                "qp[Q]=upper\n"
                "param[id]=a b+c\n"
                "param[rest]=(null)\n"
                "param[x]=(null)\n"
                "param[nope]=(null)\n"
                "host=example.com:8080\n"
                "version=11\n"
                "h0[Host]=example.com:8080\n"
                "h1[X-Test]=padded\n");

    /* no query at all; HTTP/1.0 without Host */
    expect_dump(port, "GET /users/42 HTTP/1.0\r\n\r\n",
                "method=GET\npath=/users/42\nquery=\n"
                "qp[q]=(null)\nqp[flag]=(null)\nqp[e]=(null)\nqp[a b]=(null)\nqp[missing]=(null)\n"
                "qp[dup]=(null)\nqp[enc]=(null)\nqp[Q]=(null)\n"
                "param[id]=42\nparam[rest]=(null)\nparam[x]=(null)\nparam[nope]=(null)\n"
                "host=(null)\nversion=10\n");

    /* a later HTTP/1.x minor version counts as 1.1 */
    expect_dump(port, "GET /users/5 HTTP/1.2\r\nHost: h\r\n\r\n",
                "method=GET\npath=/users/5\nquery=\n"
                "qp[q]=(null)\nqp[flag]=(null)\nqp[e]=(null)\nqp[a b]=(null)\nqp[missing]=(null)\n"
                "qp[dup]=(null)\nqp[enc]=(null)\nqp[Q]=(null)\n"
                "param[id]=5\nparam[rest]=(null)\nparam[x]=(null)\nparam[nope]=(null)\n"
                "host=h\nversion=11\nh0[Host]=h\n");

    /* "?" with an empty query */
    expect_dump(port, "GET /users/7? HTTP/1.1\r\nHost: h\r\n\r\n",
                "method=GET\npath=/users/7\nquery=\n"
                "qp[q]=(null)\nqp[flag]=(null)\nqp[e]=(null)\nqp[a b]=(null)\nqp[missing]=(null)\n"
                "qp[dup]=(null)\nqp[enc]=(null)\nqp[Q]=(null)\n"
                "param[id]=7\nparam[rest]=(null)\nparam[x]=(null)\nparam[nope]=(null)\n"
                "host=h\nversion=11\nh0[Host]=h\n");

    /* absolute-form target: host from the target, path without it */
    expect_dump(port, "GET http://x.example/users/9?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n",
                "method=GET\npath=/users/9\nquery=q=1\n"
                "qp[q]=1\nqp[flag]=(null)\nqp[e]=(null)\nqp[a b]=(null)\nqp[missing]=(null)\n"
                "qp[dup]=(null)\nqp[enc]=(null)\nqp[Q]=(null)\n"
                "param[id]=9\nparam[rest]=(null)\nparam[x]=(null)\nparam[nope]=(null)\n"
                "host=x.example\nversion=11\nh0[Host]=ignored\n");

    /* any method on a "*" route; {rest...} keeps slashes */
    expect_dump(port, "PATCH /files/a/b%2Fc/d.txt HTTP/1.1\r\nHost: h\r\n\r\n",
                "method=PATCH\npath=/files/a/b%2Fc/d.txt\nquery=\n"
                "qp[q]=(null)\nqp[flag]=(null)\nqp[e]=(null)\nqp[a b]=(null)\nqp[missing]=(null)\n"
                "qp[dup]=(null)\nqp[enc]=(null)\nqp[Q]=(null)\n"
                "param[id]=(null)\nparam[rest]=a/b/c/d.txt\nparam[x]=(null)\nparam[nope]=(null)\n"
                "host=h\nversion=11\nh0[Host]=h\n");
}

static void test_routing(int port) {
    static const struct {
        const char *req, *body;
        int status;
    } cases[] = {
        {"GET /p/literal HTTP/1.1\r\nHost: h\r\n\r\n", "literal", 200},
        {"GET /p/other HTTP/1.1\r\nHost: h\r\n\r\n", "param", 200},
        {"GET /p/other/deeper HTTP/1.1\r\nHost: h\r\n\r\n", "rest", 200},
        {"GET /p/literal/deeper HTTP/1.1\r\nHost: h\r\n\r\n", "rest", 200},
        {"POST /p/literal HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "post-literal", 200},
        {"HEAD /p/literal HTTP/1.1\r\nHost: h\r\n\r\n", "", 200},
    };
    size_t i;
    tl_resp r;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT(tl_request(port, cases[i].req, &r), 0);
        CHECK_INT(r.status, cases[i].status);
        CHECK_BODY(&r, cases[i].body);
        tl_resp_free(&r);
    }
    /* 405 with Allow for a path that only other methods have */
    CHECK_INT(tl_request(port, "DELETE /p/literal HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 405);
    CHECK(tl_header(&r, "Allow") != NULL);
    if (tl_header(&r, "Allow")) {
        CHECK(strstr(tl_header(&r, "Allow"), "GET") != NULL);
        CHECK(strstr(tl_header(&r, "Allow"), "POST") != NULL);
        CHECK(strstr(tl_header(&r, "Allow"), "HEAD") != NULL);
    }
    tl_resp_free(&r);
    /* A "*" (any method) route matches the methods the server knows; a
     * token no route names (PURGE) is answered 501 before routing, as
     * server_route documents (RFC 9110 9.1). */
    CHECK_INT(tl_request(port, "PURGE /files/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 501);
    tl_resp_free(&r);
    /* a route registered for that method by name gets it */
    CHECK_INT(tl_request(port, "MKCOL /p/literal HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_BODY(&r, "mkcol");
    tl_resp_free(&r);
    /* methods are case-sensitive: "get" is not GET */
    CHECK_INT(tl_request(port, "get /p/literal HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r), 0);
    CHECK(r.status == 501 || r.status == 405 || r.status == 400);
    tl_resp_free(&r);
    /* no match: 404 */
    CHECK_INT(tl_request(port, "GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    CHECK_INT(r.status, 404);
    tl_resp_free(&r);
}

static void test_headers(int port) {
    expect_dump(port,
                "GET /hdr HTTP/1.1\r\nHost: h\r\nX-Repeat: one\r\nx-spaces: \t  v a l \t\r\n"
                "X-Empty:\r\nx-repeat: two\r\nX-REPEAT:three\r\n\r\n",
                "x-repeat=one\nX-REPEAT=one\nx-spaces=v a l\nx-empty=\nx-absent=(null)\nhost=h\ncount=6\n");
    /* every field in order, repeated ones included, names as sent */
    expect_dump(port,
                "GET /dump-any HTTP/1.1\r\nHost: h\r\nX-Repeat: one\r\nx-repeat: two\r\nAccept: */*\r\n\r\n",
                "method=GET\npath=/dump-any\nquery=\n"
                "qp[q]=(null)\nqp[flag]=(null)\nqp[e]=(null)\nqp[a b]=(null)\nqp[missing]=(null)\n"
                "qp[dup]=(null)\nqp[enc]=(null)\nqp[Q]=(null)\n"
                "param[id]=(null)\nparam[rest]=(null)\nparam[x]=(null)\nparam[nope]=(null)\n"
                "host=h\nversion=11\n"
                "h0[Host]=h\nh1[X-Repeat]=one\nh2[x-repeat]=two\nh3[Accept]=*/*\n");
}

static void test_cookies(int port) {
    expect_dump(port,
                "GET /cookie HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=\"quoted\"; e=%41%20\r\n"
                "Cookie: c=3;sp=x;empty=\r\n\r\n",
                "a=1\nb=quoted\nc=3\ne=%41%20\nsp=x\nempty=\nmissing=(null)\nA=(null)\n");
    expect_dump(port, "GET /cookie HTTP/1.1\r\nHost: h\r\n\r\n",
                "a=(null)\nb=(null)\nc=(null)\ne=(null)\nsp=(null)\nempty=(null)\nmissing=(null)\nA=(null)\n");
}

static void test_bodies(int port) {
    tl_resp r;
    tl_conn *c;
    static const char bin_req[] = "POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\na\0b\0c";

    expect_dump(port, "POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
                "len=11\nhello world");
    expect_dump(port, "POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "len=0\n");
    expect_dump(port, "POST /body HTTP/1.1\r\nHost: h\r\n\r\n", "len=0\n"); /* no body at all */
    expect_dump(port, "GET /body HTTP/1.1\r\nHost: h\r\n\r\n", "len=0\n");
    expect_dump(port,
                "POST /body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n",
                "len=11\nhello world");

    /* binary body with NULs */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send(c, bin_req, sizeof bin_req - 1);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_MEM(r.body, r.body_len, "len=5\na\0b\0c", 11);
        tl_resp_free(&r);
        tl_close(c);
    }

    /* Expect: 100-continue: the interim answer comes when the handler asks for the body */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        tl_send_str(c, "POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 100);
        tl_resp_free(&r);
        tl_send_str(c, "data");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_INT(r.status, 200);
        CHECK_BODY(&r, "len=4\ndata");
        tl_resp_free(&r);
        tl_close(c);
    }

    /* keep-alive: an unread body does not leak into the next request */
    c = tl_connect(port);
    CHECK(c != NULL);
    if (c) {
        /* the body is a whole request: it must be skipped, not routed */
        tl_send_str(c, "POST /p/literal HTTP/1.1\r\nHost: h\r\nContent-Length: 31\r\n\r\n"
                       "GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"
                       "GET /p/literal HTTP/1.1\r\nHost: h\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, "post-literal");
        tl_resp_free(&r);
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, "literal");
        tl_resp_free(&r);
        tl_close(c);
    }
}

static void test_forms(int port) {
    expect_dump(port,
                "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 53\r\n\r\na=1&b=hello+world&c=%26%3D%2B&d=&flag&a=2&x+y=sp%20ce",
                "a=1\nb=hello world\nc=&=+\nd=\nflag=\nmissing=(null)\nx y=sp ce\n");
    /* with a charset parameter, and chunked */
    expect_dump(port,
                "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
                "Transfer-Encoding: chunked\r\n\r\n3\r\na=9\r\n0\r\n\r\n",
                "a=9\nb=(null)\nc=(null)\nd=(null)\nflag=(null)\nmissing=(null)\nx y=(null)\n");
    /* not a urlencoded form: every field is NULL */
    expect_dump(port,
                "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\na=1",
                "a=(null)\nb=(null)\nc=(null)\nd=(null)\nflag=(null)\nmissing=(null)\nx y=(null)\n");
    expect_dump(port, "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na=1",
                "a=(null)\nb=(null)\nc=(null)\nd=(null)\nflag=(null)\nmissing=(null)\nx y=(null)\n");
}

static void test_remote_addr(int port) {
    tl_conn *c = tl_connect(port);
    tl_resp r;
    CHECK(c != NULL);
    if (c) {
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        char expect[64];
        getsockname(c->fd, (struct sockaddr *)&me, &ml);
        snprintf(expect, sizeof expect, "127.0.0.1:%u", (unsigned)ntohs(me.sin_port));
        tl_send_str(c, "GET /remote HTTP/1.1\r\nHost: h\r\n\r\n");
        CHECK_INT(tl_read_response(c, &r, 0), 0);
        CHECK_BODY(&r, expect);
        tl_resp_free(&r);
        tl_close(c);
    }
}

int main(void) {
    mr_server *srv;
    int port;
    tl_init("test_request", 60);
    srv = tl_server_new();
    if (!srv) return tl_finish();
    tl_route(srv, "GET", "/users/{id}", h_dump, NULL);
    tl_route(srv, "*", "/files/{rest...}", h_dump, NULL);
    tl_route(srv, NULL, "/dump-any", h_dump, NULL);
    tl_route(srv, "GET", "/hdr", h_headers, NULL);
    tl_route(srv, "GET", "/cookie", h_cookies, NULL);
    tl_route(srv, "*", "/body", h_body, NULL);
    tl_route(srv, "POST", "/form", h_form, NULL);
    tl_route(srv, "GET", "/remote", h_remote, NULL);
    /* precedence: registered from the least to the most specific */
    tl_route(srv, "GET", "/p/{x...}", h_tag, (void *)"rest");
    tl_route(srv, "GET", "/p/{x}", h_tag, (void *)"param");
    tl_route(srv, "GET", "/p/literal", h_tag, (void *)"literal");
    tl_route(srv, "POST", "/p/literal", h_tag, (void *)"post-literal");
    tl_route(srv, "MKCOL", "/p/literal", h_tag, (void *)"mkcol");
    /* a duplicate route is refused */
    CHECK_INT(server_route(srv, "GET", "/p/literal", h_tag, NULL), MR_EINVAL);
    port = tl_server_start(srv);
    if (port > 0) {
        test_request_line(port);
        test_routing(port);
        test_headers(port);
        test_cookies(port);
        test_bodies(port);
        test_forms(port);
        test_remote_addr(port);
    }
    server_free(srv);
    return tl_finish();
}

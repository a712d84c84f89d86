/* Shared helpers for the C tests: see testlib.h. */
#define _GNU_SOURCE 1
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- checks ----------------------------------------------------------- */

static pthread_mutex_t tl_lock = PTHREAD_MUTEX_INITIALIZER;
static int tl_nfail;
static const char *tl_name = "test";

int tl_failures(void) {
    int n;
    pthread_mutex_lock(&tl_lock);
    n = tl_nfail;
    pthread_mutex_unlock(&tl_lock);
    return n;
}

void tl_fail(const char *file, int line, const char *expr, const char *detail) {
    pthread_mutex_lock(&tl_lock);
    tl_nfail++;
    fprintf(stderr, "%s:%d: CHECK(%s) failed%s%s\n", file, line, expr, detail ? ": " : "",
            detail ? detail : "");
    fflush(stderr);
    pthread_mutex_unlock(&tl_lock);
}

void tl_fail_int(const char *file, int line, const char *expr, long long a, long long b) {
    char d[128];
    snprintf(d, sizeof d, "got %lld, expected %lld", a, b);
    tl_fail(file, line, expr, d);
}

/* Prints a string with control characters escaped. */
static void tl_escape(char *out, size_t cap, const void *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    size_t o = 0, i;
    if (!p) {
        snprintf(out, cap, "(null)");
        return;
    }
    for (i = 0; i < n && o + 8 < cap; i++) {
        unsigned char ch = s[i];
        if (ch == '\r') o += (size_t)snprintf(out + o, cap - o, "\\r");
        else if (ch == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (ch == '"') o += (size_t)snprintf(out + o, cap - o, "\\\"");
        else if (ch < 0x20 || ch >= 0x7f) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        else out[o++] = (char)ch;
    }
    if (i < n && o + 4 < cap) o += (size_t)snprintf(out + o, cap - o, "...");
    out[o] = 0;
}

void tl_fail_mem(const char *file, int line, const char *expr, const void *a, size_t alen,
                 const void *b, size_t blen) {
    char ea[2048], eb[2048], d[4200];
    tl_escape(ea, sizeof ea, a, alen);
    tl_escape(eb, sizeof eb, b, blen);
    snprintf(d, sizeof d, "\n     got \"%s\"\nexpected \"%s\"", ea, eb);
    tl_fail(file, line, expr, d);
}

void tl_fail_str(const char *file, int line, const char *expr, const char *a, const char *b) {
    tl_fail_mem(file, line, expr, a, a ? strlen(a) : 0, b, b ? strlen(b) : 0);
}

int tl_str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

int tl_mem_eq(const void *a, size_t alen, const void *b, size_t blen) {
    if (!a || !b) return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void tl_on_alarm(int sig) {
    static const char msg[] = "TIMEOUT: test took too long (watchdog alarm)\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
    _exit(98);
}

void tl_init(const char *test_name, unsigned timeout_s) {
    const char *t = getenv("TL_TIMEOUT");
    tl_name = test_name;
    if (t && atoi(t) > 0) timeout_s = (unsigned)atoi(t);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, tl_on_alarm);
    alarm(timeout_s);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int tl_finish(void) {
    int n = tl_failures();
    if (n) fprintf(stderr, "%s: %d check(s) FAILED\n", tl_name, n);
    else printf("%s: all checks passed\n", tl_name);
    return n ? 1 : 0;
}

int tl_quick(void) {
    const char *q = getenv("TL_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* ---- servers ---------------------------------------------------------- */

mr_server *tl_server_new(void) {
    mr_server *srv = server_new();
    CHECK(srv != NULL);
    if (srv) CHECK_INT(server_listen(srv, "127.0.0.1:0"), MR_OK);
    return srv;
}

int tl_server_start(mr_server *srv) {
    int rc = server_start(srv), port;
    if (rc != MR_OK) {
        fprintf(stderr, "server_start: %d %s (%s)\n", rc, mr_strerror(rc), mr_last_error());
        CHECK_INT(rc, MR_OK);
        return -1;
    }
    port = server_port(srv, 0);
    CHECK(port > 0 && port < 65536);
    return port > 0 ? port : -1;
}

void tl_route(mr_server *srv, const char *method, const char *pattern, mr_handler h, void *ud) {
    int rc = server_route(srv, method, pattern, h, ud);
    if (rc != MR_OK) fprintf(stderr, "server_route(%s %s): %s\n", method ? method : "*", pattern, mr_last_error());
    CHECK_INT(rc, MR_OK);
}

/* ---- client ----------------------------------------------------------- */

static void tl_set_timeouts(int fd) {
    struct timeval tv;
    int one = 1;
    tv.tv_sec = TL_IO_TIMEOUT_MS / 1000;
    tv.tv_usec = (TL_IO_TIMEOUT_MS % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

tl_conn *tl_connect_host(const char *host, int port) {
    tl_conn *c;
    int fd;
    if (strchr(host, ':')) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6.sin6_addr) != 1) return NULL;
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return NULL;
        tl_set_timeouts(fd);
        if (connect(fd, (struct sockaddr *)&a6, sizeof a6) != 0) {
            close(fd);
            return NULL;
        }
    } else {
        struct sockaddr_in a4;
        memset(&a4, 0, sizeof a4);
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4.sin_addr) != 1) return NULL;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return NULL;
        tl_set_timeouts(fd);
        if (connect(fd, (struct sockaddr *)&a4, sizeof a4) != 0) {
            close(fd);
            return NULL;
        }
    }
    c = (tl_conn *)calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    return c;
}

tl_conn *tl_connect(int port) { return tl_connect_host("127.0.0.1", port); }

void tl_close(tl_conn *c) {
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c);
}

int tl_send(tl_conn *c, const void *data, size_t len) {
    const char *p = (const char *)data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tl_send_str(tl_conn *c, const char *s) { return tl_send(c, s, strlen(s)); }

/* Receives more bytes into c->buf: >0 bytes read, 0 EOF, -1 error/timeout. */
static ssize_t tl_fill(tl_conn *c) {
    ssize_t n;
    if (c->eof) return 0;
    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 8192;
        char *nb = (char *)realloc(c->buf, ncap + 1);
        if (!nb) return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    do {
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        c->eof = 1;
        return 0;
    }
    if (n < 0) return -1;
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    return n;
}

static void tl_consume(tl_conn *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    if (c->buf) c->buf[c->len] = 0;
}

static char *tl_memmem(const char *h, size_t hl, const char *n, size_t nl) {
    size_t i;
    if (nl > hl) return NULL;
    for (i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0) return (char *)h + i;
    return NULL;
}

/* Ensures at least `need` bytes are buffered; 0 ok, -1 not available. */
static int tl_need(tl_conn *c, size_t need) {
    while (c->len < need)
        if (tl_fill(c) <= 0) return -1;
    return 0;
}

/* Appends bytes to a growing buffer. */
static int tl_append(char **buf, size_t *len, const char *p, size_t n) {
    char *nb = (char *)realloc(*buf, *len + n + 1);
    if (!nb) return -1;
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = 0;
    *buf = nb;
    return 0;
}

void tl_resp_free(tl_resp *r) {
    int i;
    if (!r) return;
    free(r->head);
    for (i = 0; i < r->nheaders; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->body);
    free(r->raw_body);
    memset(r, 0, sizeof *r);
}

static char *tl_strndup(const char *p, size_t n) {
    char *s = (char *)malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static int tl_read_chunked(tl_conn *c, tl_resp *r) {
    for (;;) {
        char *eol;
        size_t size;
        char *end;
        while (!(eol = tl_memmem(c->buf ? c->buf : "", c->len, "\r\n", 2)))
            if (tl_fill(c) <= 0) return -1;
        size = (size_t)strtoul(c->buf, &end, 16);
        if (end == c->buf) return -1;
        if (tl_append(&r->raw_body, &r->raw_body_len, c->buf, (size_t)(eol - c->buf) + 2)) return -1;
        tl_consume(c, (size_t)(eol - c->buf) + 2);
        if (size == 0) {
            /* trailers until an empty line */
            for (;;) {
                size_t l;
                while (!(eol = tl_memmem(c->buf ? c->buf : "", c->len, "\r\n", 2)))
                    if (tl_fill(c) <= 0) return -1;
                l = (size_t)(eol - c->buf) + 2;
                if (tl_append(&r->raw_body, &r->raw_body_len, c->buf, l)) return -1;
                tl_consume(c, l);
                if (l == 2) return 0;
            }
        }
        if (tl_need(c, size + 2)) return -1;
        if (memcmp(c->buf + size, "\r\n", 2) != 0) return -1;
        if (tl_append(&r->body, &r->body_len, c->buf, size)) return -1;
        if (tl_append(&r->raw_body, &r->raw_body_len, c->buf, size + 2)) return -1;
        tl_consume(c, size + 2);
    }
}

int tl_read_response(tl_conn *c, tl_resp *r, int is_head) {
    char *hend, *line, *p;
    size_t hlen;
    const char *te, *cl;
    memset(r, 0, sizeof *r);
    if (!c) return -1;
    while (!(hend = tl_memmem(c->buf ? c->buf : "", c->len, "\r\n\r\n", 4)))
        if (tl_fill(c) <= 0) return -1;
    hlen = (size_t)(hend - c->buf) + 4;
    r->head = tl_strndup(c->buf, hlen);
    r->head_len = hlen;
    tl_consume(c, hlen);
    if (!r->head) return -1;

    /* status line */
    line = r->head;
    p = strstr(line, "\r\n");
    {
        char *sp1 = memchr(line, ' ', (size_t)(p - line));
        char *sp2;
        if (!sp1 || sp1 - line >= (long)sizeof r->version) return -1;
        memcpy(r->version, line, (size_t)(sp1 - line));
        r->status = atoi(sp1 + 1);
        sp2 = memchr(sp1 + 1, ' ', (size_t)(p - sp1 - 1));
        if (sp2) {
            size_t rl = (size_t)(p - sp2 - 1);
            if (rl >= sizeof r->reason) rl = sizeof r->reason - 1;
            memcpy(r->reason, sp2 + 1, rl);
        }
    }
    /* header fields */
    line = p + 2;
    while (strncmp(line, "\r\n", 2) != 0 && r->nheaders < TL_MAX_HEADERS) {
        char *colon, *v, *ve;
        p = strstr(line, "\r\n");
        colon = memchr(line, ':', (size_t)(p - line));
        if (!colon) return -1;
        v = colon + 1;
        while (v < p && (*v == ' ' || *v == '\t')) v++;
        ve = p;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        r->names[r->nheaders] = tl_strndup(line, (size_t)(colon - line));
        r->values[r->nheaders] = tl_strndup(v, (size_t)(ve - v));
        r->nheaders++;
        line = p + 2;
    }

    /* body */
    r->body = tl_strndup("", 0);
    r->raw_body = tl_strndup("", 0);
    te = tl_header(r, "Transfer-Encoding");
    cl = tl_header(r, "Content-Length");
    if (is_head || (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304) {
        /* no body */
    } else if (te && strcasecmp(te, "chunked") == 0) {
        r->chunked = 1;
        if (tl_read_chunked(c, r)) return -1;
    } else if (cl) {
        size_t n = (size_t)strtoull(cl, NULL, 10);
        if (tl_need(c, n)) return -1;
        tl_append(&r->body, &r->body_len, c->buf, n);
        tl_append(&r->raw_body, &r->raw_body_len, c->buf, n);
        tl_consume(c, n);
    } else {
        r->close_delimited = 1;
        for (;;) {
            ssize_t n = tl_fill(c);
            if (n == 0) break;
            if (n < 0) return -1;
        }
        tl_append(&r->body, &r->body_len, c->buf ? c->buf : "", c->len);
        tl_append(&r->raw_body, &r->raw_body_len, c->buf ? c->buf : "", c->len);
        tl_consume(c, c->len);
    }
    r->ok = 1;
    return 0;
}

int tl_wait_eof(tl_conn *c, int ms) {
    struct pollfd pfd;
    int rc;
    if (c->len > 0) return -1;
    if (c->eof) return 1;
    pfd.fd = c->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do {
        rc = poll(&pfd, 1, ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return 0;
    if (rc < 0) return 1;
    return tl_fill(c) == 0 ? 1 : -1;
}

char *tl_read_all(tl_conn *c, size_t *len) {
    char *out;
    while (tl_fill(c) > 0) {
    }
    out = tl_strndup(c->buf ? c->buf : "", c->len);
    if (len) *len = c->len;
    tl_consume(c, c->len);
    return out;
}

int tl_request(int port, const char *raw, tl_resp *r) {
    tl_conn *c = tl_connect(port);
    int rc;
    memset(r, 0, sizeof *r);
    if (!c) return -1;
    if (tl_send_str(c, raw)) {
        tl_close(c);
        return -1;
    }
    rc = tl_read_response(c, r, strncmp(raw, "HEAD ", 5) == 0);
    tl_close(c);
    return rc;
}

const char *tl_header(const tl_resp *r, const char *name) {
    int i;
    for (i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->names[i], name) == 0) return r->values[i];
    return NULL;
}

int tl_header_count(const tl_resp *r, const char *name) {
    int i, n = 0;
    for (i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->names[i], name) == 0) n++;
    return n;
}

char *tl_head_without_date(const tl_resp *r) {
    char *out, *o;
    const char *p;
    if (!r->head) return tl_strndup("", 0);
    out = (char *)malloc(r->head_len + 1);
    if (!out) return NULL;
    o = out;
    p = r->head;
    while (*p) {
        const char *e = strstr(p, "\r\n");
        size_t l = e ? (size_t)(e - p) + 2 : strlen(p);
        if (strncasecmp(p, "Date:", 5) != 0) {
            memcpy(o, p, l);
            o += l;
        }
        p += l;
    }
    *o = 0;
    return out;
}

void tl_check_head(const char *file, int line, const tl_resp *r, const char *expected) {
    char *h;
    const char *date;
    if (!r->ok) {
        tl_fail(file, line, "response received", "no complete response");
        return;
    }
    date = tl_header(r, "Date");
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" is 29 characters */
    if (tl_header_count(r, "Date") != 1 || !date || strlen(date) != 29 ||
        strcmp(date + 25, " GMT") != 0 || date[3] != ',')
        tl_fail(file, line, "one Date header in IMF-fixdate form", date ? date : "(none)");
    h = tl_head_without_date(r);
    if (!tl_str_eq(h, expected)) tl_fail_str(file, line, "head (without Date) matches", h, expected);
    free(h);
}

/* ---- misc ------------------------------------------------------------- */

void tl_sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

long long tl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tl_have_ipv6(void) {
    struct sockaddr_in6 a6;
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;
    if (fd < 0) return 0;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0;
    close(fd);
    return ok;
}

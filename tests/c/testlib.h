/*
 * Shared helpers for the C tests of microroute: a CHECK macro and a small
 * blocking HTTP/1.1 client over loopback sockets.
 *
 * The tests use only the public header, the way a C user does. Every socket
 * has a receive/send timeout (TL_IO_TIMEOUT_MS) and every test program arms
 * an alarm, so a misbehaving server makes a test fail, never hang.
 */
#ifndef MICROROUTE_TESTLIB_H
#define MICROROUTE_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "microroute.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checks ----------------------------------------------------------- */

/* Failures so far (all threads). */
int tl_failures(void);
/* Records a failure: prints "file:line: CHECK(expr) failed" plus detail. */
void tl_fail(const char *file, int line, const char *expr, const char *detail);
/* Call first in main: arms a watchdog alarm (seconds, env TL_TIMEOUT wins). */
void tl_init(const char *test_name, unsigned timeout_s);
/* Call last in main: prints a summary, returns the process exit code. */
int tl_finish(void);
/* 1 when running in the reduced mode (env TL_QUICK set, e.g. under valgrind). */
int tl_quick(void);

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) tl_fail(__FILE__, __LINE__, #cond, NULL);           \
    } while (0)

/* Integer comparison that prints both values. */
#define CHECK_INT(a, b)                                                  \
    do {                                                                 \
        long long tl_a_ = (long long)(a), tl_b_ = (long long)(b);        \
        if (tl_a_ != tl_b_) tl_fail_int(__FILE__, __LINE__, #a " == " #b, tl_a_, tl_b_); \
    } while (0)

/* String comparison (NULL-safe) that prints both values. */
#define CHECK_STR(a, b)                                                  \
    do {                                                                 \
        const char *tl_sa_ = (a), *tl_sb_ = (b);                         \
        if (!tl_str_eq(tl_sa_, tl_sb_))                                  \
            tl_fail_str(__FILE__, __LINE__, #a " == " #b, tl_sa_, tl_sb_); \
    } while (0)

/* Byte comparison: a (len alen) equals b (len blen). */
#define CHECK_MEM(a, alen, b, blen)                                      \
    do {                                                                 \
        if (!tl_mem_eq((a), (alen), (b), (blen)))                        \
            tl_fail_mem(__FILE__, __LINE__, #a " == " #b, (a), (alen), (b), (blen)); \
    } while (0)

void tl_fail_int(const char *file, int line, const char *expr, long long a, long long b);
void tl_fail_str(const char *file, int line, const char *expr, const char *a, const char *b);
void tl_fail_mem(const char *file, int line, const char *expr, const void *a, size_t alen,
                 const void *b, size_t blen);
int tl_str_eq(const char *a, const char *b);
int tl_mem_eq(const void *a, size_t alen, const void *b, size_t blen);

/* ---- servers ---------------------------------------------------------- */

/* server_new + server_listen("127.0.0.1:0"); CHECKs both. */
mr_server *tl_server_new(void);
/* server_start + server_port(srv, 0); returns the port, or -1 (CHECKed). */
int tl_server_start(mr_server *srv);
/* Adds a route and CHECKs MR_OK. */
void tl_route(mr_server *srv, const char *method, const char *pattern, mr_handler h, void *ud);

/* ---- client ----------------------------------------------------------- */

#define TL_IO_TIMEOUT_MS 5000
#define TL_MAX_HEADERS 64

typedef struct tl_conn {
    int fd;
    char *buf;      /* bytes received but not yet consumed */
    size_t len, cap;
    int eof;        /* the peer closed its side */
} tl_conn;

typedef struct tl_resp {
    int ok;                 /* 1 if a complete response was parsed */
    char version[16];       /* "HTTP/1.1" */
    int status;
    char reason[256];
    char *head;             /* raw head, status line to the blank line included */
    size_t head_len;
    int nheaders;
    char *names[TL_MAX_HEADERS];
    char *values[TL_MAX_HEADERS];
    char *body;             /* decoded body (chunks joined), NUL-terminated */
    size_t body_len;
    char *raw_body;         /* body bytes as on the wire (chunk framing kept) */
    size_t raw_body_len;
    int chunked;            /* body was Transfer-Encoding: chunked */
    int close_delimited;    /* body ran until the connection closed */
} tl_resp;

/* Connects to host:port ("127.0.0.1" or "::1"); NULL on failure. */
tl_conn *tl_connect_host(const char *host, int port);
/* Connects to 127.0.0.1:port; NULL on failure. */
tl_conn *tl_connect(int port);
void tl_close(tl_conn *c);
/* Sends all bytes; 0 on success, -1 on error. */
int tl_send(tl_conn *c, const void *data, size_t len);
int tl_send_str(tl_conn *c, const char *s);
/* Reads one response. `is_head`: the request was HEAD (no body expected).
 * Returns 0 and fills `r` (free with tl_resp_free), or -1 (r->ok == 0). */
int tl_read_response(tl_conn *c, tl_resp *r, int is_head);
/* Waits up to `ms` for the peer to close: 1 closed (EOF or reset), 0 still
 * open (no bytes and no EOF), -1 bytes arrived instead. */
int tl_wait_eof(tl_conn *c, int ms);
/* All bytes until the peer closes (or the timeout); NUL-terminated, caller frees. */
char *tl_read_all(tl_conn *c, size_t *len);
void tl_resp_free(tl_resp *r);

/* One request on a fresh connection: connect, send, read one response
 * (HEAD detected from the request text), close. Returns 0 or -1. */
int tl_request(int port, const char *raw, tl_resp *r);

/* First value of a response header (case-insensitive), NULL if absent. */
const char *tl_header(const tl_resp *r, const char *name);
/* Number of fields with that name. */
int tl_header_count(const tl_resp *r, const char *name);
/* The head with the "Date:" line removed (caller frees): for exact comparisons. */
char *tl_head_without_date(const tl_resp *r);
/* Checks that the head has exactly one well-formed Date line and that the
 * rest of it equals `expected` byte for byte. Use through CHECK_HEAD. */
void tl_check_head(const char *file, int line, const tl_resp *r, const char *expected);
#define CHECK_HEAD(r, expected) tl_check_head(__FILE__, __LINE__, (r), (expected))
/* Checks the decoded body equals the NUL-terminated `expected`. */
#define CHECK_BODY(r, expected) CHECK_MEM((r)->body, (r)->body_len, (expected), strlen(expected))

/* ---- misc ------------------------------------------------------------- */

/* Sleeps `ms` milliseconds. */
void tl_sleep_ms(int ms);
/* Monotonic milliseconds. */
long long tl_now_ms(void);
/* 1 if an IPv6 loopback socket can be bound on this host. */
int tl_have_ipv6(void);

#ifdef __cplusplus
}
#endif

#endif /* MICROROUTE_TESTLIB_H */

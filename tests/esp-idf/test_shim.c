/*
 * test_shim.c: the component's C shim (esp-idf/microroute/microroute_esp.c),
 * compiled for the host with ESP_PLATFORM and the stub headers, linked with
 * the stub ESP-IDF functions (stub_idf.c) and the real library.
 *
 * The seven server_set_* calls of microroute_esp_apply_config are wrapped
 * with the linker's --wrap: each wrapper records its arguments, can inject a
 * failure, and otherwise calls the real function, so the test sees both the
 * values the shim passes (the sdkconfig.h stub's, i.e. the Kconfig defaults)
 * and that the real library accepts them.
 *
 * The test never starts a server: microroute_esp_init sets RUST_MIN_STACK
 * for this process, sized for release-small firmware, not for this
 * (possibly debug) host build.
 */
#define _DEFAULT_SOURCE 1 /* setenv, unsetenv */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdkconfig.h"
#include "microroute.h"
#include "microroute_esp.h"
#include "stub_idf.h"

static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define CHECK_STR(got, want)                                                     \
    do {                                                                         \
        const char *g_ = (got), *w_ = (want);                                    \
        if (g_ == NULL || strcmp(g_, w_) != 0) {                                 \
            fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__,      \
                    __LINE__, #got, g_ ? g_ : "(null)", w_);                     \
            failures++;                                                          \
        }                                                                        \
    } while (0)

/* ---- the wrapped setters ---------------------------------------------- */

enum setter { S_WORKERS, S_MAX_CONN, S_LIMITS, S_MAX_HEADERS, S_TIMEOUTS, S_BODY_TIMEOUT, S_STACK, S_COUNT };

static struct {
    int calls[S_COUNT];
    int order[S_COUNT]; /* the call sequence, by setter */
    int ncalls;
    unsigned workers, max_conn, max_headers, header_ms, idle_ms, write_ms, body_ms;
    size_t max_header_bytes, max_body_bytes, stack;
    int fail_at;   /* setter to fail, or -1 */
    int fail_code; /* the code it returns then */
} rec;

static void rec_reset(void) {
    memset(&rec, 0, sizeof rec);
    rec.fail_at = -1;
}

/* Records a call; returns nonzero when this setter must fail. */
static int rec_call(enum setter s) {
    rec.calls[s]++;
    if (rec.ncalls < S_COUNT) rec.order[rec.ncalls] = (int)s;
    rec.ncalls++;
    return rec.fail_at == (int)s;
}

int __real_server_set_workers(mr_server *srv, unsigned int n);
int __real_server_set_max_connections(mr_server *srv, unsigned int n);
int __real_server_set_limits(mr_server *srv, size_t max_header_bytes, size_t max_body_bytes);
int __real_server_set_max_headers(mr_server *srv, unsigned int n);
int __real_server_set_timeouts(mr_server *srv, unsigned int header_ms, unsigned int idle_ms,
                               unsigned int write_ms);
int __real_server_set_body_timeout(mr_server *srv, unsigned int body_ms);
int __real_server_set_stack_size(mr_server *srv, size_t bytes);

int __wrap_server_set_workers(mr_server *srv, unsigned int n);
int __wrap_server_set_max_connections(mr_server *srv, unsigned int n);
int __wrap_server_set_limits(mr_server *srv, size_t max_header_bytes, size_t max_body_bytes);
int __wrap_server_set_max_headers(mr_server *srv, unsigned int n);
int __wrap_server_set_timeouts(mr_server *srv, unsigned int header_ms, unsigned int idle_ms,
                               unsigned int write_ms);
int __wrap_server_set_body_timeout(mr_server *srv, unsigned int body_ms);
int __wrap_server_set_stack_size(mr_server *srv, size_t bytes);

int __wrap_server_set_workers(mr_server *srv, unsigned int n) {
    rec.workers = n;
    if (rec_call(S_WORKERS)) return rec.fail_code;
    return __real_server_set_workers(srv, n);
}

int __wrap_server_set_max_connections(mr_server *srv, unsigned int n) {
    rec.max_conn = n;
    if (rec_call(S_MAX_CONN)) return rec.fail_code;
    return __real_server_set_max_connections(srv, n);
}

int __wrap_server_set_limits(mr_server *srv, size_t max_header_bytes, size_t max_body_bytes) {
    rec.max_header_bytes = max_header_bytes;
    rec.max_body_bytes = max_body_bytes;
    if (rec_call(S_LIMITS)) return rec.fail_code;
    return __real_server_set_limits(srv, max_header_bytes, max_body_bytes);
}

int __wrap_server_set_max_headers(mr_server *srv, unsigned int n) {
    rec.max_headers = n;
    if (rec_call(S_MAX_HEADERS)) return rec.fail_code;
    return __real_server_set_max_headers(srv, n);
}

int __wrap_server_set_timeouts(mr_server *srv, unsigned int header_ms, unsigned int idle_ms,
                               unsigned int write_ms) {
    rec.header_ms = header_ms;
    rec.idle_ms = idle_ms;
    rec.write_ms = write_ms;
    if (rec_call(S_TIMEOUTS)) return rec.fail_code;
    return __real_server_set_timeouts(srv, header_ms, idle_ms, write_ms);
}

int __wrap_server_set_body_timeout(mr_server *srv, unsigned int body_ms) {
    rec.body_ms = body_ms;
    if (rec_call(S_BODY_TIMEOUT)) return rec.fail_code;
    return __real_server_set_body_timeout(srv, body_ms);
}

int __wrap_server_set_stack_size(mr_server *srv, size_t bytes) {
    rec.stack = bytes;
    if (rec_call(S_STACK)) return rec.fail_code;
    return __real_server_set_stack_size(srv, bytes);
}

/* ---- microroute_esp_init ---------------------------------------------- */

#define STR_(x) #x
#define STR(x) STR_(x)

static void clear_env(void) {
    unsetenv("RUST_MIN_STACK");
    unsetenv("BLOCKING_MAX_THREADS");
}

static void test_init(void) {
    /* The eventfd VFS is already registered: that is success. */
    stub_idf_reset();
    clear_env();
    stub_eventfd_result = ESP_ERR_INVALID_STATE;
    CHECK(microroute_esp_init() == ESP_OK);
    CHECK(stub_eventfd_calls == 1);
    CHECK(stub_eventfd_max_fds == CONFIG_MICROROUTE_EVENTFD_MAX_FDS);
    CHECK_STR(getenv("RUST_MIN_STACK"), STR(CONFIG_MICROROUTE_THREAD_STACK_SIZE));
    CHECK_STR(getenv("BLOCKING_MAX_THREADS"), STR(CONFIG_MICROROUTE_BLOCKING_MAX_THREADS));
    /* The pthread configuration: the default one, with our stack size and
     * inheritance on, so the threads of the server's threads get it too. */
    CHECK(stub_pthread_calls == 1);
    CHECK(stub_pthread_cfg.stack_size == CONFIG_MICROROUTE_THREAD_STACK_SIZE);
    CHECK(stub_pthread_cfg.inherit_cfg);
    CHECK(stub_pthread_cfg.prio == STUB_PTHREAD_DEFAULT_PRIO);
    CHECK(stub_pthread_cfg.pin_to_core == -1);
    CHECK_STR(stub_pthread_cfg.thread_name, "pthread");

    /* Registered now. */
    stub_idf_reset();
    clear_env();
    CHECK(microroute_esp_init() == ESP_OK);
    CHECK(stub_eventfd_calls == 1 && stub_pthread_calls == 1);

    /* Other failures of the registration are returned, and nothing after
     * it is done. */
    stub_idf_reset();
    stub_eventfd_result = ESP_ERR_NO_MEM;
    CHECK(microroute_esp_init() == ESP_ERR_NO_MEM);
    CHECK(stub_pthread_calls == 0);
    stub_idf_reset();
    stub_eventfd_result = ESP_ERR_INVALID_ARG;
    CHECK(microroute_esp_init() == ESP_ERR_INVALID_ARG);

    /* So is a refused pthread configuration. */
    stub_idf_reset();
    stub_pthread_result = ESP_ERR_INVALID_ARG;
    CHECK(microroute_esp_init() == ESP_ERR_INVALID_ARG);

    /* Values the application set first are kept. */
    stub_idf_reset();
    clear_env();
    setenv("BLOCKING_MAX_THREADS", "7", 1);
    setenv("RUST_MIN_STACK", "65536", 1);
    CHECK(microroute_esp_init() == ESP_OK);
    CHECK_STR(getenv("BLOCKING_MAX_THREADS"), "7");
    CHECK_STR(getenv("RUST_MIN_STACK"), "65536");
    clear_env();
}

/* ---- microroute_esp_apply_config -------------------------------------- */

static void test_apply_config(void) {
    mr_server *srv = server_new();
    int i;
    CHECK(srv != NULL);

    /* Every setter, once, in the documented order, with the sdkconfig.h
     * values; the real library accepts them all. */
    rec_reset();
    CHECK(microroute_esp_apply_config(srv) == MR_OK);
    CHECK(rec.ncalls == S_COUNT);
    for (i = 0; i < S_COUNT; i++) {
        CHECK(rec.calls[i] == 1);
        CHECK(rec.order[i] == i);
    }
    CHECK(rec.workers == CONFIG_MICROROUTE_WORKERS);
    CHECK(rec.max_conn == CONFIG_MICROROUTE_MAX_CONNECTIONS);
    CHECK(rec.max_header_bytes == CONFIG_MICROROUTE_MAX_HEADER_BYTES);
    CHECK(rec.max_body_bytes == CONFIG_MICROROUTE_MAX_BODY_BYTES);
    CHECK(rec.max_headers == CONFIG_MICROROUTE_MAX_HEADERS);
    CHECK(rec.header_ms == CONFIG_MICROROUTE_HEADER_TIMEOUT_MS);
    CHECK(rec.idle_ms == CONFIG_MICROROUTE_IDLE_TIMEOUT_MS);
    CHECK(rec.write_ms == CONFIG_MICROROUTE_WRITE_TIMEOUT_MS);
    CHECK(rec.body_ms == CONFIG_MICROROUTE_BODY_TIMEOUT_MS);
    CHECK(rec.stack == CONFIG_MICROROUTE_WORKER_STACK_SIZE);

    /* The first failure stops it and is returned: from the real library
     * (a NULL server)... */
    rec_reset();
    CHECK(microroute_esp_apply_config(NULL) == MR_EINVAL);
    CHECK(rec.ncalls == 1 && rec.calls[S_WORKERS] == 1);

    /* ... or from any setter in the middle. */
    for (i = 0; i < S_COUNT; i++) {
        rec_reset();
        rec.fail_at = i;
        rec.fail_code = MR_ESTATE;
        CHECK(microroute_esp_apply_config(srv) == MR_ESTATE);
        CHECK(rec.ncalls == i + 1);
    }

    /* The Kconfig range of the worker stack starts where the library's
     * check does: below 8192 is refused. */
    CHECK(__real_server_set_stack_size(srv, 8191) == MR_EINVAL);
    CHECK(__real_server_set_stack_size(srv, 8192) == MR_OK);
    CHECK(__real_server_set_stack_size(srv, 0) == MR_OK);

    server_free(srv);
}

int main(void) {
    test_init();
    test_apply_config();
    if (failures) {
        fprintf(stderr, "esp-idf shim: %d check(s) failed\n", failures);
        return 1;
    }
    printf("esp-idf shim: all checks passed\n");
    return 0;
}

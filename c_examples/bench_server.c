/*
 * bench_server.c: the server the benchmarks drive (bench/, scripts).
 *
 *   ./bench_server PORT ROOT [WORKERS]
 *
 * GET /hello answers "hello" (text/plain; charset=utf-8); everything else is served from
 * the folder ROOT (static files: sendfile, ranges, conditional requests).
 * WORKERS defaults to 1, as the benchmark pins the server to one core.
 * Listens on 127.0.0.1:PORT (0: any free port), prints
 * "listening on 127.0.0.1:PORT" when ready, and stops gracefully on
 * SIGINT or SIGTERM. No logging: the benchmark measures serving.
 */
#define _POSIX_C_SOURCE 200809L /* sigwait */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "microroute.h"

static int hello(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_text(resp, "hello"); /* text/plain; charset=utf-8 */
}

int main(int argc, char **argv) {
    char addr[64];
    long port, workers = 1;
    sigset_t stop_signals;
    int sig, rc;
    mr_server *srv;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s PORT ROOT [WORKERS]\n", argv[0]);
        return 2;
    }
    port = strtol(argv[1], NULL, 10);
    if (argc == 4) workers = strtol(argv[3], NULL, 10);
    if (port < 0 || port > 65535 || workers < 1 || workers > 1024) {
        fprintf(stderr, "bad PORT or WORKERS\n");
        return 2;
    }

    /* Block the stop signals before any thread starts, so they all inherit
     * the mask and only sigwait below receives them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    srv = server_new();
    if (srv == NULL) return 1;
    snprintf(addr, sizeof addr, "127.0.0.1:%ld", port);
    if ((rc = server_listen(srv, addr)) != MR_OK ||
        (rc = server_set_workers(srv, (unsigned)workers)) != MR_OK ||
        /* Benchmarks open thousands of connections. */
        (rc = server_set_max_connections(srv, 20000)) != MR_OK ||
        /* Idle keep-alive connections wait 75 s, as in the nginx peer's
         * config (keepalive_timeout 75s), not the default 5 s: the harness
         * holds 10,000 idle connections for longer than 5 s when its
         * client is slow to open them, and closed ones would not count. */
        (rc = server_set_timeouts(srv, 10000, 75000, 10000)) != MR_OK ||
        (rc = server_route(srv, "GET", "/hello", hello, NULL)) != MR_OK ||
        (rc = server_static(srv, "/", argv[2])) != MR_OK ||
        (rc = server_start(srv)) != MR_OK) {
        fprintf(stderr, "cannot start: %s (%s)\n", mr_strerror(rc), mr_last_error());
        server_free(srv);
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", server_port(srv, 0));
    fflush(stdout);

    while (sigwait(&stop_signals, &sig) != 0) {
    }
    rc = server_stop(srv, 2000);
    server_free(srv);
    return rc == MR_OK ? 0 : 1;
}

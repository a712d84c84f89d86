/*
 * hello.c: the smallest useful microroute server.
 *
 *   ./hello                     serves http://127.0.0.1:8080/ until killed
 *   ./hello --port 0            lets the system pick a free port
 *   ./hello --requests 3        exits (status 0) after answering 3 requests
 *
 * It prints "listening on 127.0.0.1:PORT" once it is ready.
 */
#define _POSIX_C_SOURCE 200809L /* POSIX semaphores */
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microroute.h"

/* The handler: every GET / gets "hello" as text/plain. */
static int hello(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_text(resp, "hello");
}

/* --requests N: the log callback gets one MR_LOG_INFO access line per
 * request; after the N-th it wakes main(), which stops the server. The
 * callback runs on worker threads, hence the atomic counter. */
static atomic_long remaining;
static sem_t done;

static void on_log(void *userdata, int level, const char *line) {
    (void)userdata;
    fprintf(stderr, "%s\n", line);
    if (level == MR_LOG_INFO && atomic_fetch_sub(&remaining, 1) == 1) sem_post(&done);
}

int main(int argc, char **argv) {
    long port = 8080, requests = 0;
    char addr[64];
    int i, rc;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) port = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--requests") == 0) requests = strtol(argv[i + 1], NULL, 10);
    }
    atomic_store(&remaining, requests);
    sem_init(&done, 0, 0);

    mr_server *srv = server_new();
    snprintf(addr, sizeof addr, "127.0.0.1:%ld", port);
    server_listen(srv, addr);
    server_route(srv, "GET", "/", hello, NULL);
    server_set_log(srv, on_log, NULL);
    if ((rc = server_start(srv)) != MR_OK) {
        fprintf(stderr, "cannot start: %s (%s)\n", mr_strerror(rc), mr_last_error());
        server_free(srv);
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", server_port(srv, 0));
    fflush(stdout);

    if (requests > 0) {
        while (sem_wait(&done) != 0) {} /* until the N-th request was answered */
        rc = server_stop(srv, 1000);
    } else {
        rc = server_run(srv);           /* serve until killed */
    }
    server_free(srv);
    sem_destroy(&done);
    return rc == MR_OK ? 0 : 1;
}

/*
 * A minimal program using microroute, built by tests/cmake/consumer_test.cmake
 * in every way a user can consume the library (add_subdirectory,
 * find_package, pkg-config shared and static).
 *
 * It checks that the header and the library agree on the version (and, when
 * given, that the version is argv[1]), then starts a server on an ephemeral
 * port and stops it again.
 */
#include <microroute.h>

#include <stdio.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static const char header_version[] =
    STR(MR_VERSION_MAJOR) "." STR(MR_VERSION_MINOR) "." STR(MR_VERSION_PATCH);

static int fail(const char *what, int code) {
    fprintf(stderr, "consumer: %s failed: %d (%s): %s\n", what, code, mr_strerror(code),
            mr_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *version = mr_version();
    if (strcmp(version, header_version) != 0) {
        fprintf(stderr, "consumer: library %s, header %s\n", version, header_version);
        return 1;
    }
    if (argc > 1 && strcmp(version, argv[1]) != 0) {
        fprintf(stderr, "consumer: library %s, expected %s\n", version, argv[1]);
        return 1;
    }

    mr_server *srv = server_new();
    if (srv == NULL) {
        fprintf(stderr, "consumer: server_new returned NULL\n");
        return 1;
    }
    int rc = server_listen(srv, "127.0.0.1:0");
    if (rc != MR_OK) {
        server_free(srv);
        return fail("server_listen", rc);
    }
    rc = server_start(srv);
    if (rc != MR_OK) {
        server_free(srv);
        return fail("server_start", rc);
    }
    int port = server_port(srv, 0);
    if (port <= 0) {
        server_free(srv);
        return fail("server_port", port);
    }
    rc = server_stop(srv, 0);
    if (rc != MR_OK) {
        server_free(srv);
        return fail("server_stop", rc);
    }
    server_free(srv);

    printf("consumer: microroute %s listened on 127.0.0.1:%d\n", version, port);
    return 0;
}

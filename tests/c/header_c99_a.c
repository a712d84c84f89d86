/*
 * The header compiles as strict C99 (-std=c99 -Wall -Wextra -pedantic
 * -Werror) in two translation units linked into one program (this one and
 * header_c99_b.c): no definitions in the header, include guard works.
 */
#include "microroute.h"
#include "microroute.h" /* twice: the include guard */

#include <stdio.h>
#include <string.h>

int header_b_check(void); /* header_c99_b.c */

static int handler(mr_req *req, mr_resp *resp, void *userdata) {
    (void)userdata;
    return resp_set_text(resp, req_path(req));
}

int main(void) {
    mr_server *srv = server_new();
    mr_handler h = handler;
    int failures = 0;
    if (!srv) return 1;
    if (server_route(srv, "GET", "/", h, NULL) != MR_OK) failures++;
    if (strcmp(mr_version(), "0.1.0") != 0) failures++;
    if (MR_VERSION_MAJOR != 0 || MR_VERSION_MINOR != 1) failures++;
    failures += header_b_check();
    server_free(srv);
    printf("header_c99: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

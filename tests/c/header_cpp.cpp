// The C header compiles as C++17 (-Wall -Wextra -Wpedantic -Werror) and
// its functions link with C linkage.
#include "microroute.h"

#include <cstdio>
#include <cstring>

namespace {
int handler(mr_req *req, mr_resp *resp, void *userdata) {
    static_cast<void>(userdata);
    return resp_set_text(resp, req_path(req));
}
}  // namespace

int main() {
    static_assert(MR_OK == 0 && MR_EINVAL == -1, "stable codes");
    mr_server *srv = server_new();
    int failures = 0;
    if (srv == nullptr) return 1;
    mr_handler h = handler;
    if (server_route(srv, "GET", "/", h, nullptr) != MR_OK) failures++;
    if (std::strcmp(mr_version(), "0.1.0") != 0) failures++;
    if (resp_set_status(nullptr, 200) != MR_EINVAL) failures++;
    server_free(srv);
    std::printf("header_cpp: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

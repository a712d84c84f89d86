/* Second translation unit of the header_c99 test: see header_c99_a.c. */
#include "microroute.h"

#include <stddef.h>

static void log_fn(void *userdata, int level, const char *line) {
    (void)userdata; (void)level; (void)line;
}

int header_b_check(void) {
    mr_log_fn fn = log_fn;
    int failures = 0;
    /* every code and flag is an integer constant expression */
    static const int codes[] = {MR_OK, MR_EINVAL, MR_ESTATE, MR_ETIMEDOUT, MR_ECLOSED, MR_EIO,
                                MR_ENOTFOUND, MR_EFORBIDDEN, MR_ETOOLARGE, MR_EADDR,
                                MR_EUNSUPPORTED, MR_EINTERNAL};
    static const unsigned flags = MR_COOKIE_SECURE | MR_COOKIE_HTTPONLY | MR_COOKIE_SAMESITE_LAX |
                                  MR_COOKIE_SAMESITE_STRICT | MR_COOKIE_SAMESITE_NONE;
    static const int levels[] = {MR_LOG_ERROR, MR_LOG_WARN, MR_LOG_INFO};
    size_t i;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (mr_strerror(codes[i]) == NULL) failures++;
    if (flags != 31u) failures++;
    if (levels[0] != 1 || levels[2] != 3) failures++;
    if (server_set_log(NULL, fn, NULL) != MR_EINVAL) failures++;
    return failures;
}

/*
 * microroute_esp.c: the ESP-IDF side of the component (see microroute_esp.h).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef ESP_PLATFORM
#error "microroute_esp.c is built by the ESP-IDF component only (ESP_PLATFORM is not defined)"
#endif

/* setenv(). ESP-IDF compiles C in a GNU mode, where newlib shows it anyway; this
 * keeps the file valid under -std=c99 (the host checks in tests/esp-idf). */
#define _DEFAULT_SOURCE 1

#include <stdbool.h>
#include <stdlib.h>

#include "sdkconfig.h"
#include "esp_err.h"
#include "esp_pthread.h"
#include "esp_vfs_eventfd.h"

#include "microroute_esp.h"

/*
 * The connection budget. Every connection is an lwIP socket, and so are the
 * listener and the connection over the limit that is accepted to be answered
 * 503; CONFIG_LWIP_MAX_SOCKETS caps them all, for the whole firmware. Kconfig
 * can only bound MICROROUTE_MAX_CONNECTIONS by LWIP_MAX_SOCKETS itself (a
 * range cannot subtract), so the margin, CONFIG_MICROROUTE_RESERVED_SOCKETS,
 * is checked here, at build time. The eventfd is a VFS descriptor, not an
 * lwIP socket: it does not count.
 */
#ifndef CONFIG_LWIP_MAX_SOCKETS
#error "microroute: CONFIG_LWIP_MAX_SOCKETS is not defined (is lwIP enabled?)"
#endif
#if CONFIG_MICROROUTE_MAX_CONNECTIONS + CONFIG_MICROROUTE_RESERVED_SOCKETS > CONFIG_LWIP_MAX_SOCKETS
#error "microroute: CONFIG_MICROROUTE_MAX_CONNECTIONS + CONFIG_MICROROUTE_RESERVED_SOCKETS exceeds CONFIG_LWIP_MAX_SOCKETS: lower the connections or raise LWIP_MAX_SOCKETS in menuconfig"
#endif
#if CONFIG_MICROROUTE_WORKER_STACK_SIZE < 8192
#error "microroute: CONFIG_MICROROUTE_WORKER_STACK_SIZE must be at least 8192 (server_set_stack_size refuses less)"
#endif

#define MR_ESP_STR_(x) #x
#define MR_ESP_STR(x) MR_ESP_STR_(x)

/* Sets NAME=value unless the application already set NAME. */
static esp_err_t set_env_default(const char *name, const char *value) {
    if (getenv(name) != NULL) return ESP_OK;
    return setenv(name, value, 0) == 0 ? ESP_OK : ESP_ERR_NO_MEM;
}

esp_err_t microroute_esp_init(void) {
    esp_vfs_eventfd_config_t eventfd_config = {.max_fds = CONFIG_MICROROUTE_EVENTFD_MAX_FDS};
    esp_pthread_cfg_t cfg;
    esp_err_t err;

    /* Before any Rust thread exists: std reads RUST_MIN_STACK once. */
    err = set_env_default("RUST_MIN_STACK", MR_ESP_STR(CONFIG_MICROROUTE_THREAD_STACK_SIZE));
    if (err != ESP_OK) return err;
    err = set_env_default("BLOCKING_MAX_THREADS", MR_ESP_STR(CONFIG_MICROROUTE_BLOCKING_MAX_THREADS));
    if (err != ESP_OK) return err;

    /* ESP_ERR_INVALID_STATE: registered already (by the application, or an
     * earlier call): what we need is there. */
    err = esp_vfs_eventfd_register(&eventfd_config);
    if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) return err;

    cfg = esp_pthread_get_default_config();
    cfg.stack_size = CONFIG_MICROROUTE_THREAD_STACK_SIZE;
    cfg.inherit_cfg = true;
    return esp_pthread_set_cfg(&cfg);
}

int microroute_esp_apply_config(mr_server *srv) {
    int rc;
    if ((rc = server_set_workers(srv, CONFIG_MICROROUTE_WORKERS)) != MR_OK) return rc;
    if ((rc = server_set_max_connections(srv, CONFIG_MICROROUTE_MAX_CONNECTIONS)) != MR_OK) return rc;
    if ((rc = server_set_limits(srv, CONFIG_MICROROUTE_MAX_HEADER_BYTES,
                                CONFIG_MICROROUTE_MAX_BODY_BYTES)) != MR_OK)
        return rc;
    if ((rc = server_set_max_headers(srv, CONFIG_MICROROUTE_MAX_HEADERS)) != MR_OK) return rc;
    if ((rc = server_set_timeouts(srv, CONFIG_MICROROUTE_HEADER_TIMEOUT_MS,
                                  CONFIG_MICROROUTE_IDLE_TIMEOUT_MS,
                                  CONFIG_MICROROUTE_WRITE_TIMEOUT_MS)) != MR_OK)
        return rc;
    if ((rc = server_set_body_timeout(srv, CONFIG_MICROROUTE_BODY_TIMEOUT_MS)) != MR_OK) return rc;
    return server_set_stack_size(srv, CONFIG_MICROROUTE_WORKER_STACK_SIZE);
}

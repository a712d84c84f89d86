/*
 * Stub implementations of the ESP-IDF functions the component's shim calls,
 * for the host checks: each records how it was called and returns what the
 * test asks for.
 */
#ifndef MR_STUB_IDF_H
#define MR_STUB_IDF_H

#include <stddef.h>

#include "esp_err.h"
#include "esp_pthread.h"
#include "esp_vfs_eventfd.h"

/* esp_vfs_eventfd_register: what it returns; calls and the last max_fds. */
extern esp_err_t stub_eventfd_result;
extern int stub_eventfd_calls;
extern size_t stub_eventfd_max_fds;

/* esp_pthread_set_cfg: what it returns; calls and the last configuration. */
extern esp_err_t stub_pthread_result;
extern int stub_pthread_calls;
extern esp_pthread_cfg_t stub_pthread_cfg;

/* The values esp_pthread_get_default_config returns (ESP-IDF's Kconfig
 * defaults: 3072 bytes, priority 5, name "pthread", any core). */
#define STUB_PTHREAD_DEFAULT_STACK 3072
#define STUB_PTHREAD_DEFAULT_PRIO 5

void stub_idf_reset(void);

#endif

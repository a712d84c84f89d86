/* Stub of ESP-IDF's esp_pthread.h (components/pthread/include, IDF 5.x). */
#ifndef MR_STUB_ESP_PTHREAD_H
#define MR_STUB_ESP_PTHREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

typedef struct {
    size_t stack_size;         /* the stack size of the pthread */
    size_t prio;               /* the thread's priority */
    bool inherit_cfg;          /* inherit this configuration further */
    const char *thread_name;   /* the thread name */
    int pin_to_core;           /* the core to pin the thread to */
    uint32_t stack_alloc_caps; /* MALLOC_CAP_* bits for the stack (IDF >= 5.3) */
} esp_pthread_cfg_t;

esp_pthread_cfg_t esp_pthread_get_default_config(void);
/* ESP_OK; ESP_ERR_NO_MEM; ESP_ERR_INVALID_ARG if stack_size < PTHREAD_STACK_MIN. */
esp_err_t esp_pthread_set_cfg(const esp_pthread_cfg_t *cfg);
esp_err_t esp_pthread_get_cfg(esp_pthread_cfg_t *p);

#endif

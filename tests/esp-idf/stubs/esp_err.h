/*
 * Stub of ESP-IDF's esp_err.h for the host checks in tests/esp-idf: the
 * declarations the component and the example use, with ESP-IDF's
 * signatures and values (components/esp_common/include/esp_err.h).
 */
#ifndef MR_STUB_ESP_ERR_H
#define MR_STUB_ESP_ERR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef int esp_err_t;

#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_NO_MEM 0x101
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_NOT_FOUND 0x105

const char *esp_err_to_name(esp_err_t code);

/* ESP-IDF aborts with a message; the stub does the same. */
#define ESP_ERROR_CHECK(x)                                                         \
    do {                                                                           \
        esp_err_t err_rc_ = (x);                                                   \
        if (err_rc_ != ESP_OK) {                                                   \
            fprintf(stderr, "ESP_ERROR_CHECK failed: %s (0x%x) at %s:%d\n", #x,    \
                    (unsigned)err_rc_, __FILE__, __LINE__);                        \
            abort();                                                               \
        }                                                                          \
    } while (0)

#endif

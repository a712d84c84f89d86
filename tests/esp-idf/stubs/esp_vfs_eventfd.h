/* Stub of ESP-IDF's esp_vfs_eventfd.h (components/vfs/include). */
#ifndef MR_STUB_ESP_VFS_EVENTFD_H
#define MR_STUB_ESP_VFS_EVENTFD_H

#include <stddef.h>

#include "esp_err.h"

#define EFD_SUPPORT_ISR (1 << 4)

typedef struct {
    size_t max_fds; /* the most eventfds supported */
} esp_vfs_eventfd_config_t;

/* ESP_OK; ESP_ERR_INVALID_STATE if already registered; ESP_ERR_INVALID_ARG
 * for a NULL config or max_fds >= MAX_FDS; ESP_ERR_NO_MEM. */
esp_err_t esp_vfs_eventfd_register(const esp_vfs_eventfd_config_t *config);
esp_err_t esp_vfs_eventfd_unregister(void);
int eventfd(unsigned int initval, int flags);

#endif

/* Stub implementations of ESP-IDF functions (see stub_idf.h). */
#include "stub_idf.h"

#include <string.h>

esp_err_t stub_eventfd_result;
int stub_eventfd_calls;
size_t stub_eventfd_max_fds;

esp_err_t stub_pthread_result;
int stub_pthread_calls;
esp_pthread_cfg_t stub_pthread_cfg;

void stub_idf_reset(void) {
    stub_eventfd_result = ESP_OK;
    stub_eventfd_calls = 0;
    stub_eventfd_max_fds = 0;
    stub_pthread_result = ESP_OK;
    stub_pthread_calls = 0;
    memset(&stub_pthread_cfg, 0, sizeof stub_pthread_cfg);
}

esp_err_t esp_vfs_eventfd_register(const esp_vfs_eventfd_config_t *config) {
    stub_eventfd_calls++;
    if (config == NULL) return ESP_ERR_INVALID_ARG;
    stub_eventfd_max_fds = config->max_fds;
    return stub_eventfd_result;
}

esp_pthread_cfg_t esp_pthread_get_default_config(void) {
    esp_pthread_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.stack_size = STUB_PTHREAD_DEFAULT_STACK;
    cfg.prio = STUB_PTHREAD_DEFAULT_PRIO;
    cfg.inherit_cfg = false;
    cfg.thread_name = "pthread";
    cfg.pin_to_core = -1;
    return cfg;
}

esp_err_t esp_pthread_set_cfg(const esp_pthread_cfg_t *cfg) {
    stub_pthread_calls++;
    if (cfg == NULL) return ESP_ERR_INVALID_ARG;
    stub_pthread_cfg = *cfg;
    return stub_pthread_result;
}

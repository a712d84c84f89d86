/*
 * The "firmware" of the stub ESP-IDF project: linked from the component
 * library alone (which must bring the cargo-built archive with it), it runs
 * the shim against the host library.
 */
#include <stdio.h>

#include "microroute_esp.h"
#include "stub_idf.h"

int main(void) {
    mr_server *srv;
    int rc;
    stub_idf_reset();
    if (microroute_esp_init() != ESP_OK) {
        fprintf(stderr, "microroute_esp_init failed\n");
        return 1;
    }
    srv = server_new();
    rc = microroute_esp_apply_config(srv);
    server_free(srv);
    if (rc != MR_OK) {
        fprintf(stderr, "microroute_esp_apply_config: %s\n", mr_strerror(rc));
        return 1;
    }
    printf("app: microroute %s, component linked\n", mr_version());
    return 0;
}

/*
 * microroute_esp.h: getting ESP-IDF ready for microroute, and applying the
 * menuconfig settings (Component config -> microroute) to a server.
 *
 *   ESP_ERROR_CHECK(microroute_esp_init());      // once, before server_start
 *   mr_server *srv = server_new();
 *   microroute_esp_apply_config(srv);            // workers, limits, stacks...
 *   server_listen(srv, "0.0.0.0:80");
 *   ... routes ...
 *   server_start(srv);
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef MICROROUTE_ESP_H
#define MICROROUTE_ESP_H

#include "esp_err.h"
#include "microroute.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Prepares ESP-IDF for the library. Call it once, from the task that will
 * call server_start, before any server starts (before the library creates
 * any thread: Rust reads RUST_MIN_STACK once, at its first thread).
 *
 * - Registers the eventfd VFS (esp_vfs_eventfd_register, with
 *   CONFIG_MICROROUTE_EVENTFD_MAX_FDS): smol's poller needs one eventfd,
 *   and eventfd() fails until the VFS is registered. Already registered
 *   (ESP_ERR_INVALID_STATE, e.g. by the application) counts as success.
 * - Sets RUST_MIN_STACK to CONFIG_MICROROUTE_THREAD_STACK_SIZE: the stack
 *   of the Rust threads the library does not size itself (async-io's
 *   reactor thread, the blocking pool that runs resp_stream producers).
 *   ESP-IDF's pthread_create takes the stack size from the attributes Rust
 *   always passes, so this variable, not esp_pthread_set_cfg, sizes them.
 * - Sets BLOCKING_MAX_THREADS to CONFIG_MICROROUTE_BLOCKING_MAX_THREADS
 *   (the blocking crate's default is 500 threads).
 *   Both variables are left alone when the application set them first.
 * - Calls esp_pthread_set_cfg() for the calling task with inheritance on,
 *   stack size CONFIG_MICROROUTE_THREAD_STACK_SIZE and the default
 *   priority and core: the threads the server creates, and theirs, inherit
 *   it. It also applies to pthreads the calling task creates later without
 *   attributes.
 *
 * Returns: ESP_OK; ESP_ERR_NO_MEM if an environment variable could not be
 * set; otherwise the error of esp_vfs_eventfd_register or
 * esp_pthread_set_cfg (e.g. ESP_ERR_INVALID_ARG).
 * Thread: one task, before the library is used.
 */
esp_err_t microroute_esp_init(void);

/*
 * Applies the menuconfig settings to a server that is not running:
 * server_set_workers (CONFIG_MICROROUTE_WORKERS),
 * server_set_max_connections (CONFIG_MICROROUTE_MAX_CONNECTIONS),
 * server_set_limits (CONFIG_MICROROUTE_MAX_HEADER_BYTES, _MAX_BODY_BYTES),
 * server_set_max_headers (CONFIG_MICROROUTE_MAX_HEADERS),
 * server_set_timeouts (CONFIG_MICROROUTE_HEADER_TIMEOUT_MS, _IDLE_TIMEOUT_MS,
 * _WRITE_TIMEOUT_MS), server_set_body_timeout (_BODY_TIMEOUT_MS) and
 * server_set_stack_size (CONFIG_MICROROUTE_WORKER_STACK_SIZE), in this
 * order, stopping at the first failure.
 *
 * Returns: MR_OK; else the code of the first setter that failed (MR_EINVAL
 * for a NULL server, MR_ESTATE if it is running); mr_last_error() says
 * which.
 * Thread: any thread, not concurrently with server_start.
 */
int microroute_esp_apply_config(mr_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* MICROROUTE_ESP_H */

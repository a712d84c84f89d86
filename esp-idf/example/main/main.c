/*
 * main.c: microroute on an ESP32. Joins a Wi-Fi network as a station, then
 * serves the routes of c_examples/demo.c that need no filesystem on port 80
 * (menuconfig: "microroute demo"). Open http://<the board's IP>/ for the list;
 * the IP is logged once the board has it.
 *
 * Left out from demo.c, because they need a filesystem: /template (Jinja2
 * templates are read from a folder, and the component builds without the
 * templates feature), /static and /download (files from a folder). The
 * upload route hashes the body instead of writing it to a file. The SSE page
 * is c_examples/sse.html, embedded in the firmware (EMBED_TXTFILES).
 *
 * The server's threads and limits come from menuconfig ("Component config ->
 * microroute"), applied by microroute_esp_apply_config. The clock of
 * /sse/clock shows 1970 until something (SNTP) sets the time.
 *
 * As in demo.c: a handler gets the request, the response to fill in and the
 * userdata given to server_route, and returns 0 (non-zero answers 500).
 * Strings from req_* are borrowed until the handler returns; strings given to
 * resp_* are copied. Handlers run on the worker threads, whose stack is
 * CONFIG_MICROROUTE_WORKER_STACK_SIZE: keep their buffers small.
 */
#define _DEFAULT_SOURCE 1 /* gmtime_r under -std=c99 (ESP-IDF builds in a GNU mode anyway) */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/task.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_wifi.h"
#include "nvs_flash.h"
#include "sdkconfig.h"

#include "microroute.h"
#include "microroute_esp.h"

static const char *TAG = "demo";

/* c_examples/sse.html, embedded by EMBED_TXTFILES in main/CMakeLists.txt
 * (ESP-IDF names the symbol after the file and adds a NUL). */
extern const char _binary_sse_html_start[];

static void sleep_ms(unsigned ms) {
    vTaskDelay(pdMS_TO_TICKS(ms));
}

static long long now_ms(void) {
    return (long long)xTaskGetTickCount() * portTICK_PERIOD_MS;
}

/* ------------------------------------------------------------------------
 * The index: an HTML page listing the routes.
 * ------------------------------------------------------------------------ */

static int index_page(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_html(resp,
        "<!doctype html>\n<title>microroute on ESP-IDF</title>\n"
        "<h1>microroute on ESP-IDF</h1>\n"
        "<h2>Response API (ASGI-style seed)</h2>\n<ul>\n"
        "<li><a href=\"/resp-head\">/resp-head</a>: status 418, a header, a cookie</li>\n"
        "<li><a href=\"/text\">/text</a>, <a href=\"/bytes\">/bytes</a>, "
        "<a href=\"/json\">/json</a>: bodies</li>\n"
        "<li><a href=\"/chain\">/chain</a>: several setters in a row</li>\n"
        "<li><a href=\"/redirect/internal\">/redirect/internal</a>, "
        "<a href=\"/redirect/external\">/redirect/external</a></li>\n"
        "<li><a href=\"/generator\">/generator</a>: streaming from a producer "
        "(a count every 0.5 s)</li>\n"
        "</ul>\n<h2>Answering later, from other threads</h2>\n<ul>\n"
        "<li><a href=\"/sse\">/sse</a>: a page showing the Server-Sent Events of "
        "<a href=\"/sse/clock?n=3\">/sse/clock?n=3</a> (a tick every second)</li>\n"
        "<li><a href=\"/job\">/job</a>: a long job finished by another thread</li>\n"
        "</ul>\n<h2>Response API (micro_Route seed)</h2>\n<ul>\n"
        "<li><a href=\"/send-header\">/send-header</a>: custom reason phrase</li>\n"
        "<li><a href=\"/stream\">/stream</a>: repeated sends</li>\n"
        "<li><a href=\"/mime\">/mime</a>: a MIME type</li>\n"
        "<li><a href=\"/admin\">/admin</a>: abort with 403</li>\n"
        "<li><a href=\"/close\">/close</a>: close the connection</li>\n"
        "<li><a href=\"/client-fd\">/client-fd</a>: the client socket</li>\n"
        "<li><a href=\"/moved\">/moved</a>: permanent redirect</li>\n"
        "</ul>\n<h2>Request API</h2>\n<ul>\n"
        "<li><a href=\"/users/42\">/users/42</a>: a route parameter</li>\n"
        "<li><a href=\"/search?q=micro+route\">/search?q=micro+route</a>: a query parameter</li>\n"
        "<li><a href=\"/headers\">/headers</a>: the request headers</li>\n"
        "<li><a href=\"/cookie\">/cookie</a>: a request cookie</li>\n"
        "<li><a href=\"/form\">/form</a>: a form (POST)</li>\n"
        "<li>POST /echo: the request body, sent back</li>\n"
        "<li>POST /upload: any size, streamed; its size and checksum back</li>\n"
        "</ul>\n");
}

/* ------------------------------------------------------------------------
 * The ASGI-style seed: set attributes of the response, the library sends it
 * when the handler returns.
 * ------------------------------------------------------------------------ */

/* resp.headers["X-Foo"] = "bar"; resp.status_code = 418; resp.cookies["its"] = "dict" */
static int resp_head(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    resp_set_header(resp, "X-Foo", "bar");
    resp_set_status(resp, 418);
    return resp_set_cookie(resp, "its", "dict");
}

/* resp.text = "hello!" */
static int text(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_text(resp, "hello!");
}

/* resp.content = b"hello!" */
static int bytes(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_content(resp, "hello!", 6);
}

/* resp.json.hello = "world!" */
static int json(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_json_set_str(resp, "hello", "world!");
}

/* resp.set_status(200).set_cookie("key", "value", secure=True)
 *     .set_text("long chain!").set_header("X-somehead", "value") */
static int chain(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_status(resp, 200)
        || resp_set_cookie_ex(resp, "key", "value", -1, NULL, NULL, MR_COOKIE_SECURE)
        || resp_set_text(resp, "long chain!")
        || resp_set_header(resp, "X-somehead", "value");
}

/* resp.redirect(view=Index): to the route named "index", 302 */
static int redirect_internal(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect_route(resp, "index");
}

/* resp.redirect(url="http://www.example.com") */
static int redirect_external(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect(resp, "http://www.example.com", 0);
}

/* resp.streaming = generate(): ten counts, one every 0.5 s, then
 * "Completed!". The producer runs on the library's blocking pool
 * (CONFIG_MICROROUTE_BLOCKING_MAX_THREADS threads at most), never on a
 * worker, so it may sleep. */
struct counter {
    int next; /* 0..9: the counts, 10: "Completed!", 11: the end */
};

static ptrdiff_t count_next(void *userdata, void *buf, size_t cap) {
    struct counter *c = userdata;
    int n;
    if (c->next > 10) return 0;
    if (c->next < 10) {
        sleep_ms(500);
        n = snprintf(buf, cap, "count: %d\n", c->next);
    } else {
        n = snprintf(buf, cap, "Completed!\n");
    }
    c->next++;
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int generator(mr_req *req, mr_resp *resp, void *userdata) {
    struct counter *c = malloc(sizeof *c);
    int rc;
    (void)req;
    (void)userdata;
    if (!c) return 1;
    c->next = 0;
    resp_set_header(resp, "content-type", "text/plain");
    rc = resp_stream(resp, count_next, c, free);
    if (rc != MR_OK) free(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * The micro_Route seed: send now, from inside the handler.
 * ------------------------------------------------------------------------ */

static int send_header(mr_req *req, mr_resp *resp, void *userdata) {
    static const char page[] = "<h1>sent by resp_send_header</h1>\n";
    (void)req;
    (void)userdata;
    resp_set_status(resp, 200);
    return resp_send_header(resp, "Very OK", page, sizeof page - 1);
}

static int stream(mr_req *req, mr_resp *resp, void *userdata) {
    int i, rc;
    (void)req;
    (void)userdata;
    for (i = 1; i <= 3; i++) {
        char line[32];
        snprintf(line, sizeof line, "<p>part %d</p>\n", i);
        if ((rc = resp_send(resp, line, strlen(line))) != MR_OK) return rc;
    }
    return MR_OK;
}

static int mime(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    resp_set_mime_type(resp, "application/xml");
    return resp_send_str(resp, "<note><to>you</to><body>hello</body></note>\n");
}

static int admin(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_abort(resp, 403, "<h1>Admins only</h1>\n", "Forbidden Zone");
}

static int close_connection(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_close(resp);
}

/* The lwIP socket of the connection (do not read, write or close it). */
static int client_fd(mr_req *req, mr_resp *resp, void *userdata) {
    char line[96];
    int fd = resp_client_fd(resp);
    (void)userdata;
    if (fd < 0) return fd;
    snprintf(line, sizeof line, "your connection from %s is fd %d\n", req_remote_addr(req), fd);
    return resp_set_text(resp, line);
}

static int moved(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_redirect(resp, "/text", 301);
}

/* ------------------------------------------------------------------------
 * The request API.
 * ------------------------------------------------------------------------ */

static int user(mr_req *req, mr_resp *resp, void *userdata) {
    char line[160];
    (void)userdata;
    snprintf(line, sizeof line, "user %s\n", req_param(req, "id"));
    return resp_set_text(resp, line);
}

static int search(mr_req *req, mr_resp *resp, void *userdata) {
    const char *q = req_query_param(req, "q");
    char line[160];
    (void)userdata;
    if (!q) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "add ?q=something\n");
    }
    snprintf(line, sizeof line, "searching for: %s\n", q);
    return resp_set_text(resp, line);
}

static int headers(mr_req *req, mr_resp *resp, void *userdata) {
    size_t i, n = req_header_count(req);
    const char *name, *value, *agent;
    (void)userdata;
    resp_set_mime_type(resp, "text/plain; charset=utf-8");
    for (i = 0; i < n; i++) {
        if (req_header_at(req, i, &name, &value) != MR_OK) break;
        resp_send_str(resp, name);
        resp_send_str(resp, ": ");
        resp_send_str(resp, value);
        resp_send_str(resp, "\n");
    }
    agent = req_header(req, "user-agent");
    resp_send_str(resp, "-- user agent: ");
    resp_send_str(resp, agent ? agent : "(none)");
    return resp_send_str(resp, "\n");
}

static int cookie(mr_req *req, mr_resp *resp, void *userdata) {
    const char *theme = req_cookie(req, "theme");
    char line[128];
    (void)userdata;
    if (!theme) {
        resp_set_cookie(resp, "theme", "dark");
        return resp_set_text(resp, "no theme cookie yet: set theme=dark, reload\n");
    }
    snprintf(line, sizeof line, "theme cookie: %s\n", theme);
    return resp_set_text(resp, line);
}

static int form_page(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_html(resp,
        "<!doctype html>\n<form method=\"post\" action=\"/form\">\n"
        "<input name=\"name\" value=\"world\"> <button>Send</button>\n</form>\n");
}

static int form_post(mr_req *req, mr_resp *resp, void *userdata) {
    const char *name = req_form_value(req, "name");
    char line[160];
    (void)userdata;
    if (!name) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "send a urlencoded form with a \"name\" field\n");
    }
    snprintf(line, sizeof line, "hello, %s!\n", name);
    return resp_set_text(resp, line);
}

/* POST /echo: the body back (at most CONFIG_MICROROUTE_MAX_BODY_BYTES). */
static int echo(mr_req *req, mr_resp *resp, void *userdata) {
    size_t len;
    const uint8_t *body = req_body(req, &len);
    const char *type = req_header(req, "Content-Type");
    int rc;
    (void)userdata;
    if (!body) return 1;
    rc = resp_set_content(resp, body, len);
    if (rc == MR_OK && type) rc = resp_set_mime_type(resp, type);
    return rc;
}

/* POST /upload: a body of any size read with req_read in 1 KiB pieces (an
 * OTA image would be written to its partition here); the answer gives its
 * size and FNV-1a 64 checksum. */
static int upload(mr_req *req, mr_resp *resp, void *userdata) {
    unsigned char buf[1024];
    unsigned long long size = 0, hash = 0xcbf29ce484222325ULL;
    char line[96];
    ptrdiff_t n, i;
    (void)userdata;
    while ((n = req_read(req, buf, sizeof buf)) > 0) {
        for (i = 0; i < n; i++) hash = (hash ^ buf[i]) * 0x100000001b3ULL;
        size += (unsigned long long)n;
    }
    if (n < 0) return 1;
    snprintf(line, sizeof line, "size=%llu fnv1a64=%016llx\n", size, hash);
    return resp_set_text(resp, line);
}

/* ------------------------------------------------------------------------
 * Answering later, from another thread: resp_defer. The server runs for as
 * long as the board does, so unlike demo.c nothing waits for these threads.
 * ------------------------------------------------------------------------ */

/* A detached pthread with a stack of its own: resp_sse_event and
 * resp_finish run library code on it. */
static int start_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    pthread_attr_t attr;
    int err;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8192);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return err;
}

struct clock {
    mr_resp *resp; /* the deferred handle */
    int ticks;
};

static void *clock_thread(void *arg) {
    struct clock *c = arg;
    int i;
    for (i = 1; i <= c->ticks; i++) {
        char now[32], id[16];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(id, sizeof id, "%d", i);
        if (resp_sse_event(c->resp, "tick", now, id) != MR_OK) break; /* client gone */
        if (i < c->ticks) sleep_ms(1000);
    }
    resp_finish(c->resp);
    free(c);
    return NULL;
}

/* GET /sse/clock?n=10: "event: tick" with the time, once a second, n times. */
static int sse_clock(mr_req *req, mr_resp *resp, void *userdata) {
    const char *n = req_query_param(req, "n");
    long ticks = n ? strtol(n, NULL, 10) : 10;
    struct clock *c;
    (void)userdata;
    if (ticks < 1 || ticks > 600) {
        resp_set_status(resp, 400);
        return resp_set_text(resp, "n must be within 1..600\n");
    }
    if (!(c = malloc(sizeof *c))) return 1;
    c->ticks = (int)ticks;
    if (!(c->resp = resp_defer(resp))) {
        free(c);
        return 1;
    }
    resp_sse_heartbeat(c->resp, 15);
    if (start_thread(clock_thread, c) != 0) {
        resp_set_status(c->resp, 503);
        resp_set_text(c->resp, "no thread for the clock\n");
        resp_finish(c->resp);
        free(c);
    }
    return 0;
}

/* GET /sse: the page that shows the clock's events. */
static int sse_page(mr_req *req, mr_resp *resp, void *userdata) {
    (void)req;
    (void)userdata;
    return resp_set_html(resp, _binary_sse_html_start);
}

struct job {
    mr_resp *resp; /* the deferred handle */
    long long started;
};

static void *job_thread(void *arg) {
    struct job *j = arg;
    char body[64];
    sleep_ms(1000); /* the work */
    snprintf(body, sizeof body, "{\"job\":\"done\",\"ms\":%lld}", now_ms() - j->started);
    resp_set_json(j->resp, body);
    resp_finish(j->resp);
    free(j);
    return NULL;
}

/* GET /job: a 1 s job done by another thread, which then answers. */
static int job(mr_req *req, mr_resp *resp, void *userdata) {
    struct job *j = malloc(sizeof *j);
    (void)req;
    (void)userdata;
    if (!j) return 1;
    j->started = now_ms();
    if (!(j->resp = resp_defer(resp))) {
        free(j);
        return 1;
    }
    if (start_thread(job_thread, j) != 0) {
        resp_set_status(j->resp, 503);
        resp_set_text(j->resp, "no thread for the job\n");
        resp_finish(j->resp);
        free(j);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Logging and the routes.
 * ------------------------------------------------------------------------ */

/* One access line per request, warnings and errors, from worker threads. */
static void on_log(void *userdata, int level, const char *line) {
    (void)userdata;
    if (level == MR_LOG_ERROR) ESP_LOGE(TAG, "%s", line);
    else if (level == MR_LOG_WARN) ESP_LOGW(TAG, "%s", line);
    else ESP_LOGI(TAG, "%s", line);
}

static const struct {
    const char *method, *pattern;
    mr_handler handler;
} routes[] = {
    {"GET", "/resp-head", resp_head},
    {"GET", "/text", text},
    {"GET", "/bytes", bytes},
    {"GET", "/json", json},
    {"GET", "/chain", chain},
    {"GET", "/redirect/internal", redirect_internal},
    {"GET", "/redirect/external", redirect_external},
    {"GET", "/generator", generator},
    {"GET", "/send-header", send_header},
    {"GET", "/stream", stream},
    {"GET", "/mime", mime},
    {"GET", "/admin", admin},
    {"GET", "/close", close_connection},
    {"GET", "/client-fd", client_fd},
    {"GET", "/moved", moved},
    {"GET", "/users/{id}", user},
    {"GET", "/search", search},
    {"GET", "/headers", headers},
    {"GET", "/cookie", cookie},
    {"GET", "/form", form_page},
    {"POST", "/form", form_post},
    {"POST", "/echo", echo},
    {"POST", "/upload", upload},
    {"GET", "/sse", sse_page},
    {"GET", "/sse/clock", sse_clock},
    {"GET", "/job", job},
};

/* The server lives as long as the board runs. */
static mr_server *server;

static void start_server(void) {
    char addr[32];
    size_t i;
    int rc;

    ESP_ERROR_CHECK(microroute_esp_init()); /* eventfd VFS, thread stacks */
    server = server_new();
    if (!server) {
        ESP_LOGE(TAG, "server_new failed");
        return;
    }
    if ((rc = microroute_esp_apply_config(server)) != MR_OK) {
        ESP_LOGE(TAG, "menuconfig settings refused: %s (%s)", mr_strerror(rc), mr_last_error());
        return;
    }
    snprintf(addr, sizeof addr, "0.0.0.0:%d", CONFIG_DEMO_PORT);
    if ((rc = server_listen(server, addr)) != MR_OK) {
        ESP_LOGE(TAG, "bad address %s: %s", addr, mr_last_error());
        return;
    }
    if ((rc = server_route_named(server, "index", "GET", "/", index_page, NULL)) != MR_OK) {
        ESP_LOGE(TAG, "route /: %s", mr_last_error());
        return;
    }
    for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        rc = server_route(server, routes[i].method, routes[i].pattern, routes[i].handler, NULL);
        if (rc != MR_OK) {
            ESP_LOGE(TAG, "route %s: %s", routes[i].pattern, mr_last_error());
            return;
        }
    }
    server_set_log(server, on_log, NULL);
    if ((rc = server_start(server)) != MR_OK) {
        ESP_LOGE(TAG, "cannot start on %s: %s (%s)", addr, mr_strerror(rc), mr_last_error());
        return;
    }
    ESP_LOGI(TAG, "microroute %s listening on port %d", mr_version(), server_port(server, 0));
}

/* ------------------------------------------------------------------------
 * Wi-Fi station: connect, reconnect whenever the link drops, and tell
 * app_main once an address was obtained.
 * ------------------------------------------------------------------------ */

#define CONNECTED_BIT (1u << 0)
static EventGroupHandle_t wifi_events;

static void on_wifi_event(void *arg, esp_event_base_t base, int32_t id, void *data) {
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        esp_wifi_connect();
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        ESP_LOGW(TAG, "Wi-Fi disconnected, reconnecting");
        esp_wifi_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        const ip_event_got_ip_t *event = data;
        ESP_LOGI(TAG, "got address " IPSTR ": open http://" IPSTR ":%d/",
                 IP2STR(&event->ip_info.ip), IP2STR(&event->ip_info.ip), CONFIG_DEMO_PORT);
        xEventGroupSetBits(wifi_events, CONNECTED_BIT);
    }
}

static void wifi_connect(void) {
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    wifi_config_t config;

    wifi_events = xEventGroupCreate();
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    esp_netif_create_default_wifi_sta();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(WIFI_EVENT, ESP_EVENT_ANY_ID,
                                                        on_wifi_event, NULL, NULL));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_GOT_IP,
                                                        on_wifi_event, NULL, NULL));

    memset(&config, 0, sizeof config);
    strncpy((char *)config.sta.ssid, CONFIG_DEMO_WIFI_SSID, sizeof config.sta.ssid);
    strncpy((char *)config.sta.password, CONFIG_DEMO_WIFI_PASSWORD, sizeof config.sta.password);
    /* An empty password means an open network; otherwise refuse anything
     * weaker than WPA2. */
    config.sta.threshold.authmode = CONFIG_DEMO_WIFI_PASSWORD[0] ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &config));
    ESP_ERROR_CHECK(esp_wifi_start());

    ESP_LOGI(TAG, "joining Wi-Fi network \"%s\"", CONFIG_DEMO_WIFI_SSID);
    xEventGroupWaitBits(wifi_events, CONNECTED_BIT, pdFALSE, pdTRUE, portMAX_DELAY);
}

void app_main(void) {
    esp_err_t err = nvs_flash_init(); /* the Wi-Fi driver keeps calibration data in NVS */
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    wifi_connect();
    start_server();
    /* app_main may return: the server runs on its own threads. */
}

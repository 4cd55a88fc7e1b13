/* herald-echo: a WebSocket echo server on the same connection layer as the
 * notifier (lib/net). Every message is sent back unchanged, text as text and
 * binary as binary, on any path; a plain HTTP GET answers a short text. It
 * exists for conformance suites (Autobahn-style) and proxy tests, so all of
 * RFC 6455 handling (fragmentation, control frames, UTF-8, close codes,
 * permessage-deflate) is lib/net's and lib/proto's, exercised end to end. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "core/flags.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/server.h"
#include "proto/http_head.h"

static const hr_flag_spec echo_flags[] = {
    {"listen", HR_FLAG_STRING, "127.0.0.1:9001", "ADDR:PORT", "address to listen on", 0, 0},
    /* A boolean like the notifier's: --deflate, --deflate=off, --deflate off,
     * --deflate=false all work in both programs. */
    {"deflate", HR_FLAG_BOOL, "on", NULL,
     "accept permessage-deflate (RFC 7692): on|off or true|false", 0, 0},
    {"max-message-bytes", HR_FLAG_SIZE, "16777216", "BYTES",
     "largest message accepted (larger: close 1009)", 1, (int64_t)1 << 31},
    {"log-level", HR_FLAG_STRING, "info", "LEVEL", "debug, info, warn, error or off", 0, 0},
};

typedef struct echo_app {
    uv_loop_t *loop;
    hr_server *server;
    uv_signal_t sigterm, sigint;
    bool stopping;
} echo_app;

static void echo_on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    const int rc = hr_conn_send(c, opcode, data, len);
    if (rc == HR_ENOMEM)
        hr_conn_close(c, 1011, "out of memory");
}

static void echo_on_request(hr_conn *c, const hr_http_head *h, const uint8_t *body, size_t len)
{
    static const char text[] = "herald-echo: connect with WebSocket on any path; every message "
                               "comes back unchanged\n";
    if (h->method != 1 && h->method != 2) { /* llhttp HTTP_GET, HTTP_HEAD */
        hr_conn_respond(c, 405, "text/plain; charset=utf-8", "method not allowed\n", 19,
                        "Allow: GET, HEAD\r\n");
        return;
    }
    hr_conn_respond(c, 200, "text/plain; charset=utf-8", text, sizeof text - 1, NULL);
}

static const hr_conn_callbacks echo_callbacks = {
    .on_request = echo_on_request,
    .on_message = echo_on_message,
};

static void on_stopped(hr_server *s, void *arg)
{
    echo_app *app = arg;
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    hr_log(HR_LOG_INFO, "echo", "stopped");
}

static void on_signal(uv_signal_t *h, int signum)
{
    echo_app *app = h->data;
    if (app->stopping)
        return;
    app->stopping = true;
    hr_log(HR_LOG_INFO, "echo", "shutting down signal=%d", signum);
    hr_server_shutdown(app->server, 1001, on_stopped, app);
}

static int configure(const hr_flags *f, hr_server_config *cfg)
{
    hr_log_level lvl;
    if (hr_log_parse_level(hr_flags_str(f, "log-level"), &lvl) != 0) {
        fprintf(stderr, "herald-echo: --log-level: expected debug|info|warn|error|off, got '%s'\n",
                hr_flags_str(f, "log-level"));
        return 2;
    }
    hr_log_threshold = lvl;
    hr_server_config_default(cfg);
    cfg->deflate = hr_flags_bool(f, "deflate");
    cfg->max_message = (size_t)hr_flags_num(f, "max-message-bytes");
    cfg->max_body = 64 * 1024;
    /* An echo queues what it reads: room for a few maximal messages, so a
     * suite's large-message cases are not mistaken for a slow reader. */
    const size_t want = 2 * cfg->max_message + 65536;
    if (want > cfg->send_queue_limit)
        cfg->send_queue_limit = want;
    return 0;
}

static int run(const hr_flags *f)
{
    hr_server_config cfg;
    int rc = configure(f, &cfg);
    if (rc != 0)
        return rc;
    echo_app app = {.loop = uv_default_loop()};
    app.server = hr_server_new(app.loop, &cfg, &echo_callbacks, &app);
    if (app.server == NULL) {
        fprintf(stderr, "herald-echo: out of memory\n");
        return 1;
    }
    const char *addr = hr_flags_str(f, "listen");
    rc = hr_server_listen(app.server, addr);
    if (rc != 0) {
        fprintf(stderr, "herald-echo: --listen %s: %s\n", addr,
                rc > -4096 ? uv_strerror(rc) : hr_err_str(rc));
        hr_server_shutdown(app.server, 1001, NULL, NULL);
        uv_run(app.loop, UV_RUN_DEFAULT);
        hr_server_free(app.server);
        return rc == HR_EINVAL ? 2 : 1;
    }
    uv_signal_init(app.loop, &app.sigterm);
    uv_signal_init(app.loop, &app.sigint);
    app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    hr_log(HR_LOG_INFO, "echo", "listening addr=%s port=%d deflate=%s max_message=%zu", addr,
           hr_server_port(app.server, 0), cfg.deflate ? "on" : "off", cfg.max_message);
    uv_run(app.loop, UV_RUN_DEFAULT);
    hr_server_free(app.server);
    uv_loop_close(app.loop);
    return 0;
}

int main(int argc, char **argv)
{
    extern char **environ;
    hr_flags f = {0};
    char err[256];
    const int rc = hr_flags_parse(&f, "herald-echo", echo_flags, HR_ARRAY_LEN(echo_flags), argc,
                                  argv, environ, err, sizeof err);
    int code = 0;
    if (rc == HR_FLAGS_HELP) {
        hr_flags_write_help(stdout, "herald-echo", "WebSocket echo server for conformance tests",
                            echo_flags, HR_ARRAY_LEN(echo_flags));
    } else if (rc == HR_FLAGS_VERSION) {
        printf("herald-echo %s\n", HERALD_VERSION);
    } else if (rc != HR_FLAGS_RUN) {
        fprintf(stderr, "%s\n", rc == HR_EINVAL ? err : "herald-echo: out of memory");
        code = 2;
    } else {
        code = run(&f);
    }
    hr_flags_deinit(&f);
    return code;
}

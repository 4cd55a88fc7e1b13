/* herald-notifier: WebSocket fan-out with per-channel history and resume,
 * fed by a broker, with an internal HTTP API (SPEC §1-3). main() parses the
 * configuration (exit 2 on any error, one line), runs one event loop until
 * SIGTERM/SIGINT has closed every client with 1001, and exits 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>
#include <uv.h>

#include "app.h"
#include "config.h"
#include "loops.h"
#include "core/err.h"
#include "core/log.h"

extern char **environ;

static int run(const nf_config *cfg)
{
    uv_loop_t uv;
    if (uv_loop_init(&uv) != 0) {
        fprintf(stderr, "herald-notifier: cannot create the event loop\n");
        return 1;
    }
    nf_loop l;
    char err[512];
    int status = 0;
    nf_shards *shards = NULL; /* the other loops (--loops N) */
    int rc = nf_loop_init(&l, &uv, cfg, err, sizeof err);
    if (rc == 0)
        rc = nf_loop_start(&l, err, sizeof err);
    if (rc == 0 && cfg->loops > 1 &&
        (shards = nf_shards_start(&l, cfg->loops, err, sizeof err)) == NULL)
        rc = HR_ENOMEM;
    if (rc != 0) {
        /* A bad --broker URL or --listen address is a configuration error. */
        fprintf(stderr, "%s\n", err);
        status = rc == HR_EINVAL ? 2 : 1;
        nf_loop_stop(&l);
    }
    uv_run(&uv, UV_RUN_DEFAULT);
    nf_shards_free(shards); /* joins the threads: every shard has stopped */
    nf_loop_deinit(&l);
    if (uv_loop_close(&uv) != 0)
        hr_log(HR_LOG_WARN, "notifier", "event loop closed with handles left");
    return status;
}

int main(int argc, char **argv)
{
    nf_config cfg;
    char err[512];
    const int rc = nf_config_load(&cfg, argc, argv, environ, err, sizeof err);
    int status = 0;
    if (rc == HR_FLAGS_HELP) {
        nf_config_write_help(stdout);
    } else if (rc == HR_FLAGS_VERSION) {
        printf("herald-notifier %s\n", HERALD_VERSION);
    } else if (rc != 0) {
        fprintf(stderr, "%s\n", rc == HR_ENOMEM ? "herald-notifier: out of memory" : err);
        status = 2;
    } else {
        hr_log_threshold = cfg.log_level;
        /* jansson seeds its hash function on first use; do it before any
         * loop thread starts, so no two threads race to do it. */
        json_object_seed(0);
        signal(SIGPIPE, SIG_IGN);
        status = run(&cfg);
    }
    nf_config_deinit(&cfg);
    return status;
}

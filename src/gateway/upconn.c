/* The plain upstream: hr_client events turned into gw_upstream events, and
 * gw_upstream ops turned into hr_conn calls (upconn.h). Each message down
 * becomes a gw_upmsg for one session (not shared: the client's own
 * connection frames and compresses it). */
#include "upconn.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"

typedef struct gw_upconn {
    hr_conn *c;
    const gw_upstream_events *ev;
    void *arg;
    size_t queue_limit;
    bool opened;
    bool detached; /* the proxy closed it: events stop, on_close frees */
    char server[64];
} gw_upconn;

static void on_open(hr_conn *c)
{
    gw_upconn *u = hr_conn_app_data(c);
    u->opened = true;
    if (!u->detached)
        u->ev->on_open(u->arg);
}

static void on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    gw_upconn *u = hr_conn_app_data(c);
    if (u->detached)
        return;
    gw_upmsg m;
    gw_upmsg_init(&m, opcode, data, len, false);
    u->ev->on_message(u->arg, &m);
    gw_upmsg_deinit(&m);
}

static void on_drain(hr_conn *c)
{
    gw_upconn *u = hr_conn_app_data(c);
    if (!u->detached)
        u->ev->on_drain(u->arg);
}

static void on_close(hr_conn *c, int code)
{
    gw_upconn *u = hr_conn_app_data(c);
    if (!u->detached) {
        gw_upstream_end end = {.code = code, .opened = u->opened};
        if (u->opened) {
            const char *why = hr_conn_close_reason(c, &end.reason_len);
            end.reason = (const uint8_t *)why;
        } else {
            end.status = hr_client_status(c);
            if (end.status == 0)
                hr_log(HR_LOG_WARN, "gateway", "upstream connect failed server=%s", u->server);
        }
        u->ev->on_close(u->arg, &end);
    }
    free(u);
}

static const hr_conn_callbacks callbacks = {
    .on_open = on_open,
    .on_message = on_message,
    .on_drain = on_drain,
    .on_close = on_close,
};

static int up_send(void *h, int opcode, const uint8_t *data, size_t len)
{
    gw_upconn *u = h;
    if (hr_conn_send(u->c, opcode, data, len) != 0)
        return HR_ECLOSED; /* overflowing or closing: its on_close follows */
    return hr_conn_queued_bytes(u->c) >= u->queue_limit ? GW_UPSTREAM_FULL : 0;
}

static void up_close(void *h, int code)
{
    gw_upconn *u = h;
    u->detached = true;
    if (u->opened)
        hr_conn_close(u->c, code, NULL);
    else
        hr_conn_abort(u->c);
}

static void up_credit(void *h, size_t n)
{
    (void)h;
    (void)n; /* TCP is the window here: pause instead */
}

static void up_pause(void *h, bool pause)
{
    gw_upconn *u = h;
    hr_conn_pause(u->c, pause);
}

static size_t up_queued(const void *h)
{
    const gw_upconn *u = h;
    return hr_conn_queued_bytes(u->c);
}

static const char *up_protocol(const void *h)
{
    const gw_upconn *u = h;
    return hr_client_protocol(u->c);
}

const gw_upstream_ops gw_upconn_ops = {
    .send = up_send,
    .close = up_close,
    .credit = up_credit,
    .pause = up_pause,
    .queued = up_queued,
    .protocol = up_protocol,
};

int gw_upconn_open(hr_server *ctx, const char *addr, const hr_client_config *cc,
                   size_t queue_limit, const gw_upstream_events *ev, void *arg, void **out)
{
    gw_upconn *u = calloc(1, sizeof *u);
    if (u == NULL)
        return HR_ENOMEM;
    u->ev = ev;
    u->arg = arg;
    u->queue_limit = queue_limit;
    snprintf(u->server, sizeof u->server, "%s", addr);
    const int rc = hr_client_connect(ctx, addr, cc, &callbacks, u, &u->c);
    if (rc != 0) {
        free(u);
        return rc;
    }
    *out = u;
    return 0;
}

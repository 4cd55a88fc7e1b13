/* The Pusher HTTP API: signature first (constant-time, 600 s clock skew),
 * then the endpoint. Events become Herald publish items (pusher_api.h in
 * lib/proto maps names and data) and go through nf_api_publish, so they
 * get broker ids and history like any other event and reach WebSocket,
 * SSE and Pusher clients alike. The reply is Pusher's: {} on success, a
 * short text with 400/401/404/405 otherwise (the libraries show it). */
#include "pusher_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/http_query.h"
#include "proto/pusher_api.h"
#include "proto/pusher_sign.h"

static void text(hr_conn *c, int status, const char *msg)
{
    char body[256];
    const int n = snprintf(body, sizeof body, "%s\n", msg);
    hr_conn_respond(c, status, "text/plain; charset=utf-8", body,
                    n > 0 && (size_t)n < sizeof body ? (size_t)n : 0, NULL);
}

static bool method_is(const hr_http_head *h, const char *m)
{
    return h->method_len == strlen(m) && memcmp(h->method_str, m, h->method_len) == 0;
}

/* Checks the signed query; answers and returns false when it fails. */
static bool signed_ok(const nf_config *cfg, hr_conn *c, const hr_http_head *head, size_t plen,
                      const char *query, size_t qlen, const uint8_t *body, size_t len)
{
    const hr_pusher_api_req req = {.method = head->method_str,
                                   .method_len = head->method_len,
                                   .path = head->target,
                                   .path_len = plen,
                                   .query = query,
                                   .query_len = qlen,
                                   .body = body,
                                   .body_len = len};
    const char *why = NULL;
    const int rc =
        hr_pusher_api_verify(&req, cfg->pusher_key, cfg->pusher_secret, (int64_t)time(NULL), &why);
    if (rc == 0)
        return true;
    if (rc == HR_EDENIED) {
        char msg[160];
        snprintf(msg, sizeof msg, "Invalid signature: %s", why != NULL ? why : "refused");
        text(c, 401, msg);
    } else {
        text(c, rc == HR_ENOMEM ? 503 : 400, rc == HR_ENOMEM ? "out of memory" : "invalid query");
    }
    return false;
}

static void publish_events(nf_loop *l, hr_conn *c, const uint8_t *body, size_t len, bool batch)
{
    hr_pub_batch b;
    char **exclude = NULL;
    char why[200];
    const int rc = hr_pusher_api_parse_events(body, len, batch, &b, &exclude, why, sizeof why);
    if (rc != 0) {
        l->stats.publish_rejected++;
        text(c, rc == HR_ENOMEM ? 503 : 400, rc == HR_ENOMEM ? "out of memory" : why);
        return;
    }
    /* socket_id travels on the record through the broker: every loop and
     * instance leaves that Pusher connection out (pusher.c send_event). */
    for (size_t i = 0; i < b.n_items; i++)
        if (exclude[i] != NULL) {
            b.items[i].exclude = exclude[i];
            b.items[i].exclude_len = strlen(exclude[i]);
            exclude[i] = NULL; /* the batch owns it now */
        }
    nf_api_publish(l, c, &b, true);
    hr_pusher_api_exclude_free(exclude, HR_PUSHER_API_MAX_BATCH);
    hr_publish_batch_deinit(&b);
}

bool nf_pusher_api_request(nf_loop *l, hr_conn *c, const hr_http_head *head, const uint8_t *body,
                           size_t len)
{
    const nf_config *cfg = l->cfg;
    if (cfg->pusher_app_id == NULL)
        return false;
    size_t plen, qlen;
    const char *query;
    hr_http_query_split(head->target, head->target_len, &plen, &query, &qlen);
    hr_pusher_api_route route;
    char channel[HR_PUSHER_CHANNEL_MAX + 1];
    if (hr_pusher_api_match(head->target, plen, cfg->pusher_app_id, &route, channel) != 0) {
        text(c, 404, "Unknown app or endpoint");
        return true;
    }
    const bool post = route == HR_PUSHER_API_EVENTS || route == HR_PUSHER_API_BATCH;
    if (!method_is(head, post ? "POST" : "GET")) {
        text(c, 405, post ? "Use POST" : "Use GET");
        return true;
    }
    if (!signed_ok(cfg, c, head, plen, query, qlen, body, len)) {
        l->stats.publish_rejected += post;
        return true;
    }
    if (post)
        publish_events(l, c, body, len, route == HR_PUSHER_API_BATCH);
    else
        text(c, 501, "Channel queries are not served yet");
    return true;
}

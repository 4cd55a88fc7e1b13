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
#include "cluster.h"
#include "occupancy.h"
#include "proto/pusher.h"
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

/* ---- channel queries ---- */

/* Sends a reply built by lib/proto/pusher_api.c's writers (body malloc'd,
 * freed here). The names come from the notifier's own tables, so a refusal
 * means out of memory or a table bug: 500/503, never a half reply. */
static void reply(hr_conn *c, int rc, char *body, size_t len)
{
    if (rc != 0) {
        text(c, rc == HR_ENOMEM ? 503 : 500, rc == HR_ENOMEM ? "out of memory" : "internal error");
        return;
    }
    hr_conn_respond(c, 200, "application/json", body, len, NULL);
    free(body);
}

/* The info attributes asked for (?info=user_count,subscription_count). */
typedef struct info_want {
    bool users, subs;
} info_want;

static int read_info(const hr_http_head *head, info_want *w)
{
    char info[128];
    const int rc =
        hr_http_query_get(head->target, head->target_len, "info", info, sizeof info, NULL);
    *w = (info_want){0};
    if (rc < 0)
        return rc;
    for (char *save = NULL, *t = rc == 1 ? strtok_r(info, ",", &save) : NULL; t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        w->users |= strcmp(t, "user_count") == 0;
        w->subs |= strcmp(t, "subscription_count") == 0;
    }
    return 0;
}

/* GET /apps/<id>/channels: occupied channels on this notifier (Pusher
 * names), and presence channels with members anywhere. A channel found in
 * both tables is listed once (the writer keeps one key per name). */
typedef struct list_ctx {
    nf_loop *loop;
    const char *prefix;
    hr_pusher_channel_info *chs; /* names malloc'd */
    size_t n, cap;
    bool oom;
} list_ctx;

static void list_one(list_ctx *x, const char *pusher_name)
{
    if (x->oom || strncmp(pusher_name, x->prefix, strlen(x->prefix)) != 0)
        return;
    if (x->n == x->cap) {
        const size_t cap = x->cap > 0 ? x->cap * 2 : 16;
        hr_pusher_channel_info *grown = realloc(x->chs, cap * sizeof *grown);
        if (grown == NULL) {
            x->oom = true;
            return;
        }
        x->chs = grown;
        x->cap = cap;
    }
    char *name = strdup(pusher_name);
    if (name == NULL) {
        x->oom = true;
        return;
    }
    const bool presence =
        hr_pusher_channel_kind(name, strlen(name)) == HR_PUSHER_PRESENCE;
    x->chs[x->n++] = (hr_pusher_channel_info){
        .name = name,
        .user_count = presence ? nf_cluster_user_count(x->loop, name) : 0,
    };
}

static void list_herald(void *arg, const char *name, size_t count)
{
    (void)count;
    char p[HR_PUSHER_CHANNEL_MAX + 1];
    if (hr_pusher_channel_from_herald(name, strlen(name), p) > 0)
        list_one(arg, p);
}

static void list_presence(void *arg, const char *name, size_t users)
{
    (void)users;
    list_one(arg, name);
}

static void query_channels(nf_loop *l, hr_conn *c, const hr_http_head *head)
{
    char prefix[HR_PUSHER_CHANNEL_MAX + 1] = "";
    info_want want;
    if (hr_http_query_get(head->target, head->target_len, "filter_by_prefix", prefix, sizeof prefix,
                          NULL) < 0 ||
        read_info(head, &want) != 0) {
        text(c, 400, "invalid query");
        return;
    }
    if (want.users && strncmp(prefix, "presence-", 9) != 0) {
        text(c, 400, "info=user_count needs filter_by_prefix=presence-");
        return;
    }
    list_ctx x = {.loop = l, .prefix = prefix};
    nf_occupancy_each(list_herald, &x);
    nf_cluster_each_channel(l, list_presence, &x);
    char *body = NULL;
    size_t len = 0;
    const int rc = x.oom ? HR_ENOMEM
                         : hr_pusher_api_write_channels(x.chs, x.n, want.users, &body, &len);
    for (size_t i = 0; i < x.n; i++)
        free((char *)x.chs[i].name);
    free(x.chs);
    reply(c, rc, body, len);
}

/* GET /apps/<id>/channels/<name>: occupied, and the counts asked for
 * (subscription_count on this notifier, user_count cluster-wide). */
static void query_channel(nf_loop *l, hr_conn *c, const hr_http_head *head, const char *name)
{
    char h[HR_CHANNEL_MAX + 1];
    info_want w;
    if (read_info(head, &w) != 0 || hr_pusher_channel_to_herald(name, strlen(name), h) < 0) {
        text(c, 400, "invalid channel or query");
        return;
    }
    const bool presence = hr_pusher_channel_kind(name, strlen(name)) == HR_PUSHER_PRESENCE;
    if (w.users && !presence) {
        text(c, 400, "user_count is only for presence channels");
        return;
    }
    const hr_pusher_channel_info ch = {
        .name = name,
        .subscription_count = nf_occupancy_get(h),
        .user_count = presence ? nf_cluster_user_count(l, name) : 0,
    };
    char *body = NULL;
    size_t len = 0;
    const int rc = hr_pusher_api_write_channel(&ch, w.subs, w.users, &body, &len);
    reply(c, rc, body, len);
}

/* GET /apps/<id>/channels/<name>/users: a presence channel's members
 * across every instance. */
static void query_users(nf_loop *l, hr_conn *c, const char *name)
{
    if (hr_pusher_channel_kind(name, strlen(name)) != HR_PUSHER_PRESENCE) {
        text(c, 400, "users are only listed for presence channels");
        return;
    }
    const size_t n = nf_cluster_user_count(l, name);
    hr_pusher_member *m = n > 0 ? calloc(n, sizeof *m) : NULL;
    const char **ids = n > 0 ? calloc(n, sizeof *ids) : NULL;
    char *body = NULL;
    size_t len = 0;
    int rc = HR_ENOMEM;
    if (n == 0 || (m != NULL && ids != NULL)) {
        const size_t got = n > 0 ? nf_cluster_members(l, name, NULL, m, n) : 0;
        for (size_t i = 0; i < got; i++)
            ids[i] = m[i].user_id;
        rc = hr_pusher_api_write_users(ids, got, &body, &len);
    }
    free(ids);
    free(m);
    reply(c, rc, body, len);
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
    else if (route == HR_PUSHER_API_CHANNELS)
        query_channels(l, c, head);
    else if (route == HR_PUSHER_API_CHANNEL)
        query_channel(l, c, head, channel);
    else
        query_users(l, c, channel);
    return true;
}

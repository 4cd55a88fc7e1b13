/* The notifier's HTTP API (see api.h): a small routing table, the publish
 * path through the broker, the health endpoints and the metrics page.
 * Error bodies are JSON {"error":code,"message":text}. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "cluster.h"
#include "link.h"
#include "loops.h"
#include "proto/http_query.h"
#include "proto/presence_record.h"
#include "proto/publish.h"
#include "proto/token.h"

#define JSON "application/json"

static void respond_error(hr_conn *c, int status, const char *code, const char *message,
                          const char *extra)
{
    char *json = NULL;
    size_t len = 0;
    if (hr_publish_write_error(code, message, &json, &len) != 0) {
        hr_conn_respond(c, 500, NULL, NULL, 0, NULL);
        return;
    }
    hr_conn_respond(c, status, JSON, json, len, extra);
    free(json);
}

static bool method_is(const hr_http_head *h, const char *m)
{
    return h->method_len == strlen(m) && memcmp(h->method_str, m, h->method_len) == 0;
}

/* Compares without an early exit, so the time taken says nothing about
 * where the strings differ (only about the length of the key). */
static bool key_equal(const char *given, size_t glen, const char *key)
{
    const size_t klen = strlen(key);
    unsigned diff = glen != klen;
    for (size_t i = 0; i < klen; i++)
        diff |=
            (unsigned)(unsigned char)key[i] ^ (unsigned)(i < glen ? (unsigned char)given[i] : 0);
    return diff == 0;
}

static bool authorized(const nf_loop *l, const hr_http_head *head)
{
    if (l->cfg->api_key == NULL)
        return true;
    const hr_http_header *h = hr_http_head_find(head, "Authorization");
    const char *tok;
    size_t tlen;
    return h != NULL && hr_token_from_bearer(h->value, h->value_len, &tok, &tlen) &&
           key_equal(tok, tlen, l->cfg->api_key);
}

/* ---- publish ---------------------------------------------------------- */

static void unlink_req(nf_pub_req *req)
{
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        req->loop->pending = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
}

static void publish_done(void *arg, int status, const hr_event_id *ids, size_t n)
{
    nf_pub_req *req = arg;
    unlink_req(req);
    hr_conn *c = req->conn;
    if (c != NULL)
        hr_conn_set_app_data(c, NULL);
    if (c != NULL && status != 0) {
        req->loop->stats.publish_rejected++;
        respond_error(c, 503, "unavailable", "the broker did not accept the events", NULL);
    } else if (c != NULL && req->pusher) {
        req->loop->stats.publish_requests++;
        hr_conn_respond(c, 200, JSON, "{}", 2, NULL);
    } else if (c != NULL) {
        char(*text)[HR_EVENT_ID_CAP] = malloc((n > 0 ? n : 1) * sizeof *text);
        const char **ptrs = malloc((n > 0 ? n : 1) * sizeof *ptrs);
        char *json = NULL;
        size_t len = 0;
        int rc = HR_ENOMEM;
        if (text != NULL && ptrs != NULL) {
            for (size_t i = 0; i < n; i++) {
                hr_event_id_format(ids[i], text[i], sizeof text[i]);
                ptrs[i] = text[i];
            }
            rc = req->is_batch || n != 1 ? hr_publish_write_ids(ptrs, n, &json, &len)
                                         : hr_publish_write_id(ptrs[0], &json, &len);
        }
        if (rc == 0)
            hr_conn_respond(c, 200, JSON, json, len, NULL);
        else
            hr_conn_respond(c, 500, NULL, NULL, 0, NULL);
        req->loop->stats.publish_requests++;
        free(json);
        free(ptrs);
        free(text);
    }
    free(req);
}

static void handle_publish(nf_loop *l, hr_conn *c, const hr_http_head *head, const uint8_t *body,
                           size_t len)
{
    if (!authorized(l, head)) {
        l->stats.publish_rejected++;
        respond_error(c, 401, "unauthorized", "missing or wrong API key",
                      "WWW-Authenticate: Bearer\r\n");
        return;
    }
    if (!hr_broker_is_ready(l->broker)) {
        l->stats.publish_rejected++;
        respond_error(c, 503, "unavailable", "the broker is not connected", "Retry-After: 1\r\n");
        return;
    }
    hr_pub_batch batch;
    char why[200];
    const int rc = hr_publish_parse(body, len, l->cfg->max_publish_items, &batch, why, sizeof why);
    if (rc != 0) {
        l->stats.publish_rejected++;
        if (rc == HR_ENOMEM)
            respond_error(c, 503, "unavailable", "out of memory", NULL);
        else
            respond_error(c, rc == HR_ETOOBIG ? 413 : 400,
                          rc == HR_ETOOBIG ? "payload_too_large" : "bad_request", why, NULL);
        return;
    }
    nf_api_publish(l, c, &batch, false);
    hr_publish_batch_deinit(&batch);
}

/* True when an item names the channel of the notifiers' presence records
 * (cluster.h), which no publisher may forge. */
static bool names_reserved(const hr_pub_batch *batch)
{
    for (size_t i = 0; i < batch->n_items; i++)
        for (size_t k = 0; k < batch->items[i].n_channels; k++)
            if (strcmp(batch->items[i].channels[k], HR_PRESENCE_CHANNEL) == 0)
                return true;
    return false;
}

void nf_api_publish(nf_loop *l, hr_conn *c, const hr_pub_batch *batch, bool pusher)
{
    if (names_reserved(batch)) {
        l->stats.publish_rejected++;
        respond_error(c, 400, "bad_request",
                      "channel " HR_PRESENCE_CHANNEL
                      " is reserved for the notifiers' presence records",
                      NULL);
        return;
    }
    if (!hr_broker_is_ready(l->broker)) {
        l->stats.publish_rejected++;
        respond_error(c, 503, "unavailable", "the broker is not connected", "Retry-After: 1\r\n");
        return;
    }
    nf_pub_req *req = calloc(1, sizeof *req);
    int prc = HR_ENOMEM;
    if (req != NULL) {
        *req = (nf_pub_req){.kind = NF_KIND_PUBLISH,
                            .loop = l,
                            .conn = c,
                            .is_batch = batch->is_batch,
                            .pusher = pusher,
                            .next = l->pending};
        if (l->pending != NULL)
            l->pending->prev = req;
        l->pending = req;
        hr_conn_set_app_data(c, req);
        /* The memory broker completes (and frees req) before this returns. */
        prc = hr_broker_publish(l->broker, batch->items, batch->n_items, publish_done, req);
    }
    if (prc != 0) {
        if (req != NULL) {
            unlink_req(req);
            hr_conn_set_app_data(c, NULL);
        }
        free(req);
        l->stats.publish_rejected++;
        respond_error(c, 503, "unavailable", "the broker did not accept the events", NULL);
    }
}

void nf_api_close(nf_pub_req *req)
{
    req->conn = NULL; /* publish_done (or nf_api_free_pending) frees it */
}

void nf_api_free_pending(nf_loop *l)
{
    while (l->pending != NULL) {
        nf_pub_req *req = l->pending;
        unlink_req(req);
        if (req->conn != NULL)
            hr_conn_set_app_data(req->conn, NULL);
        free(req);
    }
}

/* ---- health and metrics ----------------------------------------------- */

typedef struct snapshot {
    uint64_t connections, sessions_total, subscriptions, channels, history_events;
    uint64_t events_published, events_delivered, events_replayed, events_dropped, deflated;
    uint64_t bytes_out, bytes_in, socket_writes, slow_closes, publish_requests, publish_rejected;
    uint64_t auth_failures, bad_commands, bad_command_closes, broker_up, loops, overflows;
    uint64_t handoffs_kept;
    nf_link_stats link;
    hr_broker_stats broker;
} snapshot;

#define M(field, type, name, help)                                                                 \
    HR_METRIC_FIELD(snapshot, field, type, "herald_notifier_" name, help)

static const hr_metric_desc metrics[] = {
    M(connections, HR_METRIC_GAUGE, "connections",
      "Open direct client connections (WebSocket, Pusher, SSE)."),
    M(sessions_total, HR_METRIC_COUNTER, "connections_total", "WebSocket sessions opened."),
    M(subscriptions, HR_METRIC_GAUGE, "subscriptions", "Channel subscriptions held."),
    M(channels, HR_METRIC_GAUGE, "channels", "Channels with subscribers or history."),
    M(history_events, HR_METRIC_GAUGE, "history_events", "Events retained for resume."),
    M(events_published, HR_METRIC_COUNTER, "events_published_total",
      "Events received from the broker, counted per channel."),
    M(events_delivered, HR_METRIC_COUNTER, "events_delivered_total",
      "Event frames queued to clients (live and replayed)."),
    M(events_replayed, HR_METRIC_COUNTER, "events_replayed_total",
      "Event frames queued by resume replays."),
    M(events_dropped, HR_METRIC_COUNTER, "events_dropped_total",
      "Events not fanned out (out of order or out of memory)."),
    M(deflated, HR_METRIC_COUNTER, "deflated_frames_total", "Compressed event frames built."),
    M(bytes_out, HR_METRIC_COUNTER, "bytes_out_total", "Bytes written to sockets."),
    M(bytes_in, HR_METRIC_COUNTER, "bytes_in_total", "Bytes read from sockets."),
    M(socket_writes, HR_METRIC_COUNTER, "socket_writes_total",
      "Socket writes (uv_try_write or uv_write) to HTTP, WebSocket and SSE clients."),
    M(slow_closes, HR_METRIC_COUNTER, "slow_reader_closes_total",
      "Connections closed with 1013 for exceeding the send queue."),
    M(publish_requests, HR_METRIC_COUNTER, "publish_requests_total", "POST /publish accepted."),
    M(publish_rejected, HR_METRIC_COUNTER, "publish_rejected_total", "POST /publish refused."),
    M(auth_failures, HR_METRIC_COUNTER, "auth_failures_total", "Upgrades refused by auth."),
    M(bad_commands, HR_METRIC_COUNTER, "client_errors_total", "Error replies to client commands."),
    M(bad_command_closes, HR_METRIC_COUNTER, "policy_closes_total",
      "Connections closed with 1008 for repeated bad commands."),
    M(broker_up, HR_METRIC_GAUGE, "broker_up", "1 when the broker is connected."),
    M(loops, HR_METRIC_GAUGE, "loops", "Event loops (threads) running sessions."),
    M(overflows, HR_METRIC_COUNTER, "loop_overflows_total",
      "Times a loop fell a whole inbox behind (its sessions closed with 1013)."),
    M(handoffs_kept, HR_METRIC_COUNTER, "loop_handoffs_kept_total",
      "Direct clients served on loop 0 because the loop picked for them had a full inbox."),
    M(link.links, HR_METRIC_GAUGE, "links", "herald-link connections from gateways."),
    M(link.sessions, HR_METRIC_GAUGE, "link_sessions", "Client sessions open over herald-link."),
    M(link.writes, HR_METRIC_COUNTER, "link_writes_total", "herald-link batches written."),
    M(link.bytes_out, HR_METRIC_COUNTER, "link_bytes_out_total", "Bytes written to links."),
    M(link.bytes_in, HR_METRIC_COUNTER, "link_bytes_in_total", "Bytes read from links."),
    M(link.slow_closes, HR_METRIC_COUNTER, "link_slow_closes_total",
      "Link sessions closed with 1013 for exceeding the send queue."),
#define B(field, type, name, help)                                                                 \
    HR_METRIC_FIELD(snapshot, broker.field, type, "herald_broker_" name, help)
    B(connected, HR_METRIC_GAUGE, "connected", "1 while the broker adapter is connected."),
    B(reconnects, HR_METRIC_COUNTER, "reconnects_total", "Broker connections after the first."),
    B(consumed, HR_METRIC_COUNTER, "events_consumed_total", "Events read from the broker."),
    B(malformed, HR_METRIC_COUNTER, "malformed_total",
      "Broker records skipped (invalid channel or JSON data)."),
    B(lag_events, HR_METRIC_GAUGE, "lag_events",
      "Records the broker holds beyond the last one read (NATS, RabbitMQ)."),
    B(lag_ms, HR_METRIC_GAUGE, "lag_ms", "Broker's newest id time minus ours, in ms (Redis)."),
#undef B
};

static void take_snapshot(const nf_loop *l, snapshot *s)
{
    const nf_hub_stats *h = nf_hub_stats_view(l->hub);
    const hr_net_stats *n = hr_server_stats(l->server);
    *s = (snapshot){
        .connections = n->ws_open + l->stats.sse_streams,
        .sessions_total = l->stats.sessions_total,
        .subscriptions = h->subscriptions,
        .channels = h->channels,
        .history_events = h->history_events,
        .events_published = h->events_published,
        .events_delivered = h->events_delivered,
        .events_replayed = h->events_replayed,
        .events_dropped = h->events_dropped,
        .deflated = h->deflated_frames,
        .bytes_out = n->bytes_out,
        .bytes_in = n->bytes_in,
        .socket_writes = n->writes,
        .slow_closes = n->slow_closes,
        .publish_requests = l->stats.publish_requests,
        .publish_rejected = l->stats.publish_rejected,
        .auth_failures = l->stats.auth_failures,
        .bad_commands = l->stats.bad_commands,
        .bad_command_closes = l->stats.bad_command_closes,
        .handoffs_kept = l->stats.handoffs_kept,
        .broker_up = hr_broker_is_ready(l->broker),
        .link = nf_links_stats(l->links),
        .broker = *hr_broker_stats_view(l->broker),
    };
}

/* Adds a shard's counters. Channels, history and the published and dropped
 * counts are the primary's alone: every loop's hub holds the same channels
 * and history (by reference), so a sum would count each event once per loop. */
static void add_loop(snapshot *s, const nf_loop_counters *c)
{
    s->connections += c->net.ws_open + c->app.sse_streams;
    s->bytes_out += c->net.bytes_out;
    s->bytes_in += c->net.bytes_in;
    s->socket_writes += c->net.writes;
    s->slow_closes += c->net.slow_closes;
    s->sessions_total += c->app.sessions_total;
    s->subscriptions += c->hub.subscriptions;
    s->events_delivered += c->hub.events_delivered;
    s->events_replayed += c->hub.events_replayed;
    s->deflated += c->hub.deflated_frames;
    s->auth_failures += c->app.auth_failures;
    s->bad_commands += c->app.bad_commands;
    s->bad_command_closes += c->app.bad_command_closes;
    s->overflows += c->overflows;
    s->link.links += c->link.links;
    s->link.sessions += c->link.sessions;
    s->link.writes += c->link.writes;
    s->link.bytes_out += c->link.bytes_out;
    s->link.bytes_in += c->link.bytes_in;
    s->link.slow_closes += c->link.slow_closes;
}

/* herald_notifier_loop_<what>{loop="i"}: where the sessions live. */
static int write_per_loop(hr_buf *out, const char *name, const char *help,
                          const uint64_t *sessions, unsigned n)
{
    int rc = hr_metrics_write_header(out, name, HR_METRIC_GAUGE, help);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        char label[32];
        snprintf(label, sizeof label, "loop=\"%u\"", i);
        rc = hr_metrics_write_sample(out, name, label, sessions[i]);
    }
    return rc;
}

int nf_api_write_metrics(const nf_loop *l, hr_buf *out)
{
    snapshot s;
    take_snapshot(l, &s);
    const unsigned n = l->peers != NULL ? l->peers->count(l->peers_arg) : 1;
    uint64_t sessions[NF_LOOPS_MAX] = {s.link.sessions}, direct[NF_LOOPS_MAX] = {s.connections};
    s.loops = n;
    for (unsigned i = 1; i < n; i++) {
        nf_loop_counters c;
        l->peers->counters(l->peers_arg, i, &c);
        add_loop(&s, &c);
        sessions[i] = c.link.sessions;
        direct[i] = c.net.ws_open + c.app.sse_streams;
    }
    const void *blocks[] = {&s};
    int rc = hr_metrics_write_table(out, metrics, HR_ARRAY_LEN(metrics), blocks, 1);
    if (rc == 0)
        rc = write_per_loop(out, "herald_notifier_loop_connections",
                            "Direct clients open (WebSocket, Pusher, SSE), per event loop.", direct,
                            n);
    if (rc == 0 && l->links != NULL)
        rc = write_per_loop(out, "herald_notifier_loop_link_sessions",
                            "Client sessions over herald-link, per event loop.", sessions, n);
    return rc;
}

static void handle_metrics(nf_loop *l, hr_conn *c)
{
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    if (nf_api_write_metrics(l, &out) == 0)
        hr_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", hr_buf_data(&out),
                        out.len, NULL);
    else
        hr_conn_respond(c, 500, NULL, NULL, 0, NULL);
    hr_buf_deinit(&out);
}

static void handle_readyz(nf_loop *l, hr_conn *c)
{
    /* and every loop's Pusher presence is current (cluster.h) */
    if (hr_broker_is_ready(l->broker) && !l->stopping && nf_cluster_ready())
        hr_conn_respond(c, 200, "text/plain", "ready\n", 6, NULL);
    else
        hr_conn_respond(c, 503, "text/plain", "not ready\n", 10, NULL);
}

/* ---- routing ---------------------------------------------------------- */

void nf_api_request(nf_loop *l, hr_conn *c, const hr_http_head *head, const uint8_t *body,
                    size_t len)
{
    size_t plen;
    const char *query;
    size_t qlen;
    hr_http_query_split(head->target, head->target_len, &plen, &query, &qlen);
    const char *path = head->target;
#define PATH_IS(p) (plen == strlen(p) && memcmp(path, (p), plen) == 0)
    const bool get = method_is(head, "GET") || method_is(head, "HEAD");
    if (PATH_IS("/publish")) {
        if (method_is(head, "POST"))
            handle_publish(l, c, head, body, len);
        else
            respond_error(c, 405, "method_not_allowed", "use POST", "Allow: POST\r\n");
    } else if (PATH_IS("/healthz") || PATH_IS("/readyz") || PATH_IS("/metrics") || PATH_IS("/ws")) {
        if (!get)
            respond_error(c, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n");
        else if (PATH_IS("/healthz"))
            hr_conn_respond(c, 200, "text/plain", "ok\n", 3, NULL);
        else if (PATH_IS("/readyz"))
            handle_readyz(l, c);
        else if (PATH_IS("/metrics"))
            handle_metrics(l, c);
        else
            respond_error(c, 426, "upgrade_required", "/ws is a WebSocket endpoint",
                          "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    } else {
        respond_error(c, 404, "not_found", "no such endpoint", NULL);
    }
#undef PATH_IS
}

/* One client's WebSocket session (see session.h).
 *
 * Subscribing is all-or-nothing per command: every name must be allowed for
 * this identity and the total must stay within --max-channels, else one
 * error reply and nothing changes. ?channels= at connect is handled exactly
 * like a subscribe command without ref, right after the welcome (so a
 * forbidden channel there is an error message, not a refused upgrade).
 *
 * Resume runs within one callback: subscribe, compute "recovered", queue the
 * reply, queue the replay. Live events only arrive from other callbacks, so
 * nothing can slip between replay and live delivery. */
#include "session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "cpub.h"
#include "proto/cproto.h"
#include "proto/lifetime.h"
#include "proto/http_query.h"
#include "proto/token.h"
#include "proto/ws_frame.h"

#define ERROR_WINDOW_MS 60000
#define CLOSE_TOKEN_EXPIRED 4001

static void tx_close(nf_session *s, int code, const char *reason)
{
    s->tx.ops->close(s->tx.self, code, reason);
}

/* Sends a reply built by an hr_cproto_write_* call that returned rc (call
 * the writer first: argument evaluation order is unspecified in C). */
static void send_json(nf_session *s, int rc, char *json, size_t len)
{
    if (rc == HR_ENOMEM) {
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    if (rc == 0)
        s->tx.ops->send_text(s->tx.self, json, len);
    free(json);
}

/* Counts a bad command; past the limit within a minute, closes with 1008. */
static void count_error(nf_session *s)
{
    const uint64_t now = uv_now(s->loop->uv);
    s->loop->stats.bad_commands++;
    if (s->errors == 0 || now - s->errors_from >= ERROR_WINDOW_MS) {
        s->errors_from = now;
        s->errors = 0;
    }
    if (++s->errors >= s->loop->cfg->bad_commands) {
        s->loop->stats.bad_command_closes++;
        tx_close(s, HR_WS_CLOSE_POLICY, "too many bad commands");
    }
}

static void reply_error(nf_session *s, const char *code, const char *message, const char *ref)
{
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_cproto_write_error(code, message, ref, &json, &len);
    send_json(s, rc, json, len);
    count_error(s);
}

/* Checks permission and the channel limit for names[0..n). Returns true
 * when the subscribe may go ahead; otherwise replies with the error. */
static bool may_subscribe(nf_session *s, char *const *names, size_t n, const char *ref)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hr_channel_can_subscribe(&s->id, names[i], strlen(names[i]))) {
            char msg[HR_CPROTO_MESSAGE_CAP];
            snprintf(msg, sizeof msg, "not allowed to subscribe to %s", names[i]);
            reply_error(s, "forbidden", msg, ref);
            return false;
        }
        fresh += !nf_hub_is_subscribed(s->loop->hub, &s->client, names[i]);
    }
    if (s->client.n_subs + fresh > s->loop->cfg->max_channels) {
        char msg[HR_CPROTO_MESSAGE_CAP];
        snprintf(msg, sizeof msg, "at most %" PRIu32 " channels per connection",
                 s->loop->cfg->max_channels);
        reply_error(s, "too_many_channels", msg, ref);
        return false;
    }
    return true;
}

/* Subscribes to names[0..n), collecting the newly added names in added[]
 * (capacity n). Returns their count, or HR_ENOMEM. */
static long add_all(nf_session *s, char *const *names, size_t n, const char **added)
{
    long k = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_new = false;
        if (nf_hub_subscribe(s->loop->hub, &s->client, names[i], &is_new) != 0)
            return HR_ENOMEM;
        if (is_new)
            added[k++] = names[i];
    }
    return k;
}

static void subscribe(nf_session *s, char *const *names, size_t n, const char *since_text,
                      const char *ref)
{
    hr_event_id since = {0, 0};
    if (since_text != NULL && hr_event_id_parse(since_text, strlen(since_text), &since) != 0) {
        reply_error(s, "bad_request", "since is not an event id", ref);
        return;
    }
    if (!may_subscribe(s, names, n, ref))
        return;
    const char **added = malloc((n > 0 ? n : 1) * sizeof *added);
    const long k = added != NULL ? add_all(s, names, n, added) : HR_ENOMEM;
    if (k < 0) {
        free(added);
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    const bool recovered =
        since_text == NULL || nf_hub_covers(s->loop->hub, added, (size_t)k, since);
    char *json = NULL;
    size_t len = 0;
    const int rc =
        hr_cproto_write_subscribed((const char *const *)names, n, recovered, ref, &json, &len);
    send_json(s, rc, json, len);
    if (rc == 0 && since_text != NULL && k > 0) {
        if (nf_hub_replay_start(s->loop->hub, &s->client, added, (size_t)k, since) != 0)
            tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
        else
            nf_session_drain(s);
    }
    free(added);
}

static void unsubscribe(nf_session *s, char *const *names, size_t n, const char *ref)
{
    for (size_t i = 0; i < n; i++)
        nf_hub_unsubscribe(s->loop->hub, &s->client, names[i]);
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_cproto_write_unsubscribed((const char *const *)names, n, ref, &json, &len);
    send_json(s, rc, json, len);
}

/* ---- token lifetime ------------------------------------------------------ */

static int64_t unix_now(void)
{
    uv_timeval64_t tv;
    return uv_gettimeofday(&tv) == 0 ? tv.tv_sec : 0;
}

/* (Re)arms the session's one deadline: the notice first, then the end. */
static void schedule_expiry(nf_session *s, int64_t now)
{
    s->noticed = false;
    if (s->id.expires <= 0) {
        nf_expiry_remove(&s->loop->expiry, &s->exp);
        return;
    }
    int64_t at = hr_lifetime_notice_at(now, s->id.expires);
    if (s->id.expires <= now) {
        s->noticed = true;
        at = now;
    }
    if (nf_expiry_set(&s->loop->expiry, &s->exp, at < now ? now : at) != 0)
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
}

static void expire_one(nf_session *s, int64_t now)
{
    if (s->noticed || now >= s->id.expires) {
        tx_close(s, CLOSE_TOKEN_EXPIRED, "token expired");
        return;
    }
    s->noticed = true;
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_cproto_write_expiring(s->id.expires - now, &json, &len);
    send_json(s, rc, json, len);
    if (nf_expiry_set(&s->loop->expiry, &s->exp, s->id.expires) != 0)
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
}

void nf_session_expire_due(nf_loop *l, int64_t now)
{
    nf_expiry_item *it;
    while ((it = nf_expiry_pop_due(&l->expiry, now)) != NULL)
        expire_one((nf_session *)(void *)((char *)it - offsetof(nf_session, exp)), now);
}

/* The identity a refresh command proposes, or a refusal (returns false
 * after replying). */
static bool refresh_identity(nf_session *s, const hr_cmd *cmd, int64_t now, hr_identity *next)
{
    char msg[HR_CPROTO_MESSAGE_CAP];
    if (cmd->has_identity) {
        /* Only a trusted proxy sends this form (it verified the token); a
         * client never reaches the notifier with it through a verifying
         * gateway, which answers every refresh itself. */
        int rc = HR_EINVAL;
        if (s->via_proxy) {
            rc = hr_identity_from_headers(cmd->id_user, cmd->id_user ? strlen(cmd->id_user) : 0,
                                          cmd->id_channels,
                                          cmd->id_channels ? strlen(cmd->id_channels) : 0, next);
            if (rc == 0 && cmd->id_publish != NULL)
                rc = hr_identity_set_publish(next, cmd->id_publish, strlen(cmd->id_publish));
            next->expires = cmd->id_expires;
        }
        if (rc == HR_ENOMEM) {
            tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
            return false;
        }
        if (rc != 0) {
            hr_identity_deinit(next);
            reply_error(s, s->via_proxy ? "bad_request" : "forbidden",
                        s->via_proxy ? "invalid identity" : "refresh with a token", cmd->ref);
            return false;
        }
        return true;
    }
    const char *why = "no JWT key configured";
    if (!s->loop->auth.has_keys || hr_token_verify(&s->loop->auth.token, cmd->token,
                                                   strlen(cmd->token), now, next, &why) != 0) {
        snprintf(msg, sizeof msg, "token refused: %s", why);
        reply_error(s, "forbidden", msg, cmd->ref);
        return false;
    }
    return true;
}

/* Ends the subscriptions next no longer allows and tells the client. */
static void drop_lost(nf_session *s, const hr_identity *next)
{
    const size_t n = s->client.n_subs;
    if (n == 0)
        return;
    const char **subs = malloc(2 * n * sizeof *subs);
    if (subs == NULL) {
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    const size_t have = nf_hub_client_channels(&s->client, subs, n);
    const char **lost = subs + n;
    const size_t k = hr_lifetime_lost(next, subs, have, lost);
    char *json = NULL;
    size_t len = 0;
    const int rc =
        k > 0 ? hr_cproto_write_unsubscribed_reason(lost, k, "forbidden", &json, &len) : HR_EINVAL;
    /* The names point into the hub: unsubscribe only after writing. */
    for (size_t i = 0; i < k; i++) {
        char name[HR_CHANNEL_MAX + 1];
        snprintf(name, sizeof name, "%s", lost[i]);
        nf_hub_unsubscribe(s->loop->hub, &s->client, name);
    }
    if (k > 0)
        send_json(s, rc, json, len);
    free(subs);
}

static void refresh(nf_session *s, const hr_cmd *cmd)
{
    const int64_t now = unix_now();
    hr_identity next;
    hr_identity_init(&next);
    if (!refresh_identity(s, cmd, now, &next))
        return;
    const char *refusal = hr_lifetime_refresh_refusal(&s->id, &next);
    if (refusal != NULL) {
        hr_identity_deinit(&next);
        reply_error(s, "forbidden", refusal, cmd->ref);
        return;
    }
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_cproto_write_refreshed(next.expires, cmd->ref, &json, &len);
    send_json(s, rc, json, len);
    drop_lost(s, &next);
    hr_identity_deinit(&s->id);
    s->id = next;
    schedule_expiry(s, now);
}

/* ---- client publish -------------------------------------------------------- */

static void published(void *owner, void *tag, int status, const char *id, const char *ref)
{
    (void)tag;
    nf_session *s = owner;
    s->pubs--;
    if (status != 0) {
        reply_error(s, "rate_limited", "the broker did not accept the event; retry later", ref);
        return;
    }
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_cproto_write_published(id, ref, &json, &len);
    send_json(s, rc, json, len);
}

static void publish(nf_session *s, const hr_cmd *cmd)
{
    const char *ch = cmd->channels[0];
    if (!hr_identity_may_publish(&s->id, ch, strlen(ch))) {
        char msg[HR_CPROTO_MESSAGE_CAP];
        if (s->id.user == NULL)
            snprintf(msg, sizeof msg, "anonymous connections cannot publish");
        else
            snprintf(msg, sizeof msg, "not allowed to publish to %s", ch);
        reply_error(s, "forbidden", msg, cmd->ref);
        return;
    }
    s->pubs++;
    const int rc =
        nf_cpub_start(s->loop, s, published, NULL, ch, cmd->data, cmd->data_len, cmd->ref);
    if (rc == 0)
        return;
    s->pubs--;
    if (rc == HR_ENOMEM)
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
    else
        reply_error(s, "rate_limited", "the broker is not available; retry later", cmd->ref);
}

/* True when this command is over --commands-per-s in the current
 * one-second window (a fixed window, like the gateway's messages_per_s). */
static bool over_rate(nf_session *s)
{
    const uint64_t now = uv_now(s->loop->uv);
    if (s->cmds == 0 || now - s->cmds_from >= 1000) {
        s->cmds_from = now;
        s->cmds = 0;
    }
    return ++s->cmds > s->loop->cfg->commands_per_s;
}

void nf_session_message(nf_session *s, int opcode, const uint8_t *data, size_t len)
{
    if (opcode != HR_WS_OP_TEXT) {
        reply_error(s, "bad_request", "commands are JSON text messages", NULL);
        return;
    }
    hr_cmd cmd;
    hr_cproto_error perr;
    const int rc = hr_cproto_parse(data, len, s->loop->cfg->max_channels, &cmd, &perr);
    if (rc == HR_ENOMEM) {
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    if (rc != 0) {
        char *json = NULL;
        size_t jlen = 0;
        const int wrc = hr_cproto_write_parse_error(&perr, &json, &jlen);
        send_json(s, wrc, json, jlen);
        count_error(s);
        return;
    }
    /* Parsed first so the error can echo the command's ref; a client that
     * keeps going past the rate reaches the bad-command limit (1008). */
    if (over_rate(s))
        reply_error(s, "rate_limited", "too many commands per second; retry later", cmd.ref);
    else if (cmd.type == HR_CMD_SUBSCRIBE)
        subscribe(s, cmd.channels, cmd.n_channels, cmd.since, cmd.ref);
    else if (cmd.type == HR_CMD_UNSUBSCRIBE)
        unsubscribe(s, cmd.channels, cmd.n_channels, cmd.ref);
    else if (cmd.type == HR_CMD_REFRESH)
        refresh(s, &cmd);
    else
        publish(s, &cmd);
    hr_cmd_deinit(&cmd);
}

void nf_session_drain(nf_session *s)
{
    if (s->client.replay == NULL)
        return;
    /* Fill half the send queue per round, so a replay never trips the
     * slow-reader limit by itself; the next round starts when it drained. */
    const size_t half = s->loop->cfg->send_queue_limit / 2;
    const size_t queued = s->tx.ops->queued(s->tx.self);
    const int rc = nf_hub_replay_pump(s->loop->hub, &s->client, half > queued ? half - queued : 1);
    if (rc < 0)
        tx_close(s, HR_WS_CLOSE_TRY_AGAIN, "resume fell behind the history");
}

/* ---- connect ---------------------------------------------------------- */

/* Splits the ?channels= list in place into names (duplicates and empty
 * entries dropped). Returns the count, or -1 when one is not a valid name
 * (then names[0] is that one) and -2 when there are more than max; names
 * has room for max + 1. */
static long split_channels(char *list, char **names, size_t max)
{
    long n = 0;
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p != NULL;
         p = strtok_r(NULL, ",", &save)) {
        if (!hr_channel_is_valid(p, strlen(p))) {
            names[0] = p;
            return -1;
        }
        bool dup = false;
        for (long i = 0; i < n && !dup; i++)
            dup = strcmp(names[i], p) == 0;
        if (dup)
            continue;
        if ((size_t)n == max)
            return -2;
        names[n++] = p;
    }
    return n;
}

static void subscribe_initial(nf_session *s)
{
    const size_t max = s->loop->cfg->max_channels;
    char **names = malloc((max + 1) * sizeof *names);
    if (names == NULL) {
        tx_close(s, HR_WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    const long n = split_channels(s->initial, names, max);
    if (n == -1) {
        char why[HR_CHANNEL_EXPLAIN_CAP], msg[HR_CPROTO_MESSAGE_CAP];
        hr_channel_explain(names[0], strlen(names[0]), why, sizeof why);
        snprintf(msg, sizeof msg, "?channels= holds an invalid channel name: %s", why);
        reply_error(s, "bad_request", msg, NULL);
    } else if (n == -2)
        reply_error(s, "too_many_channels", "?channels= names too many channels", NULL);
    else if (n > 0)
        subscribe(s, names, (size_t)n, s->initial_since, NULL);
    free(names);
}

static void send_welcome(nf_session *s)
{
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_cproto_write_welcome(s->conn_id, s->id.user, &json, &len);
    send_json(s, rc, json, len);
}

void nf_session_open(nf_session *s, bool deflate)
{
    s->loop->stats.sessions_total++;
    s->client.deflate = deflate;
    send_welcome(s);
    schedule_expiry(s, unix_now());
    if (s->initial != NULL)
        subscribe_initial(s);
    free(s->initial);
    free(s->initial_since);
    s->initial = s->initial_since = NULL;
}

/* Copies query parameter key of the target into *out (NULL when absent).
 * Returns 0, or 400 for a malformed value, or 503 when out of memory. */
static int query_copy(const hr_http_head *head, const char *key, char **out)
{
    *out = NULL;
    char *buf = malloc(head->target_len + 1);
    if (buf == NULL)
        return 503;
    const int rc =
        hr_http_query_get(head->target, head->target_len, key, buf, head->target_len + 1, NULL);
    if (rc == 1) {
        *out = buf;
        return 0;
    }
    free(buf);
    return rc == 0 ? 0 : 400;
}

/* The 401 body naming the reason (never the token). The connection layer
 * copies the body before the next upgrade on this loop's thread. */
static const char *refusal_body(const char *reason)
{
    static _Thread_local char body[HR_TOKEN_REFUSAL_CAP];
    return hr_token_refusal(reason, body, sizeof body);
}

/* Refused upgrades are logged at info so operators see why a client was
 * turned away; a flood is cut to REFUSAL_LOGS_PER_S lines a second per loop
 * thread, the rest only counted (herald_notifier_auth_failures_total). */
#define REFUSAL_LOGS_PER_S 10

static void log_refusal(const struct sockaddr *peer, int status, const char *reason, int64_t now)
{
    static _Thread_local int64_t second;
    static _Thread_local unsigned logged, skipped;
    if (now != second) {
        second = now;
        logged = 0;
    }
    if (logged >= REFUSAL_LOGS_PER_S) {
        skipped++;
        return;
    }
    logged++;
    char ip[64] = "?";
    if (peer != NULL && peer->sa_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)peer, ip, sizeof ip);
    else if (peer != NULL && peer->sa_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)peer, ip, sizeof ip);
    if (skipped > 0)
        hr_log(HR_LOG_INFO, "notifier", "upgrade refusals not logged count=%u", skipped);
    skipped = 0;
    hr_log(HR_LOG_INFO, "notifier", "upgrade refused status=%d reason=\"%s\" peer=%s", status,
           reason, ip);
}

static void session_free(nf_session *s)
{
    hr_identity_deinit(&s->id);
    free(s->initial);
    free(s->initial_since);
    free(s);
}

nf_session *nf_session_new(nf_loop *l, nf_transport tx, const char *conn_id,
                           const struct sockaddr *peer, const hr_http_head *head, int *status,
                           const char **why)
{
    nf_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        *status = 503;
        *why = "out of memory\n";
        return NULL;
    }
    s->kind = NF_KIND_SESSION;
    s->loop = l;
    s->tx = tx;
    snprintf(s->conn_id, sizeof s->conn_id, "%s", conn_id);
    nf_client_init(&s->client, s, false);
    uv_timeval64_t tv;
    const int64_t now = uv_gettimeofday(&tv) == 0 ? tv.tv_sec : 0;
    const char *reason = "ok";
    *status = nf_auth_identify(&l->auth, peer, head, now, &s->id, &reason);
    s->via_proxy = *status == 0 && nf_auth_via_proxy(&l->auth, peer, head);
    if (*status != 0) {
        l->stats.auth_failures++;
        log_refusal(peer, *status, reason, now);
        *why = *status == 401 ? refusal_body(reason) : "bad identity headers\n";
        session_free(s);
        return NULL;
    }
    if ((*status = query_copy(head, "channels", &s->initial)) != 0 ||
        (*status = query_copy(head, "since", &s->initial_since)) != 0) {
        *why = "malformed query parameter\n";
        session_free(s);
        return NULL;
    }
    return s;
}

int nf_session_send(void *sink, hr_msg *plain, hr_msg *deflated)
{
    nf_session *s = sink;
    const nf_frames ev = {plain, deflated};
    return s->tx.ops->send_event(s->tx.self, &ev);
}

void nf_session_close(nf_session *s)
{
    nf_expiry_remove(&s->loop->expiry, &s->exp);
    if (s->pubs > 0)
        nf_cpub_forget(s->loop, s);
    nf_hub_client_leave(s->loop->hub, &s->client);
    session_free(s);
}

int nf_session_refuse(hr_upgrade_reply *reply, int status, const char *why)
{
    reply->content_type = "text/plain";
    reply->body = why;
    reply->body_len = strlen(why);
    return status;
}

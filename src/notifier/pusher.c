/* Pusher Channels protocol 7 over a notifier session (pusher.h). The
 * session speaks Herald's protocol; this carrier translates both ways:
 *
 *   pusher-js ─pusher:subscribe─▶ auth check ─{"type":"subscribe","ref":H}─▶ session
 *   pusher-js ◀─subscription_succeeded / subscription_error── session reply (ref H)
 *   pusher-js ◀─{"event","channel","data"}── hub event frame (built once per event)
 *
 * A signed private or presence subscription grants the session its Herald
 * channel (a claim entry, or the user id for user:<id>), so the session's
 * own access rule then lets it through. Presence members and client events
 * go through the broker to every loop and instance (cluster.h):
 * subscription_succeeded lists the members known cluster-wide, and the
 * others hear member_added / member_removed when a user's first connection
 * anywhere joins or its last one leaves. */
#include "pusher.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/channel.h"
#include "proto/cproto.h"
#include "proto/http_query.h"
#include "proto/publish.h"
#include "proto/pusher.h"
#include "proto/pusher_sign.h"
#include "proto/ws_frame.h"
#include "cluster.h"
#include "proto/presence_record.h"
#include "session.h"

/* One presence channel this connection is a member of. */
typedef struct membership {
    struct membership *next;
    char channel[HR_PUSHER_CHANNEL_MAX + 1]; /* the Pusher name */
    char *user_id, *user_info;
    uint64_t joined_ms; /* loop time of the subscribe */
    bool pending;       /* subscription_succeeded not sent yet: hears no member events */
} membership;

/* Most members listed in subscription_succeeded (Pusher's limit). */
#define MAX_MEMBERS 100
/* Longest wait for a join's own record to come back through the broker
 * before subscription_succeeded goes out anyway, with the members this
 * loop knows (cluster.h); checked once a second (nf_pusher_tick). */
#define JOIN_WAIT_MS 2000

struct nf_pusher {
    nf_conn_kind kind; /* NF_KIND_PUSHER; first member */
    nf_loop *loop;
    nf_pusher_wire wire; /* how the client is reached (pusher_wire.h) */
    nf_session *session;
    int refuse_code; /* 4001 / 4007: close after the error at open */
    char socket_id[HR_PUSHER_SOCKET_ID_MAX + 1];
    char *member_id, *member_info; /* presence data of the subscribe under way */
    membership *members;
    nf_pusher *prev, *next; /* this loop's Pusher connections (cache.all) */
    uint64_t client_second; /* client-event rate window (seconds) */
    uint64_t last_rx_ms;    /* loop time of the client's last message */
    uint64_t ping_ms;       /* when our pusher:ping went out, 0: none pending */
    uint32_t client_events; /* client events in that second */
};

static const char APP[] = "/app/";
#define APP_LEN (sizeof APP - 1)

bool nf_pusher_is_path(const char *path, size_t len)
{
    return len > APP_LEN && memcmp(path, APP, APP_LEN) == 0;
}

/* ---- what the client gets ---- */

/* Sends what a writer made (rc, *json, *len), then frees it. Takes
 * pointers: the writer fills them during the same call expression. */
static void send_own(nf_pusher *p, int rc, char **json, const size_t *len)
{
    if (rc == 0)
        p->wire.ops->send_text(p->wire.self, *json, *len);
    free(*json);
    *json = NULL;
}

static void send_error(nf_pusher *p, int code, const char *msg)
{
    char *json = NULL;
    size_t len = 0;
    send_own(p, hr_pusher_write_error(code, msg, &json, &len), &json, &len);
}

static void send_sub_error(nf_pusher *p, const char *channel, int status, const char *msg)
{
    char *json = NULL;
    size_t len = 0;
    send_own(p, hr_pusher_write_subscription_error(channel, status, msg, &json, &len), &json, &len);
}

/* The Pusher frame of a Herald event frame's payload: parsed by layout
 * (nf_hub_encode writes {"type":"event","channel":..,"id":..,["event":..,]
 * "data":..}), the name unescaped, the channel mapped back. */
static hr_msg *pusher_frame(const uint8_t *p, size_t len)
{
    hr_cproto_event ev;
    if (hr_cproto_parse_event(p, len, &ev) != 1)
        return NULL;
    char name[HR_PUBLISH_EVENT_MAX + 1] = HR_PUBLISH_EVENT_DEFAULT;
    size_t nlen = strlen(name);
    static const char key[] = "\",\"event\":\"";
    const char *at = ev.id + ev.id_len;
    if ((size_t)((const char *)p + len - at) > sizeof key && memcmp(at, key, sizeof key - 1) == 0) {
        const char *s = at + sizeof key - 1;
        nlen = 0;
        while (s < ev.data && *s != '"' && nlen < HR_PUBLISH_EVENT_MAX) {
            if (*s == '\\')
                s++; /* the writer escapes only '"' and '\\' */
            name[nlen++] = *s++;
        }
    }
    char ch[HR_PUSHER_CHANNEL_MAX + 1];
    const int clen = hr_pusher_channel_from_herald(ev.channel, ev.channel_len, ch);
    if (clen < 0)
        return NULL;
    const int n =
        hr_pusher_write_event(NULL, 0, name, nlen, ch, (size_t)clen, ev.data, ev.data_len, NULL);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf == NULL)
        return NULL;
    hr_pusher_write_event(buf, (size_t)n, name, nlen, ch, (size_t)clen, ev.data, ev.data_len, NULL);
    hr_msg *m = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, buf, (size_t)n);
    free(buf);
    return m;
}

/* One Pusher frame per event on each loop thread: the hub hands every
 * subscriber the same plain frame in a row (as for SSE, sse.c). */
static _Thread_local struct {
    hr_msg *plain, *frame;
    size_t conns;
    nf_pusher *all;      /* every Pusher connection of this loop (presence) */
    const char *exclude; /* socket id the event being fanned out skips */
} cache;

static void cache_drop(void)
{
    hr_msg_unref(cache.plain);
    hr_msg_unref(cache.frame);
    cache.plain = cache.frame = NULL;
}

static hr_msg *frame_for(hr_msg *plain)
{
    if (plain == cache.plain)
        return cache.frame;
    cache_drop();
    hr_msg *m = pusher_frame(plain->data + plain->head_len, plain->len - plain->head_len);
    if (m == NULL)
        return NULL;
    cache.plain = hr_msg_ref(plain);
    cache.frame = m;
    return m;
}

/* ---- the session's replies, in Pusher's words ---- */

/* ---- presence: this loop's members, the cluster's table (cluster.h) ---- */

static membership *member_of(const nf_pusher *p, const char *ch)
{
    for (membership *m = p->members; m != NULL; m = m->next)
        if (strcmp(m->channel, ch) == 0)
            return m;
    return NULL;
}

static hr_presence_entry entry_of(const nf_pusher *p, const membership *m)
{
    return (hr_presence_entry){m->channel, p->socket_id, m->user_id, m->user_info};
}

/* The carrier's member (cluster.h): a member that is still pending hears
 * nothing; its subscription_succeeded lists the table as it is then. */
static void deliver_member(const char *channel, const hr_pusher_member *who, bool added,
                           const char *except_socket)
{
    char *json = NULL;
    size_t len = 0;
    if (hr_pusher_write_member(channel, added, who, &json, &len) != 0)
        return;
    for (nf_pusher *q = cache.all; q != NULL; q = q->next) {
        const membership *m = member_of(q, channel);
        if (m != NULL && !m->pending &&
            (except_socket == NULL || strcmp(q->socket_id, except_socket) != 0))
            q->wire.ops->send_text(q->wire.self, json, len);
    }
    free(json);
}

static void each_member(void (*each)(void *arg, const hr_presence_entry *e), void *arg)
{
    for (const nf_pusher *q = cache.all; q != NULL; q = q->next)
        for (const membership *m = q->members; m != NULL; m = m->next) {
            const hr_presence_entry e = entry_of(q, m);
            each(arg, &e);
        }
}

static size_t count_members(void)
{
    size_t n = 0;
    for (const nf_pusher *q = cache.all; q != NULL; q = q->next)
        for (const membership *m = q->members; m != NULL; m = m->next)
            n++;
    return n;
}

static void answer_join(nf_pusher *p, membership *m);

/* Records p as the member of ch it signed for (authorize kept it) and
 * tells the cluster; the subscription is answered when that record comes
 * back (joined), or at once when it could not go out. A second subscribe
 * to ch is answered again (or by the first's answer, still pending). */
static void join(nf_pusher *p, const char *ch)
{
    membership *m = member_of(p, ch);
    if (m != NULL) {
        if (!m->pending)
            answer_join(p, m);
        return;
    }
    if (p->member_id == NULL || (m = calloc(1, sizeof *m)) == NULL) {
        send_sub_error(p, ch, 400, "Presence data missing");
        return;
    }
    snprintf(m->channel, sizeof m->channel, "%s", ch);
    m->user_id = p->member_id;
    m->user_info = p->member_info;
    p->member_id = p->member_info = NULL;
    m->joined_ms = uv_now(p->loop->uv);
    m->pending = true;
    m->next = p->members;
    p->members = m;
    const hr_presence_entry e = entry_of(p, m);
    if (nf_cluster_member(p->loop, &e, true) != 0)
        answer_join(p, m);
}

static void leave(nf_pusher *p, const char *ch)
{
    for (membership **at = &p->members; *at != NULL; at = &(*at)->next) {
        membership *m = *at;
        if (strcmp(m->channel, ch) != 0)
            continue;
        *at = m->next; /* p is no longer a member: it hears nothing */
        const hr_presence_entry e = entry_of(p, m);
        nf_cluster_member(p->loop, &e, false);
        free(m->user_id);
        free(m->user_info);
        free(m);
        return;
    }
}

/* subscription_succeeded for m: the cluster's members, p's user first
 * (added when the table lacks it: its record did not come back). */
static void answer_join(nf_pusher *p, membership *m)
{
    const char *ch = m->channel;
    m->pending = false;
    hr_pusher_member list[MAX_MEMBERS];
    size_t n = nf_cluster_members(p->loop, ch, m->user_id, list, MAX_MEMBERS);
    if (n == 0 || strcmp(list[0].user_id, m->user_id) != 0) {
        if (n == MAX_MEMBERS)
            n--;
        memmove(list + 1, list, n * sizeof *list);
        list[0] = (hr_pusher_member){m->user_id, m->user_info};
        n++;
    }
    char *json = NULL;
    size_t len = 0;
    send_own(p, hr_pusher_write_subscribed(ch, list, n, &json, &len), &json, &len);
}

static void on_subscribed(nf_pusher *p, json_t *channels)
{
    for (size_t i = 0; i < json_array_size(channels); i++) {
        const char *h = json_string_value(json_array_get(channels, i));
        char ch[HR_PUSHER_CHANNEL_MAX + 1];
        if (h == NULL || hr_pusher_channel_from_herald(h, strlen(h), ch) < 0)
            continue;
        if (hr_pusher_channel_kind(ch, strlen(ch)) == HR_PUSHER_PRESENCE) {
            join(p, ch);
            continue;
        }
        char *json = NULL;
        size_t len = 0;
        send_own(p, hr_pusher_write_subscribed(ch, NULL, 0, &json, &len), &json, &len);
    }
}

static void on_reply(nf_pusher *p, json_t *r)
{
    const char *type = json_string_value(json_object_get(r, "type"));
    const char *ref = json_string_value(json_object_get(r, "ref"));
    if (type == NULL)
        return;
    if (strcmp(type, "welcome") == 0) {
        char *json = NULL;
        size_t len = 0;
        send_own(p,
                 hr_pusher_write_established(p->socket_id, p->loop->cfg->pusher_activity_timeout_s,
                                             &json, &len),
                 &json, &len);
    } else if (strcmp(type, "subscribed") == 0) {
        on_subscribed(p, json_object_get(r, "channels"));
    } else if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(r, "code"));
        const char *msg = json_string_value(json_object_get(r, "message"));
        char ch[HR_PUSHER_CHANNEL_MAX + 1];
        if (ref != NULL && hr_pusher_channel_from_herald(ref, strlen(ref), ch) > 0)
            send_sub_error(p, ch, code != NULL && strcmp(code, "forbidden") == 0 ? 403 : 400,
                           msg != NULL ? msg : "refused");
        else
            send_error(p, 0, msg != NULL ? msg : "error");
    }
}

/* ---- the transport ---- */

static int send_text(void *self, const void *text, size_t len)
{
    nf_pusher *p = self;
    json_t *r = json_loadb(text, len, 0, NULL);
    if (r != NULL)
        on_reply(p, r);
    json_decref(r);
    return p->wire.ops->is_open(p->wire.self) ? 0 : HR_ECLOSED;
}

void nf_pusher_exclude(const char *socket_id)
{
    cache.exclude = socket_id;
}

static int send_event(void *self, const nf_frames *ev)
{
    nf_pusher *p = self;
    if (cache.exclude != NULL && strcmp(cache.exclude, p->socket_id) == 0)
        return 0; /* the HTTP API's socket_id: everyone but this connection */
    hr_msg *m = frame_for(ev->plain);
    return m != NULL ? p->wire.ops->send_frame(p->wire.self, m) : HR_ENOMEM;
}

/* Herald close codes in Pusher's ranges: 4000-4099 do not reconnect,
 * 4100-4199 reconnect after a pause, 4200-4299 at once. */
static int pusher_code(int code)
{
    switch (code) {
    case 1013:
    case 1008:
        return HR_PUSHER_E_OVER_CAPACITY;
    case 4001:
        return HR_PUSHER_E_UNAUTHORIZED;
    default:
        return code >= 4000 && code <= 4299 ? code : HR_PUSHER_E_RECONNECT;
    }
}

static void tx_close(void *self, int code, const char *reason)
{
    nf_pusher *p = self;
    p->wire.ops->close(p->wire.self, pusher_code(code), reason);
}

static size_t queued(const void *self)
{
    const nf_pusher *p = self;
    return p->wire.ops->queued(p->wire.self);
}

static const nf_transport_ops pusher_ops = {
    .send_text = send_text,
    .send_event = send_event,
    .close = tx_close,
    .queued = queued,
};

/* ---- the connection ---- */

nf_pusher *nf_pusher_new(nf_loop *l, nf_pusher_wire wire, uint64_t number,
                         const struct sockaddr *peer, const hr_http_head *head, int *status,
                         const char **why)
{
    const nf_config *cfg = l->cfg;
    *status = cfg->pusher_app_id == NULL ? 404 : l->stopping ? 503 : 0;
    *why = *status == 404 ? "not found\n" : "shutting down\n";
    if (*status != 0)
        return NULL;
    size_t plen, qlen;
    const char *q;
    hr_http_query_split(head->target, head->target_len, &plen, &q, &qlen);
    nf_pusher *p = calloc(1, sizeof *p);
    if (p == NULL) {
        *status = 503;
        *why = "out of memory\n";
        return NULL;
    }
    *p = (nf_pusher){.kind = NF_KIND_PUSHER, .loop = l, .wire = wire};
    const size_t klen = strlen(cfg->pusher_key);
    char proto[8] = "";
    const int has =
        hr_http_query_get(head->target, head->target_len, "protocol", proto, sizeof proto, NULL);
    if (plen != APP_LEN + klen || memcmp(head->target + APP_LEN, cfg->pusher_key, klen) != 0)
        p->refuse_code = HR_PUSHER_E_APP_UNKNOWN;
    else if (has != 1)
        p->refuse_code = HR_PUSHER_E_NO_PROTOCOL;
    else if (strcmp(proto, "7") != 0)
        p->refuse_code = HR_PUSHER_E_PROTOCOL;
    /* Digits only, as the pusher package requires: the loop's random
     * instance number and the caller's process-wide number keep it unique
     * across loops and instances. */
    snprintf(p->socket_id, sizeof p->socket_id, "%" PRIu64 ".%" PRIu64, nf_cluster_instance(l),
             number);
    p->session =
        nf_session_new(l, (nf_transport){&pusher_ops, p}, p->socket_id, peer, head, status, why);
    if (p->session == NULL) {
        free(p);
        return NULL;
    }
    p->last_rx_ms = uv_now(l->uv);
    cache.conns++;
    p->next = cache.all;
    if (cache.all != NULL)
        cache.all->prev = p;
    cache.all = p;
    return p;
}

int nf_pusher_upgrade(nf_loop *l, hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply)
{
    int status = 0;
    const char *why = NULL;
    nf_pusher *p = nf_pusher_new(l, (nf_pusher_wire){&nf_pusher_wire_conn, c}, hr_conn_id(c),
                                 hr_conn_peer_addr(c), head, &status, &why);
    if (p == NULL)
        return nf_session_refuse(reply, status, why);
    hr_conn_set_app_data(c, p);
    hr_conn_set_close_codes(c, HR_PUSHER_E_OVER_CAPACITY, HR_PUSHER_E_RECONNECT);
    return 0;
}

void nf_pusher_open(nf_pusher *p)
{
    if (p->refuse_code != 0) {
        send_error(p, p->refuse_code,
                   p->refuse_code == HR_PUSHER_E_APP_UNKNOWN ? "Application does not exist"
                   : p->refuse_code == HR_PUSHER_E_PROTOCOL  ? "Unsupported protocol version"
                                                             : "No protocol version supplied");
        p->wire.ops->close(p->wire.self, p->refuse_code, NULL);
        return;
    }
    nf_session_open(p->session, false);
}

/* Lets the session subscribe to Herald channel h, which a signature for
 * this connection authorized. Returns 0, or 403 when the connection is
 * already another user's. */
static int grant(nf_pusher *p, const char *h)
{
    hr_identity *id = &p->session->id;
    if (strncmp(h, "user:", 5) == 0) {
        if (id->user != NULL)
            return strcmp(id->user, h + 5) == 0 ? 0 : 403;
        id->user = strdup(h + 5);
        return id->user != NULL ? 0 : 503;
    }
    for (size_t i = 0; i < id->n_channels; i++)
        if (strcmp(id->channels[i], h) == 0)
            return 0;
    char **more = realloc(id->channels, (id->n_channels + 1) * sizeof *more);
    if (more == NULL)
        return 503;
    id->channels = more;
    id->channels[id->n_channels] = strdup(h);
    if (id->channels[id->n_channels] == NULL)
        return 503;
    id->n_channels++;
    return 0;
}

/* Checks a private or presence subscription's signature and keeps the
 * presence member. Returns 0 or the status of the refusal (sent). */
static int authorize(nf_pusher *p, const hr_pusher_msg *m, bool presence)
{
    const nf_config *cfg = p->loop->cfg;
    if (m->auth == NULL || (presence && m->channel_data == NULL) ||
        !hr_pusher_auth_check(cfg->pusher_key, cfg->pusher_secret, p->socket_id, m->channel,
                              presence ? m->channel_data : NULL, m->auth)) {
        send_sub_error(p, m->channel, 401, "Invalid signature");
        return 401;
    }
    if (!presence)
        return 0;
    char *uid = NULL, *info = NULL;
    if (hr_pusher_parse_channel_data(m->channel_data, strlen(m->channel_data), &uid, &info) != 0) {
        send_sub_error(p, m->channel, 400, "Invalid channel_data");
        return 400;
    }
    free(p->member_id);
    free(p->member_info);
    p->member_id = uid;
    p->member_info = info;
    return 0;
}

static void subscribe(nf_pusher *p, const hr_pusher_msg *m)
{
    char h[HR_CHANNEL_MAX + 1];
    if (hr_pusher_channel_to_herald(m->channel, strlen(m->channel), h) < 0) {
        send_sub_error(p, m->channel, 400, "Herald cannot carry this channel name");
        return;
    }
    const hr_pusher_kind kind = hr_pusher_channel_kind(m->channel, strlen(m->channel));
    if (kind != HR_PUSHER_PUBLIC) {
        if (authorize(p, m, kind == HR_PUSHER_PRESENCE) != 0)
            return;
        const int st = grant(p, h);
        if (st != 0) {
            send_sub_error(p, m->channel, st, "This connection belongs to another user");
            return;
        }
    }
    char cmd[2 * HR_CHANNEL_MAX + 64]; /* names need no escaping */
    const int n = snprintf(cmd, sizeof cmd,
                           "{\"type\":\"subscribe\",\"channels\":[\"%s\"],\"ref\":\"%s\"}", h, h);
    nf_session_message(p->session, HR_WS_OP_TEXT, (const uint8_t *)cmd, (size_t)n);
}

static void unsubscribe(nf_pusher *p, const hr_pusher_msg *m)
{
    char h[HR_CHANNEL_MAX + 1];
    if (hr_pusher_channel_to_herald(m->channel, strlen(m->channel), h) < 0)
        return;
    leave(p, m->channel);
    char cmd[HR_CHANNEL_MAX + 64];
    const int n = snprintf(cmd, sizeof cmd, "{\"type\":\"unsubscribe\",\"channels\":[\"%s\"]}", h);
    nf_session_message(p->session, HR_WS_OP_TEXT, (const uint8_t *)cmd, (size_t)n);
}

/* Most client events a connection may send per second (Pusher's limit). */
#define CLIENT_EVENTS_PER_S 10

/* A client-* event: relayed as Pusher does (not to the sender, not
 * stored, private and presence channels only, presence ones with the
 * sender's user_id) to the other Pusher connections subscribed to the
 * channel on every loop and instance: through the broker (cluster.h). */
static void client_event(nf_pusher *p, const hr_pusher_msg *m)
{
    char h[HR_CHANNEL_MAX + 1];
    const hr_pusher_kind kind = hr_pusher_channel_kind(m->channel, strlen(m->channel));
    if (!p->loop->cfg->pusher_client_events) {
        send_error(p, 0, "Client events are not enabled (--pusher-client-events)");
        return;
    }
    if (kind == HR_PUSHER_PUBLIC ||
        hr_pusher_channel_to_herald(m->channel, strlen(m->channel), h) < 0 ||
        !nf_hub_is_subscribed(p->loop->hub, &p->session->client, h)) {
        send_error(p, 0,
                   "Client event rejected: subscribe to this private or presence channel first");
        return;
    }
    const uint64_t now = uv_now(p->loop->uv) / 1000;
    if (now != p->client_second) {
        p->client_second = now;
        p->client_events = 0;
    }
    if (++p->client_events > CLIENT_EVENTS_PER_S) {
        send_error(p, HR_PUSHER_E_CLIENT_EVENT_RATE, "Client event rejected due to rate limit");
        return;
    }
    const membership *me = kind == HR_PUSHER_PRESENCE ? member_of(p, m->channel) : NULL;
    if (nf_cluster_client_event(p->loop, m->channel, p->socket_id, m->event, m->data, m->data_len,
                                me != NULL ? me->user_id : NULL) != 0)
        send_error(p, 0, "Client event rejected");
}

/* The carrier's client_event (cluster.h). */
static void deliver_client_event(nf_loop *l, const hr_presence_record *r)
{
    char h[HR_CHANNEL_MAX + 1];
    if (!l->cfg->pusher_client_events ||
        hr_pusher_channel_to_herald(r->channel, strlen(r->channel), h) < 0)
        return;
    const size_t elen = strlen(r->event), clen = strlen(r->channel);
    const int n = hr_pusher_write_event(NULL, 0, r->event, elen, r->channel, clen, r->data,
                                        r->data_len, r->user_id);
    hr_msg *frame = NULL;
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf != NULL) {
        hr_pusher_write_event(buf, (size_t)n, r->event, elen, r->channel, clen, r->data,
                              r->data_len, r->user_id);
        frame = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, buf, (size_t)n);
        free(buf);
    }
    if (frame == NULL)
        return;
    for (nf_pusher *q = cache.all; q != NULL; q = q->next)
        if (q->session != NULL && strcmp(q->socket_id, r->socket_id) != 0 &&
            nf_hub_is_subscribed(l->hub, &q->session->client, h))
            q->wire.ops->send_frame(q->wire.self, frame);
    hr_msg_unref(frame);
}

void nf_pusher_message(nf_pusher *p, const uint8_t *data, size_t len)
{
    if (p->refuse_code != 0)
        return;
    p->last_rx_ms = uv_now(p->loop->uv);
    p->ping_ms = 0; /* any message answers our ping */
    hr_pusher_msg m;
    hr_pusher_error err;
    const int rc = hr_pusher_parse(data, len, &m, &err);
    if (rc == HR_ENOMEM) {
        p->wire.ops->close(p->wire.self, HR_PUSHER_E_RECONNECT, "out of memory");
        return;
    }
    if (rc != 0) {
        send_error(p, 0, err.message);
        return;
    }
    char *json = NULL;
    size_t jlen = 0;
    switch (m.type) {
    case HR_PUSHER_MSG_PING:
        send_own(p, hr_pusher_write_pong(&json, &jlen), &json, &jlen);
        break;
    case HR_PUSHER_MSG_SUBSCRIBE:
        subscribe(p, &m);
        break;
    case HR_PUSHER_MSG_UNSUBSCRIBE:
        unsubscribe(p, &m);
        break;
    case HR_PUSHER_MSG_CLIENT_EVENT:
        client_event(p, &m);
        break;
    default:
        break; /* pusher:pong, pusher:signin and the like */
    }
    hr_pusher_msg_deinit(&m);
}

/* Longest wait for the answer to our pusher:ping (pusher-js waits 30 s
 * for its own). */
#define PONG_WAIT_MS 30000

void nf_pusher_tick(nf_loop *l)
{
    const uint64_t now = uv_now(l->uv);
    const uint64_t idle = (uint64_t)l->cfg->pusher_activity_timeout_s * 1000;
    const uint64_t wait = idle < PONG_WAIT_MS ? idle : PONG_WAIT_MS;
    for (nf_pusher *p = cache.all, *next; p != NULL; p = next) {
        next = p->next;
        if (p->refuse_code != 0 || !p->wire.ops->is_open(p->wire.self))
            continue;
        for (membership *m = p->members; m != NULL; m = m->next)
            if (m->pending && now - m->joined_ms >= JOIN_WAIT_MS)
                answer_join(p, m); /* its record did not come back in time */
        if (p->ping_ms != 0 && now - p->ping_ms >= wait) {
            p->wire.ops->close(p->wire.self, HR_PUSHER_E_PONG_TIMEOUT, "Pong reply not received");
        } else if (p->ping_ms == 0 && now - p->last_rx_ms >= idle) {
            char *json = NULL;
            size_t len = 0;
            p->ping_ms = now;
            send_own(p, hr_pusher_write_ping(&json, &len), &json, &len);
        }
    }
}

void nf_pusher_drain(nf_pusher *p)
{
    nf_session_drain(p->session);
}

void nf_pusher_close(nf_pusher *p)
{
    while (p->members != NULL)
        leave(p, p->members->channel);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        cache.all = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    nf_session_close(p->session);
    free(p->member_id);
    free(p->member_info);
    free(p);
    if (--cache.conns == 0)
        cache_drop();
}

/* The carrier's joined (cluster.h): socket_id's own add record for
 * channel came back through the broker, so every member the broker ordered
 * before it is in the table now. */
static void joined(const char *channel, const char *socket_id)
{
    for (nf_pusher *q = cache.all; q != NULL; q = q->next) {
        if (strcmp(q->socket_id, socket_id) != 0)
            continue;
        membership *m = member_of(q, channel);
        if (m != NULL && m->pending)
            answer_join(q, m);
        return;
    }
}

const nf_cluster_carrier nf_pusher_carrier = {
    .member = deliver_member,
    .joined = joined,
    .client_event = deliver_client_event,
    .each_member = each_member,
    .count_members = count_members,
};

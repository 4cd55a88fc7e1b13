/* Presence and client events across loops and instances (cluster.h): the
 * records this loop publishes, and what it does with the ones it reads. */
#include "cluster.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "cpub.h"
#include "loops.h"
#include "presence.h"
#include "proto/cproto.h"

/* Most member connections the table holds (all instances together). */
#define MAX_ENTRIES 1000000
/* Least time between two syncs this loop sends (wants from many peers). */
#define SYNC_GAP_MS 1000
/* Longest a stop waits for the broker to take the byes (nf_cluster_bye). */
#define BYE_WAIT_MS 2000

/* Started loops of this process whose own hello has not come back yet. */
static atomic_uint not_live;
/* The instance number of each started shard (index 1..): loop 0 says bye
 * for them, since their way to the broker closes first (nf_shards_stop). */
static _Atomic uint64_t shard_instance[NF_LOOPS_MAX];

typedef struct nf_cluster {
    nf_loop *loop;
    const nf_cluster_carrier *carrier; /* this loop's Pusher connections */
    nf_presence *table;
    uint64_t instance;
    uint64_t last_hb_ms, last_sync_ms, last_hello_ms;
    bool live; /* our own hello came back: records are current */
    /* Loop 0, stopping: byes the broker has not confirmed yet, the bound
     * on the wait, and who to tell when it is over (nf_cluster_bye). */
    size_t bye_pending;
    bool bye_waiting;
    uv_timer_t bye_timer;
    void (*bye_done)(nf_loop *l);
    /* another loop: the event loop 0 said must skip a socket (SKIP) */
    char skip_socket[HR_PUSHER_SOCKET_ID_MAX + 1];
    hr_event_id skip_id;
} cluster;

static void send_signal(nf_loop *l, hr_presence_kind kind, uint64_t n);

static void on_change(void *arg, const char *channel, const char *user_id, const char *user_info,
                      bool added, const char *socket_id)
{
    const cluster *c = arg;
    const hr_pusher_member m = {user_id, user_info};
    c->carrier->member(channel, &m, added, added ? socket_id : NULL);
}

/* This loop's state, or NULL: Pusher off, or out of memory at start. */
static cluster *get(nf_loop *l)
{
    return l->cluster;
}

void nf_cluster_start(nf_loop *l, const nf_cluster_carrier *carrier)
{
    if (l->cfg->pusher_app_id == NULL || l->cluster != NULL)
        return;
    cluster *c = calloc(1, sizeof *c);
    if (c == NULL) {
        hr_log(HR_LOG_WARN, "notifier", "presence off on this loop error=\"out of memory\"");
        return;
    }
    c->loop = l;
    c->carrier = carrier;
    c->table = nf_presence_new(MAX_ENTRIES, on_change, c);
    uint64_t r = 0;
    (void)uv_random(NULL, NULL, &r, sizeof r, 0, NULL);
    r ^= l->start_ms * 0x9E3779B97F4A7C15ULL;
    c->instance = 1 + (r % 999999999999ULL);
    if (c->table == NULL) {
        hr_log(HR_LOG_WARN, "notifier", "presence off on this loop error=\"out of memory\"");
        free(c);
        return;
    }
    l->cluster = c;
    atomic_fetch_add(&not_live, 1);
    if (l->index > 0 && l->index < NF_LOOPS_MAX)
        atomic_store(&shard_instance[l->index], c->instance);
    if (l->broker == NULL) /* another loop: loop 0 forwards what comes back */
        send_signal(l, HR_PRESENCE_HELLO, 0);
}

bool nf_cluster_ready(void)
{
    return atomic_load(&not_live) == 0;
}

static void set_live(cluster *c)
{
    if (!c->live)
        atomic_fetch_sub(&not_live, 1);
    c->live = true;
}

uint64_t nf_cluster_instance(nf_loop *l)
{
    const cluster *c = get(l);
    return c != NULL ? c->instance : l->start_ms % 1000000000;
}

void nf_cluster_free(nf_loop *l)
{
    if (l->cluster == NULL)
        return;
    if (!l->cluster->live)
        atomic_fetch_sub(&not_live, 1);
    if (l->index > 0 && l->index < NF_LOOPS_MAX)
        atomic_store(&shard_instance[l->index], 0);
    nf_presence_free(l->cluster->table);
    free(l->cluster);
    l->cluster = NULL;
}

/* ---- publishing ---- */

/* Publishes one record (*json, freed) on the reserved channel. Takes
 * pointers: the writer fills them during the same call expression. */
static int publish(nf_loop *l, int rc, char **jsonp, const size_t *lenp)
{
    char *json = *jsonp;
    const size_t len = *lenp;
    *jsonp = NULL;
    /* Not while stopping: the broker is about to go (its pending publishes
     * are dropped); the others drop our members on our bye (nf_cluster_bye),
     * or after the timeout when that did not get out. */
    if (rc == 0 && l->stopping)
        rc = HR_EBROKER;
    /* through the broker, or from another loop through loop 0 (cpub.h) */
    if (rc == 0)
        rc = nf_cpub_start(l, NULL, NULL, NULL, HR_PRESENCE_CHANNEL, json, len, NULL);
    if (rc != 0)
        hr_log(HR_LOG_DEBUG, "notifier", "presence record not published error=\"%s\"",
               hr_err_str(rc));
    free(json);
    return rc;
}

static void send_signal(nf_loop *l, hr_presence_kind kind, uint64_t n)
{
    cluster *c = get(l);
    char *json = NULL;
    size_t len = 0;
    if (c != NULL && kind == HR_PRESENCE_HELLO)
        c->last_hello_ms = uv_now(l->uv);
    if (c != NULL)
        (void)publish(l, hr_presence_write_signal(kind, c->instance, n, &json, &len), &json, &len);
}

int nf_cluster_member(nf_loop *l, const hr_presence_entry *e, bool add)
{
    cluster *c = l->stopping ? NULL : get(l);
    char *json = NULL;
    size_t len = 0;
    if (c == NULL)
        return HR_EBROKER;
    return publish(l, hr_presence_write_entry(add, c->instance, e, &json, &len), &json, &len);
}

int nf_cluster_client_event(nf_loop *l, const char *channel, const char *socket_id,
                            const char *event, const char *data, size_t data_len,
                            const char *user_id)
{
    cluster *c = get(l);
    if (c == NULL)
        return HR_ENOMEM;
    char *json = NULL;
    size_t len = 0;
    const int rc = hr_presence_write_client_event(c->instance, channel, socket_id, event, data,
                                                  data_len, user_id, &json, &len);
    return publish(l, rc, &json, &len);
}

/* ---- the graceful stop ---- */

/* The wait is over: every bye taken, or BYE_WAIT_MS passed. A timer
 * callback, so the owner may free the broker (never from its callback). */
static void on_bye_over(uv_timer_t *t)
{
    cluster *c = t->data;
    if (!c->bye_waiting)
        return;
    if (c->bye_pending > 0)
        hr_log(HR_LOG_WARN, "notifier", "presence bye not confirmed in time pending=%zu",
               c->bye_pending);
    c->bye_waiting = false;
    uv_close((uv_handle_t *)&c->bye_timer, NULL);
    c->bye_done(c->loop);
}

static void on_bye_taken(void *owner, void *tag, int status, const char *id, const char *ref)
{
    (void)tag;
    (void)id;
    (void)ref;
    cluster *c = owner;
    if (status != 0)
        hr_log(HR_LOG_WARN, "notifier", "presence bye not taken error=\"%s\"", hr_err_str(status));
    if (c->bye_pending > 0 && --c->bye_pending == 0 && c->bye_waiting)
        uv_timer_start(&c->bye_timer, on_bye_over, 0, 0); /* next turn, off the broker's stack */
}

/* One bye for instance inst, through the broker even though l is stopping. */
static void send_bye(nf_loop *l, cluster *c, uint64_t inst)
{
    char *json = NULL;
    size_t len = 0;
    int rc = hr_presence_write_signal(HR_PRESENCE_BYE, inst, 0, &json, &len);
    c->bye_pending++; /* before: the memory broker confirms within the call */
    if (rc == 0)
        rc = nf_cpub_start(l, c, on_bye_taken, NULL, HR_PRESENCE_CHANNEL, json, len, NULL);
    if (rc != 0) {
        c->bye_pending--;
        hr_log(HR_LOG_WARN, "notifier", "presence bye not sent error=\"%s\"", hr_err_str(rc));
    }
    free(json);
}

bool nf_cluster_bye(nf_loop *l, void (*done)(nf_loop *l))
{
    cluster *c = get(l);
    if (c == NULL || l->index != 0 || l->broker == NULL || !hr_broker_is_ready(l->broker))
        return false;
    size_t sent = 1;
    send_bye(l, c, c->instance);
    for (unsigned i = 1; i < NF_LOOPS_MAX; i++) {
        const uint64_t inst = atomic_load(&shard_instance[i]);
        if (inst != 0) {
            send_bye(l, c, inst);
            sent++;
        }
    }
    hr_log(HR_LOG_INFO, "notifier", "presence bye instances=%zu", sent);
    if (c->bye_pending == 0)
        return false; /* taken already (memory broker), or none went out */
    c->bye_done = done;
    c->bye_waiting = true;
    uv_timer_init(l->uv, &c->bye_timer);
    c->bye_timer.data = c;
    uv_timer_start(&c->bye_timer, on_bye_over, BYE_WAIT_MS, 0);
    return true;
}

/* The local members in sync records of HR_PRESENCE_SYNC_MAX entries. */
typedef struct sync_batch {
    nf_loop *loop;
    uint64_t instance, part;
    hr_presence_entry e[HR_PRESENCE_SYNC_MAX];
    size_t n;
} sync_batch;

static void sync_flush(sync_batch *b, bool last)
{
    char *json = NULL;
    size_t len = 0;
    (void)publish(b->loop,
                  hr_presence_write_sync(b->instance, b->part++, last, b->e, b->n, &json, &len),
                  &json, &len);
    b->n = 0;
}

static void sync_add(void *arg, const hr_presence_entry *e)
{
    sync_batch *b = arg;
    if (b->n == HR_PRESENCE_SYNC_MAX)
        sync_flush(b, false);
    b->e[b->n++] = *e;
}

/* hello: always answered (a new instance-loop waits for the answers);
 * a want at most once per SYNC_GAP_MS. */
static void send_sync(nf_loop *l, cluster *c, uint64_t now, bool hello)
{
    if (!hello && c->last_sync_ms != 0 && now - c->last_sync_ms < SYNC_GAP_MS)
        return;
    c->last_sync_ms = now;
    sync_batch *b = malloc(sizeof *b);
    if (b == NULL)
        return;
    b->loop = l;
    b->instance = c->instance;
    b->part = 0;
    b->n = 0;
    c->carrier->each_member(sync_add, b);
    sync_flush(b, true);
    free(b);
}

void nf_cluster_broker_up(nf_loop *l)
{
    cluster *c = get(l);
    if (c == NULL)
        return;
    send_signal(l, HR_PRESENCE_HELLO, 0);
    send_sync(l, c, uv_now(l->uv), true);
}

void nf_cluster_tick(nf_loop *l)
{
    cluster *c = l->cluster;
    if (c == NULL)
        return;
    const uint64_t now = uv_now(l->uv);
    const uint64_t timeout = (uint64_t)l->cfg->pusher_presence_timeout_s * 1000;
    if (!c->live && now - c->last_hello_ms >= 1000) /* the broker was not up yet */
        send_signal(l, HR_PRESENCE_HELLO, 0);
    const size_t mine = c->carrier->count_members();
    if (mine > 0 && now - c->last_hb_ms >= timeout / 3) {
        c->last_hb_ms = now;
        send_signal(l, HR_PRESENCE_HEARTBEAT, mine);
    }
    if (c->live)
        nf_presence_expire(c->table, now, timeout, c->instance);
}

/* ---- reading ---- */

static void apply(nf_loop *l, cluster *c, const hr_presence_record *r, uint64_t now)
{
    nf_presence_seen(c->table, r->instance, now);
    switch (r->kind) {
    case HR_PRESENCE_ADD:
        (void)nf_presence_add(c->table, r->instance, r->entries, now);
        if (r->instance == c->instance) /* ours is back: the table is current for it */
            c->carrier->joined(r->entries->channel, r->entries->socket_id);
        break;
    case HR_PRESENCE_REMOVE:
        (void)nf_presence_remove(c->table, r->entries->channel, r->entries->socket_id);
        break;
    case HR_PRESENCE_HELLO:
        if (r->instance != c->instance)
            send_sync(l, c, now, true);
        break;
    case HR_PRESENCE_HEARTBEAT:
        if (nf_presence_entries_of(c->table, r->instance) != r->count)
            send_signal(l, HR_PRESENCE_WANT, r->instance);
        break;
    case HR_PRESENCE_WANT:
        if (r->to == c->instance)
            send_sync(l, c, now, false);
        break;
    case HR_PRESENCE_SYNC:
        if (r->count == 0)
            nf_presence_sync_begin(c->table, r->instance);
        for (size_t i = 0; i < r->n_entries; i++)
            (void)nf_presence_add(c->table, r->instance, &r->entries[i], now);
        if (r->last)
            nf_presence_sync_end(c->table, r->instance);
        break;
    case HR_PRESENCE_CLIENT_EVENT:
        c->carrier->client_event(l, r);
        break;
    case HR_PRESENCE_BYE:
        if (r->instance != c->instance) {
            const size_t gone = nf_presence_drop(c->table, r->instance);
            if (l->index == 0)
                hr_log(HR_LOG_INFO, "notifier",
                       "presence instance left instance=%llu members_removed=%zu",
                       (unsigned long long)r->instance, gone);
        }
        break;
    case HR_PRESENCE_SKIP:
        break; /* only from loop 0 (handle), never through the broker */
    }
}

static bool is_reserved(const char *name)
{
    return strcmp(name, HR_PRESENCE_CHANNEL) == 0;
}

/* One record (data[0..len)) for loop l; from_zero: forwarded by loop 0
 * (SKIP allowed). Returns the record's kind, or 0 when malformed. */
static int handle(nf_loop *l, const char *data, size_t len, bool from_zero, const hr_event *ev)
{
    cluster *c = get(l);
    hr_presence_record r;
    /* Stopping: our clients are closing, the table is of no more use. */
    if (c == NULL || l->stopping || hr_presence_record_parse(data, len, &r) != 0)
        return 0;
    const int kind = (int)r.kind;
    if (kind == HR_PRESENCE_SKIP && from_zero) {
        snprintf(c->skip_socket, sizeof c->skip_socket, "%s", r.socket_id);
        c->skip_id = (hr_event_id){r.count, r.to};
    } else if (kind != HR_PRESENCE_SKIP) {
        if (!c->live && r.kind == HR_PRESENCE_HELLO && r.instance == c->instance)
            set_live(c);
        else if (!c->live && r.kind == HR_PRESENCE_HELLO && l->broker == NULL)
            send_signal(l, HR_PRESENCE_HELLO, 0); /* the broker is up now: ours again */
        if (c->live)
            apply(l, c, &r, uv_now(l->uv));
        if (ev != NULL && l->index == 0)
            nf_hub_forward(l->hub, ev, uv_now(l->uv)); /* the other loops' turn */
    }
    hr_presence_record_deinit(&r);
    return kind;
}

bool nf_cluster_on_event(nf_loop *l, const hr_event *ev)
{
    bool reserved = false;
    for (size_t i = 0; i < ev->n_channels; i++)
        reserved = reserved || is_reserved(ev->channels[i]);
    if (!reserved)
        return false;
    if (ev->n_channels == 1)
        (void)handle(l, ev->data, ev->data_len, false, ev);
    return true;
}

bool nf_cluster_on_frame(nf_loop *l, const char *channel, const hr_msg *plain)
{
    if (!is_reserved(channel))
        return false;
    hr_cproto_event ev;
    if (l->cluster != NULL && hr_cproto_parse_event(plain->data + plain->head_len,
                                                    plain->len - plain->head_len, &ev) == 1)
        (void)handle(l, ev.data, ev.data_len, true, NULL);
    return true;
}

void nf_cluster_forward_skip(nf_loop *l, const hr_event *ev)
{
    if (ev->exclude == NULL || l->index != 0 || l->cfg->pusher_app_id == NULL)
        return;
    char *json = NULL;
    size_t len = 0;
    if (hr_presence_write_skip(0, ev->exclude, ev->id.ms, ev->id.seq, &json, &len) != 0)
        return;
    const char *names[] = {HR_PRESENCE_CHANNEL};
    const hr_event rec = {
        .id = ev->id, .channels = names, .n_channels = 1, .data = json, .data_len = len};
    nf_hub_forward(l->hub, &rec, uv_now(l->uv));
    free(json);
}

const char *nf_cluster_skip_for(nf_loop *l, hr_event_id id)
{
    const cluster *c = l->cluster;
    return c != NULL && c->skip_socket[0] != '\0' && hr_event_id_cmp(c->skip_id, id) == 0
               ? c->skip_socket
               : NULL;
}

/* ---- queries ---- */

size_t nf_cluster_members(nf_loop *l, const char *channel, const char *first_user,
                          hr_pusher_member *out, size_t max)
{
    const cluster *c = get(l);
    return c != NULL ? nf_presence_members(c->table, channel, first_user, out, max) : 0;
}

size_t nf_cluster_user_count(nf_loop *l, const char *channel)
{
    const cluster *c = get(l);
    return c != NULL ? nf_presence_user_count(c->table, channel) : 0;
}

void nf_cluster_each_channel(nf_loop *l, void (*each)(void *arg, const char *channel, size_t users),
                             void *arg)
{
    const cluster *c = get(l);
    if (c != NULL)
        nf_presence_each_channel(c->table, each, arg);
}

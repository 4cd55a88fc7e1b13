/* The hub: a hash table of channels, each with a doubly linked list of
 * subscriptions and a history ring, and the fan-out that frames each event
 * once per channel (see hub.h).
 *
 *   nf_client (per connection)          nf_channel "orders"
 *     subs -> [sub]->[sub]->NULL           subs <-> [sub] <-> [sub] ...
 *               |      \                   history: [e1 e2 e3 ...]
 *               |       `-> channel "a"
 *               `-> channel "orders"
 *
 * A subscription node sits in two lists: the channel's (doubly linked, for
 * O(1) removal and fan-out) and the client's (singly linked, at most
 * --max-channels long). */
#include "hub.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "history.h"
#include "proto/channel.h"
#include "proto/cproto.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"

/* Broadcast twins are compressed with a 512-byte window: a client may
 * negotiate any server_max_window_bits from 9 to 15 (8 is refused), and a
 * stream made with the smallest window is valid for all of them, so one
 * compressed frame still serves every subscriber. Typical events are shorter
 * than the window anyway, so little ratio is lost. */
#define BROADCAST_WINDOW_BITS 9

typedef struct nf_channel nf_channel;

struct nf_sub {
    nf_channel *ch;
    nf_client *client;
    nf_sub *ch_prev, *ch_next; /* in ch->subs */
    nf_sub *cl_next;           /* in client->subs */
};

struct nf_channel {
    nf_channel *next; /* hash chain */
    nf_sub *subs;
    uint32_t n_subs;
    uint32_t n_deflate; /* subscribers that negotiated deflate */
    uint64_t hash;
    nf_history hist;
    uint8_t name_len;
    char name[]; /* NUL-terminated */
};

struct nf_hub {
    nf_hub_config cfg;
    nf_hub_send_cb send;
    nf_hub_tap_cb tap;
    void *tap_arg;
    nf_hub_count_cb on_count;
    uint64_t seed;
    nf_channel **buckets;
    size_t n_buckets; /* power of two */
    hr_event_id floor;
    hr_ws_deflater deflater;
    nf_hub_stats stats;
};

static void replay_free(nf_client *cl);
static bool replay_has(const nf_replay *r, const nf_sub *s);
static void replay_remove(nf_client *cl, const nf_sub *s);

/* FNV-1a over the name, seeded, with a final avalanche (splitmix64). */
static uint64_t hash_name(uint64_t seed, const char *name, size_t len)
{
    uint64_t x = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        x ^= (unsigned char)name[i];
        x *= 1099511628211ULL;
    }
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

nf_hub *nf_hub_new(const nf_hub_config *cfg, nf_hub_send_cb send, uint64_t seed)
{
    nf_hub *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->n_buckets = 64;
    h->buckets = calloc(h->n_buckets, sizeof *h->buckets);
    if (h->buckets == NULL) {
        free(h);
        return NULL;
    }
    h->cfg = *cfg;
    h->send = send;
    h->seed = seed;
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.server_no_context_takeover = true;
    p.server_max_window_bits = BROADCAST_WINDOW_BITS;
    hr_ws_deflater_init(&h->deflater, &p, true, cfg->deflate_level);
    return h;
}

void nf_client_init(nf_client *cl, void *sink, bool deflate)
{
    *cl = (nf_client){.sink = sink, .deflate = deflate};
}

static nf_channel *find(const nf_hub *h, const char *name, size_t len, uint64_t hash)
{
    for (nf_channel *c = h->buckets[hash & (h->n_buckets - 1)]; c != NULL; c = c->next) {
        if (c->hash == hash && c->name_len == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

static void grow_table(nf_hub *h)
{
    const size_t n = h->n_buckets * 2;
    nf_channel **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < h->n_buckets; i++) {
        nf_channel *c = h->buckets[i];
        while (c != NULL) {
            nf_channel *next = c->next;
            c->next = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->n_buckets = n;
}

/* Finds or creates the channel named name[0..len), a valid name (checked
 * by the caller); NULL when out of memory. */
static nf_channel *get_valid_channel(nf_hub *h, const char *name, size_t len)
{
    const uint64_t hash = hash_name(h->seed, name, len);
    nf_channel *c = find(h, name, len, hash);
    if (c != NULL)
        return c;
    c = calloc(1, sizeof *c + len + 1);
    if (c == NULL)
        return NULL;
    c->hash = hash;
    c->name_len = (uint8_t)len;
    memcpy(c->name, name, len + 1);
    nf_history_init(&c->hist);
    if (h->stats.channels >= h->n_buckets)
        grow_table(h);
    nf_channel **slot = &h->buckets[hash & (h->n_buckets - 1)];
    c->next = *slot;
    *slot = c;
    h->stats.channels++;
    return c;
}

/* Finds or creates the channel; NULL when out of memory or invalid name. */
static nf_channel *get_channel(nf_hub *h, const char *name)
{
    const size_t len = strlen(name);
    return hr_channel_is_valid(name, len) ? get_valid_channel(h, name, len) : NULL;
}

static nf_channel *lookup(const nf_hub *h, const char *name)
{
    const size_t len = strlen(name);
    if (len == 0 || len > HR_CHANNEL_MAX)
        return NULL;
    return find(h, name, len, hash_name(h->seed, name, len));
}

/* Unlinks and frees c; its eviction marker raises the floor so a later
 * channel of the same name does not claim to cover what c lost. */
static void free_channel(nf_hub *h, nf_channel *c)
{
    nf_channel **p = &h->buckets[c->hash & (h->n_buckets - 1)];
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    if (hr_event_id_cmp(c->hist.evicted, h->floor) > 0)
        h->floor = c->hist.evicted;
    h->stats.history_events -= nf_history_len(&c->hist);
    nf_history_deinit(&c->hist);
    h->stats.channels--;
    free(c);
}

static void free_if_empty(nf_hub *h, nf_channel *c)
{
    if (c->n_subs == 0 && nf_history_len(&c->hist) == 0)
        free_channel(h, c);
}

void nf_hub_free(nf_hub *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n_buckets; i++) {
        nf_channel *c = h->buckets[i];
        while (c != NULL) {
            nf_channel *next = c->next;
            for (nf_sub *s = c->subs, *sn; s != NULL; s = sn) {
                sn = s->ch_next;
                s->client->subs = NULL;
                s->client->n_subs = 0;
                replay_free(s->client);
                free(s);
            }
            nf_history_deinit(&c->hist);
            free(c);
            c = next;
        }
    }
    hr_ws_deflater_deinit(&h->deflater);
    free(h->buckets);
    free(h);
}

/* ---- subscriptions ---------------------------------------------------- */

static nf_sub *client_find(const nf_client *cl, const nf_channel *c)
{
    for (nf_sub *s = cl->subs; s != NULL; s = s->cl_next) {
        if (s->ch == c)
            return s;
    }
    return NULL;
}

int nf_hub_subscribe(nf_hub *h, nf_client *cl, const char *name, bool *added)
{
    *added = false;
    nf_channel *c = get_channel(h, name);
    if (c == NULL)
        return HR_ENOMEM;
    if (client_find(cl, c) != NULL)
        return 0;
    nf_sub *s = malloc(sizeof *s);
    if (s == NULL) {
        free_if_empty(h, c);
        return HR_ENOMEM;
    }
    *s = (nf_sub){.ch = c, .client = cl, .ch_next = c->subs, .cl_next = cl->subs};
    if (c->subs != NULL)
        c->subs->ch_prev = s;
    c->subs = s;
    c->n_subs++;
    c->n_deflate += cl->deflate;
    cl->subs = s;
    cl->n_subs++;
    h->stats.subscriptions++;
    if (h->on_count != NULL)
        h->on_count(c->name, 1);
    *added = true;
    return 0;
}

/* Unlinks s from its channel (not from the client list) and frees it. */
static void drop_sub(nf_hub *h, nf_sub *s)
{
    nf_channel *c = s->ch;
    if (s->ch_prev != NULL)
        s->ch_prev->ch_next = s->ch_next;
    else
        c->subs = s->ch_next;
    if (s->ch_next != NULL)
        s->ch_next->ch_prev = s->ch_prev;
    c->n_subs--;
    c->n_deflate -= s->client->deflate;
    if (s->client->replay != NULL)
        replay_remove(s->client, s);
    s->client->n_subs--;
    h->stats.subscriptions--;
    if (h->on_count != NULL)
        h->on_count(c->name, -1);
    free(s);
    free_if_empty(h, c);
}

bool nf_hub_unsubscribe(nf_hub *h, nf_client *cl, const char *name)
{
    const nf_channel *c = lookup(h, name);
    if (c == NULL)
        return false;
    for (nf_sub **p = &cl->subs; *p != NULL; p = &(*p)->cl_next) {
        if ((*p)->ch == c) {
            nf_sub *s = *p;
            *p = s->cl_next;
            drop_sub(h, s);
            return true;
        }
    }
    return false;
}

size_t nf_hub_client_channels(const nf_client *cl, const char **out, size_t cap)
{
    size_t n = 0;
    for (const nf_sub *s = cl->subs; s != NULL && n < cap; s = s->cl_next)
        out[n++] = s->ch->name;
    return n;
}

bool nf_hub_is_subscribed(const nf_hub *h, const nf_client *cl, const char *name)
{
    const nf_channel *c = lookup(h, name);
    return c != NULL && client_find(cl, c) != NULL;
}

void nf_hub_client_leave(nf_hub *h, nf_client *cl)
{
    while (cl->subs != NULL) {
        nf_sub *s = cl->subs;
        cl->subs = s->cl_next;
        drop_sub(h, s);
    }
}

/* ---- fan-out ---------------------------------------------------------- */

hr_msg *nf_hub_encode(const char *name, const hr_event *ev)
{
    /* The writer's sizing pass refuses a name that is not valid (then NULL):
     * the hub checks no further (nf_hub_publish looks the channel up as
     * valid). */
    const size_t nlen = strlen(name);
    char id[HR_EVENT_ID_CAP];
    const size_t idlen = hr_event_id_format(ev->id, id, sizeof id);
    const int n =
        ev->event != NULL
            ? hr_cproto_write_named_event(NULL, 0, name, nlen, id, idlen, ev->event, ev->event_len,
                                          ev->data, ev->data_len)
            : hr_cproto_write_event(NULL, 0, name, nlen, id, idlen, ev->data, ev->data_len);
    if (n <= 0)
        return NULL;
    uint8_t hdr[HR_WS_MAX_HEADER];
    const size_t hlen =
        hr_ws_frame_write_header(hdr, HR_WS_OP_TEXT, true, false, (uint64_t)n, NULL);
    hr_msg *m = hr_msg_new(hlen + (size_t)n);
    if (m == NULL)
        return NULL;
    memcpy(m->data, hdr, hlen);
    m->head_len = (uint16_t)hlen;
    const int w =
        ev->event != NULL
            ? hr_cproto_write_named_event((char *)m->data + hlen, (size_t)n, name, nlen, id, idlen,
                                          ev->event, ev->event_len, ev->data, ev->data_len)
            : hr_cproto_write_event((char *)m->data + hlen, (size_t)n, name, nlen, id, idlen,
                                    ev->data, ev->data_len);
    HR_ASSERT(w == n);
    return m;
}

/* The compressed twin of a plain text frame (nf_hub_encode's: head_len
 * says where its payload starts), made from its payload. */
static hr_msg *make_deflated(nf_hub *h, const hr_msg *plain)
{
    if (plain->head_len == 0)
        return NULL;
    hr_msg *d = hr_ws_deflate_frame_new(&h->deflater, HR_WS_OP_TEXT, plain->data + plain->head_len,
                                        plain->len - plain->head_len);
    if (d != NULL)
        h->stats.deflated_frames++;
    return d;
}

static hr_msg *entry_deflated(nf_hub *h, nf_hist_entry *e)
{
    if (e->deflated == NULL)
        e->deflated = make_deflated(h, e->plain);
    return e->deflated;
}

static void send_to(nf_hub *h, nf_client *cl, hr_msg *plain, hr_msg *deflated, bool *ok)
{
    *ok = h->send(cl->sink, plain, cl->deflate ? deflated : NULL) == 0;
    if (*ok)
        h->stats.events_delivered++;
}

/* tap: also hand the event to the other loops (nf_hub_publish), once the
 * history took it and before this loop's own subscribers are queued, so the
 * other loops start their share of the fan-out without waiting for ours. */
static int publish_channel(nf_hub *h, nf_channel *c, hr_event_id id, hr_msg *plain, uint64_t now_ms,
                           bool tap)
{
    const uint32_t before = nf_history_len(&c->hist);
    const int rc = nf_history_append(&c->hist, id, plain, now_ms, h->cfg.history);
    if (rc == HR_EINVAL)
        return rc;
    if (tap && h->tap != NULL)
        h->tap(h->tap_arg, c->name, id, plain, now_ms);
    h->stats.history_events += nf_history_len(&c->hist);
    h->stats.history_events -= before;
    hr_msg *deflated = NULL;
    if (c->n_deflate > 0) {
        deflated = make_deflated(h, plain);
        if (deflated != NULL && rc == 0 && h->cfg.history > 0)
            nf_history_at(&c->hist, nf_history_len(&c->hist) - 1)->deflated = hr_msg_ref(deflated);
    }
    for (nf_sub *s = c->subs, *next; s != NULL; s = next) {
        next = s->ch_next;
        if (s->client->replay != NULL && replay_has(s->client->replay, s))
            continue; /* the replay will reach this event in order */
        bool ok;
        send_to(h, s->client, plain, deflated, &ok);
    }
    hr_msg_unref(deflated);
    return 0;
}

/* nf_hub_deliver for a channel already found (or NULL: out of memory);
 * tap as for publish_channel. */
static int deliver_to(nf_hub *h, nf_channel *c, hr_event_id id, hr_msg *plain, uint64_t now_ms,
                      bool tap)
{
    if (c == NULL) {
        h->stats.events_dropped++;
        return HR_ENOMEM;
    }
    h->stats.events_published++;
    const int rc = publish_channel(h, c, id, plain, now_ms, tap);
    if (rc != 0)
        h->stats.events_dropped++;
    free_if_empty(h, c);
    return rc;
}

int nf_hub_deliver(nf_hub *h, const char *name, hr_event_id id, hr_msg *plain, uint64_t now_ms)
{
    return deliver_to(h, get_channel(h, name), id, plain, now_ms, false);
}

void nf_hub_set_on_count(nf_hub *h, nf_hub_count_cb cb)
{
    h->on_count = cb;
}

void nf_hub_set_tap(nf_hub *h, nf_hub_tap_cb tap, void *arg)
{
    h->tap = tap;
    h->tap_arg = arg;
}

void nf_hub_forward(nf_hub *h, const hr_event *ev, uint64_t now_ms)
{
    for (size_t i = 0; h->tap != NULL && i < ev->n_channels; i++) {
        hr_msg *plain = nf_hub_encode(ev->channels[i], ev);
        if (plain != NULL)
            h->tap(h->tap_arg, ev->channels[i], ev->id, plain, now_ms);
        hr_msg_unref(plain);
    }
}

int nf_hub_publish(nf_hub *h, const hr_event *ev, uint64_t now_ms)
{
    int result = 0;
    for (size_t i = 0; i < ev->n_channels; i++) {
        const char *name = ev->channels[i];
        hr_msg *plain = nf_hub_encode(name, ev);
        if (plain == NULL) {
            h->stats.events_dropped++;
            if (hr_channel_is_valid(name, strlen(name)))
                result = HR_ENOMEM;
            continue;
        }
        /* nf_hub_encode's writer checked the name: not again for the lookup */
        nf_channel *c = get_valid_channel(h, name, strlen(name));
        const int rc = deliver_to(h, c, ev->id, plain, now_ms, true);
        if (rc != 0)
            result = rc;
        if (c == NULL && h->tap != NULL) /* out of memory here: the others may have room */
            h->tap(h->tap_arg, name, ev->id, plain, now_ms);
        hr_msg_unref(plain);
    }
    return result;
}

/* ---- resume ----------------------------------------------------------- */

bool nf_hub_covers(const nf_hub *h, const char *const *names, size_t n, hr_event_id since)
{
    if (hr_event_id_cmp(since, h->floor) < 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        const nf_channel *c = lookup(h, names[i]);
        if (c != NULL && !nf_history_covers(&c->hist, since))
            return false;
    }
    return true;
}

/* A replay in progress: one item per channel being replayed, each with its
 * own cursor (one event published to several channels has the same id on
 * each, so a single shared cursor would skip the second copy). */
typedef struct replay_item {
    nf_sub *sub;
    hr_event_id cursor;   /* newest id sent on this channel (since, at first) */
    hr_event_id evicted0; /* the channel's eviction mark when the item began */
} replay_item;

struct nf_replay {
    replay_item *items;
    size_t n, cap;
};

static void replay_free(nf_client *cl)
{
    if (cl->replay == NULL)
        return;
    free(cl->replay->items);
    free(cl->replay);
    cl->replay = NULL;
}

static bool replay_has(const nf_replay *r, const nf_sub *s)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].sub == s)
            return true;
    }
    return false;
}

/* Forgets the item of s (unsubscribed mid-replay), keeping the order. */
static void replay_remove(nf_client *cl, const nf_sub *s)
{
    nf_replay *r = cl->replay;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].sub == s) {
            memmove(&r->items[i], &r->items[i + 1], (r->n - i - 1) * sizeof *r->items);
            r->n--;
            break;
        }
    }
    if (r->n == 0)
        replay_free(cl);
}

static int replay_reserve(nf_client *cl, size_t more)
{
    if (cl->replay == NULL && (cl->replay = calloc(1, sizeof *cl->replay)) == NULL)
        return HR_ENOMEM;
    nf_replay *r = cl->replay;
    if (r->n + more <= r->cap)
        return 0;
    const size_t cap = r->n + more;
    replay_item *items = realloc(r->items, cap * sizeof *items);
    if (items == NULL)
        return HR_ENOMEM;
    r->items = items;
    r->cap = cap;
    return 0;
}

int nf_hub_replay_start(nf_hub *h, nf_client *cl, const char *const *names, size_t n,
                        hr_event_id since)
{
    if (replay_reserve(cl, n) != 0) {
        if (cl->replay != NULL && cl->replay->n == 0)
            replay_free(cl);
        return HR_ENOMEM;
    }
    nf_replay *r = cl->replay;
    for (size_t i = 0; i < n; i++) {
        const nf_channel *c = lookup(h, names[i]);
        nf_sub *sub = c != NULL ? client_find(cl, c) : NULL;
        if (sub == NULL || replay_has(r, sub))
            continue;
        r->items[r->n++] = (replay_item){sub, since, c->hist.evicted};
    }
    if (r->n == 0)
        replay_free(cl);
    return 0;
}

/* The item whose next entry is the oldest (ties: the first item), with that
 * entry's index in *idx; r->n when every item caught up. Sets *gap when a
 * channel evicted an entry its item had not sent yet. */
static size_t pick_oldest(const nf_replay *r, uint32_t *idx, bool *gap)
{
    size_t best = r->n;
    hr_event_id best_id = {0, 0};
    for (size_t i = 0; i < r->n; i++) {
        const replay_item *it = &r->items[i];
        const nf_history *hist = &it->sub->ch->hist;
        if (hr_event_id_cmp(hist->evicted, it->cursor) > 0 &&
            hr_event_id_cmp(hist->evicted, it->evicted0) > 0) {
            *gap = true;
            return r->n;
        }
        const uint32_t k = nf_history_first_after(hist, it->cursor);
        if (k >= nf_history_len(hist))
            continue;
        const hr_event_id id = nf_history_at(hist, k)->id;
        if (best == r->n || hr_event_id_cmp(id, best_id) < 0) {
            best = i;
            best_id = id;
            *idx = k;
        }
    }
    return best;
}

int nf_hub_replay_pump(nf_hub *h, nf_client *cl, size_t budget)
{
    size_t sent = 0;
    while (cl->replay != NULL) {
        nf_replay *r = cl->replay;
        bool gap = false;
        uint32_t k = 0;
        const size_t i = pick_oldest(r, &k, &gap);
        if (gap || i == r->n) {
            replay_free(cl);
            return gap ? HR_ELIMIT : 0;
        }
        if (sent >= budget)
            return 1;
        nf_hist_entry *e = nf_history_at(&r->items[i].sub->ch->hist, k);
        hr_msg *d = cl->deflate ? entry_deflated(h, e) : NULL;
        const int rc = h->send(cl->sink, e->plain, d);
        if (rc != 0) {
            replay_free(cl);
            return rc;
        }
        h->stats.events_delivered++;
        h->stats.events_replayed++;
        sent += d != NULL ? d->len : e->plain->len;
        r->items[i].cursor = e->id;
    }
    return 0;
}

long nf_hub_replay(nf_hub *h, nf_client *cl, const char *const *names, size_t n, hr_event_id since)
{
    const uint64_t before = h->stats.events_replayed;
    int rc = nf_hub_replay_start(h, cl, names, n, since);
    if (rc == 0)
        rc = nf_hub_replay_pump(h, cl, SIZE_MAX);
    const long sent = (long)(h->stats.events_replayed - before);
    return rc < 0 && sent == 0 ? rc : sent;
}

void nf_hub_raise_floor(nf_hub *h, hr_event_id floor)
{
    if (hr_event_id_cmp(floor, h->floor) > 0)
        h->floor = floor;
}

void nf_hub_expire(nf_hub *h, uint64_t now_ms)
{
    const bool aged = h->cfg.history_ttl_ms > 0 && now_ms > h->cfg.history_ttl_ms;
    const uint64_t cutoff = aged ? now_ms - h->cfg.history_ttl_ms : 0;
    for (size_t i = 0; i < h->n_buckets; i++) {
        nf_channel *c = h->buckets[i];
        while (c != NULL) {
            nf_channel *next = c->next;
            if (aged)
                h->stats.history_events -= nf_history_expire(&c->hist, cutoff);
            free_if_empty(h, c);
            c = next;
        }
    }
}

const nf_hub_stats *nf_hub_stats_view(const nf_hub *h)
{
    return &h->stats;
}

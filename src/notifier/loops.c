/* The shard loops and the plumbing between them and the primary (see
 * loops.h). Everything a shard touches lives in its struct shard; the
 * primary touches a shard only through its inbox (mutex), its snapshot
 * (mutex) and, after the thread ended, to free it.
 *
 * State shared by every thread, reviewed for this file: hr_log writes one
 * fwrite per line (stdio locks the stream) and its threshold is set before
 * any thread starts; the allocator's failure injector is test-only and only
 * read in production; connection ids come from an atomic counter
 * (lib/net/conn.c); hr_msg counts are atomic and a frame is frozen before
 * it is queued (the inbox mutex orders its bytes before the shard reads
 * them); jansson's hash seed is set in main() before the threads; hub seeds
 * come from uv_random per loop; uv_now is per loop but on one monotonic
 * clock, so the primary's timestamps age correctly in a shard's history;
 * link.c's `tomb` is only compared by address. `make tsan` checks it. */
#include "loops.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "cluster.h"
#include "core/log.h"
#include "cpub.h"
#include "inbox.h"
#include "proto/ws_frame.h"
#include "pusher.h"

typedef struct shard {
    nf_loop l; /* its loop state (hub, links, counters) */
    nf_shards *sh;
    uv_loop_t uv;
    uv_async_t wake;
    uv_prepare_t snap; /* started before the server's flush: runs after it */
    nf_inbox inbox;
    nf_ring batch; /* items taken from the inbox, being handled */
    uv_thread_t thread;
    uv_mutex_t snap_lock;
    nf_loop_counters snapshot; /* under snap_lock */
    uint64_t overflows;
    bool running; /* thread started (join it) */
} shard;

struct nf_shards {
    nf_loop *primary;
    unsigned n;    /* loops, the primary included */
    unsigned next;        /* round robin: links */
    unsigned next_direct; /* round robin: direct clients */
    bool stopping;
    shard **shards; /* [1..n-1]; [0] unused */
    nf_inbox up;    /* client publishes from the shards to the primary's broker */
    nf_ring up_batch;
    uv_async_t *up_wake; /* on the primary's loop; NULL once closed */
};

unsigned nf_loops_pick(unsigned *next, unsigned n)
{
    const unsigned k = *next % n;
    *next = k + 1;
    return k;
}

/* ---- the shard's side (its own thread) ----------------------------------- */

static void on_snap(uv_prepare_t *h)
{
    shard *s = h->data;
    const nf_loop_counters c = {
        .net = s->l.server != NULL ? *hr_server_stats(s->l.server) : (hr_net_stats){0},
        .hub = *nf_hub_stats_view(s->l.hub),
        .app = s->l.stats,
        .link = nf_links_stats(s->l.links),
        .overflows = s->overflows,
    };
    uv_mutex_lock(&s->snap_lock);
    s->snapshot = c;
    uv_mutex_unlock(&s->snap_lock);
}

static void shard_stop(shard *s)
{
    if (s->l.stopping)
        return;
    if (s->l.hub != NULL)
        on_snap(&s->snap);
    nf_loop_stop(&s->l); /* sessions get 1001; links close once flushed */
    nf_inbox_close(&s->inbox);
    uv_close((uv_handle_t *)&s->wake, NULL);
    uv_close((uv_handle_t *)&s->snap, NULL);
}

static void handle_item(shard *s, nf_inbox_item *it)
{
    switch (it->kind) {
    case NF_INBOX_EVENT: /* presence records go to cluster.c, never to the hub */
        if (!s->l.stopping && !nf_cluster_on_frame(&s->l, it->channel, it->msg)) {
            nf_pusher_exclude(nf_cluster_skip_for(&s->l, it->id));
            (void)nf_hub_deliver(s->l.hub, it->channel, it->id, it->msg, it->now_ms);
            nf_pusher_exclude(NULL);
        }
        break;
    case NF_INBOX_FLOOR:
        nf_hub_raise_floor(s->l.hub, it->id);
        break;
    case NF_INBOX_LINK:
        it->kind = 0; /* the descriptor moves into the link table */
        (void)nf_links_adopt(s->l.links, it->fd);
        break;
    case NF_INBOX_DIRECT:
        it->kind = 0; /* the descriptor moves into the server (or is closed there) */
        if (s->l.stopping)
            close(it->fd);
        else
            (void)hr_server_adopt(s->l.server, it->fd, it->bytes, it->len);
        break;
    case NF_INBOX_STOP:
        shard_stop(s);
        break;
    case NF_INBOX_PUBLISHED:
        nf_cpub_complete(&s->l, it->tag, it->status, it->channel);
        break;
    case NF_INBOX_PUBLISH: /* the primary's kind, never posted to a shard */
        break;
    }
    nf_inbox_item_release(it);
}

/* The shard's forward_publish (app.h): the data goes to the primary. */
static int forward_publish(void *arg, const char *channel, const char *data, size_t len, void *tag)
{
    shard *s = arg;
    const size_t clen = strlen(channel);
    if (clen > HR_CHANNEL_MAX)
        return HR_EINVAL;
    nf_inbox_item it = {.kind = NF_INBOX_PUBLISH, .tag = tag, .from = s->l.index};
    memcpy(it.channel, channel, clen + 1);
    if ((it.msg = hr_msg_new_copy(data, len)) == NULL)
        return HR_ENOMEM;
    const int rc = nf_inbox_push(&s->sh->up, &it);
    if (rc != 0)
        hr_msg_unref(it.msg);
    return rc == HR_ECLOSED ? HR_EBROKER : rc;
}

/* The inbox overflowed: the events refused are missing from this loop's
 * history and its sessions never saw them. Every session is closed with
 * 1013 (it resumes), and the floor makes a resume from before the gap say
 * recovered:false. Nothing after the gap was queued (inbox.h). */
static void on_overflow(shard *s, uint64_t lost, hr_event_id lost_id)
{
    s->overflows++;
    hr_log(HR_LOG_WARN, "notifier", "loop fell behind loop=%u events_lost=%llu", s->l.index,
           (unsigned long long)lost);
    nf_hub_raise_floor(s->l.hub, lost_id);
    nf_links_close_sessions(s->l.links, HR_WS_CLOSE_TRY_AGAIN, "fell behind");
    hr_server_close_websockets(s->l.server, HR_WS_CLOSE_TRY_AGAIN, "fell behind");
}

static void on_wake(uv_async_t *h)
{
    shard *s = h->data;
    uint64_t lost = 0;
    hr_event_id lost_id;
    nf_inbox_take(&s->inbox, &s->batch, &lost, &lost_id);
    nf_inbox_item it;
    while (nf_ring_pop(&s->batch, &it))
        handle_item(s, &it);
    if (lost > 0 && !s->l.stopping)
        on_overflow(s, lost, lost_id);
}

static void run_shard(void *arg)
{
    shard *s = arg;
    uv_run(&s->uv, UV_RUN_DEFAULT);
}

/* ---- set-up and tear-down (the primary's thread) ------------------------- */

/* Frees a shard whose thread has ended or never started. */
static void shard_free(shard *s)
{
    if (s == NULL)
        return;
    if (s->running)
        uv_thread_join(&s->thread);
    else {
        shard_stop(s);
        uv_run(&s->uv, UV_RUN_DEFAULT); /* closes what shard_stop closed */
    }
    nf_loop_deinit(&s->l);
    if (uv_loop_close(&s->uv) != 0)
        hr_log(HR_LOG_WARN, "notifier", "loop closed with handles left loop=%u", s->l.index);
    nf_ring_deinit(&s->batch);
    nf_inbox_deinit(&s->inbox);
    uv_mutex_destroy(&s->snap_lock);
    free(s);
}

static shard *shard_new(nf_shards *sh, const nf_loop *p, unsigned index, char *err, size_t errcap)
{
    shard *s = calloc(1, sizeof *s);
    if (s == NULL || uv_loop_init(&s->uv) != 0) {
        free(s);
        snprintf(err, errcap, "cannot create an event loop");
        return NULL;
    }
    uv_mutex_init(&s->snap_lock);
    nf_inbox_init(&s->inbox, p->cfg->loop_queue, &s->wake);
    uv_async_init(&s->uv, &s->wake, on_wake);
    /* The snapshot is taken just before the loop blocks, after this turn's
     * flush (libuv runs the prepare handles started last first), so it
     * holds everything the loop did before it went idle. */
    uv_prepare_init(&s->uv, &s->snap);
    s->wake.data = s->snap.data = s;
    uv_prepare_start(&s->snap, on_snap);
    const int rc = nf_loop_init_shard(&s->l, &s->uv, p->cfg, index, p->start_ms, err, errcap);
    s->sh = sh;
    s->l.forward_publish = forward_publish;
    s->l.forward_arg = s;
    if (rc == 0)
        nf_cluster_start(&s->l, &nf_pusher_carrier); /* Pusher presence: its hello goes out now */
    if (rc == 0 && uv_thread_create(&s->thread, run_shard, s) == 0) {
        s->running = true;
        return s;
    }
    if (rc == 0)
        snprintf(err, errcap, "cannot start a thread");
    shard_free(s);
    return NULL;
}

static bool hand_off(void *arg, uv_stream_t *server);
static void on_up(uv_async_t *h);
static void on_frame(void *arg, const char *name, hr_event_id id, hr_msg *plain, uint64_t now_ms);
static void peer_floor(void *arg, hr_event_id floor);
static void peer_stop(void *arg);
static unsigned peer_count(void *arg);
static void peer_counters(void *arg, unsigned index, nf_loop_counters *out);
static bool peer_direct(void *arg, hr_conn *c);

/* What the primary's code sees of the shards (app.h). */
static const nf_loop_peers peers = {
    .floor = peer_floor,
    .stop = peer_stop,
    .count = peer_count,
    .counters = peer_counters,
    .direct = peer_direct,
};

nf_shards *nf_shards_start(nf_loop *p, unsigned n, char *err, size_t errcap)
{
    nf_shards *sh = calloc(1, sizeof *sh);
    if (sh != NULL)
        sh->shards = calloc(n, sizeof *sh->shards);
    if (sh == NULL || sh->shards == NULL) {
        free(sh);
        snprintf(err, errcap, "herald-notifier: out of memory");
        return NULL;
    }
    sh->primary = p;
    sh->n = 1;
    sh->up_wake = malloc(sizeof *sh->up_wake);
    if (sh->up_wake == NULL || nf_inbox_init(&sh->up, p->cfg->loop_queue, sh->up_wake) != 0) {
        free(sh->up_wake);
        free(sh->shards);
        free(sh);
        snprintf(err, errcap, "herald-notifier: out of memory");
        return NULL;
    }
    uv_async_init(p->uv, sh->up_wake, on_up);
    sh->up_wake->data = sh;
    for (unsigned i = 1; i < n; i++) {
        char why[256];
        shard *s = shard_new(sh, p, sh->n, why, sizeof why);
        if (s == NULL) {
            hr_log(HR_LOG_WARN, "notifier", "loop not started loop=%u why=\"%s\"", sh->n, why);
            continue;
        }
        sh->shards[sh->n++] = s;
    }
    if (p->links != NULL)
        nf_links_set_handoff(p->links, hand_off, sh);
    nf_hub_set_tap(p->hub, on_frame, sh);
    p->peers = &peers;
    p->peers_arg = sh;
    /* A broker up before the shards were (the memory broker is, from inside
     * hr_broker_start) raised the primary's floor alone: the shards start
     * from the same one, ahead of every event. */
    if (p->broker != NULL && hr_broker_is_ready(p->broker))
        nf_shards_post_floor(sh, p->broker->origin);
    hr_log(HR_LOG_INFO, "notifier", "event loops loops=%u", sh->n);
    return sh;
}

static void post(shard *s, const nf_inbox_item *it)
{
    if (nf_inbox_push(&s->inbox, it) != 0) {
        nf_inbox_item copy = *it;
        nf_inbox_item_release(&copy);
    }
}

void nf_shards_post_event(nf_shards *sh, const char *name, hr_event_id id, hr_msg *plain,
                          uint64_t now_ms)
{
    const size_t len = strlen(name);
    if (sh->stopping || len > HR_CHANNEL_MAX)
        return;
    nf_inbox_item it = {.kind = NF_INBOX_EVENT, .id = id, .now_ms = now_ms};
    memcpy(it.channel, name, len + 1);
    for (unsigned i = 1; i < sh->n; i++) {
        it.msg = hr_msg_ref(plain);
        post(sh->shards[i], &it);
    }
}

void nf_shards_post_floor(nf_shards *sh, hr_event_id floor)
{
    const nf_inbox_item it = {.kind = NF_INBOX_FLOOR, .id = floor};
    for (unsigned i = 1; sh != NULL && !sh->stopping && i < sh->n; i++)
        post(sh->shards[i], &it);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* The listener's hand-off hook (link.h): every link but one in n goes to a
 * shard as a duplicated descriptor. */
static bool hand_off(void *arg, uv_stream_t *server)
{
    nf_shards *sh = arg;
    const unsigned k = nf_loops_pick(&sh->next, sh->n);
    if (k == 0 || sh->stopping)
        return false;
    uv_tcp_t *tmp = malloc(sizeof *tmp);
    if (tmp == NULL)
        return false;
    uv_tcp_init(server->loop, tmp);
    uv_os_fd_t fd = -1;
    int dup_fd = -1;
    if (uv_accept(server, (uv_stream_t *)tmp) == 0 && uv_fileno((uv_handle_t *)tmp, &fd) == 0)
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    uv_close((uv_handle_t *)tmp, free_handle); /* our descriptor; the duplicate lives on */
    if (dup_fd < 0) {
        hr_log(HR_LOG_WARN, "notifier", "herald-link not handed over loop=%u", k);
        return true;
    }
    const nf_inbox_item it = {.kind = NF_INBOX_LINK, .fd = dup_fd};
    post(sh->shards[k], &it);
    return true;
}

void nf_shards_stop(nf_shards *sh)
{
    if (sh == NULL || sh->stopping)
        return;
    sh->stopping = true;
    nf_inbox_close(&sh->up); /* shards' publishes now fail at once */
    uv_close((uv_handle_t *)sh->up_wake, free_handle);
    sh->up_wake = NULL;
    const nf_inbox_item it = {.kind = NF_INBOX_STOP};
    for (unsigned i = 1; i < sh->n; i++)
        post(sh->shards[i], &it);
}

void nf_shards_free(nf_shards *sh)
{
    if (sh == NULL)
        return;
    nf_shards_stop(sh);
    for (unsigned i = 1; i < sh->n; i++)
        shard_free(sh->shards[i]);
    nf_ring_deinit(&sh->up_batch);
    nf_inbox_deinit(&sh->up);
    free(sh->shards);
    free(sh);
}

unsigned nf_shards_loops(const nf_shards *sh)
{
    return sh != NULL ? sh->n : 1;
}

void nf_shards_counters(nf_shards *sh, unsigned index, nf_loop_counters *out)
{
    shard *s = sh->shards[index];
    uv_mutex_lock(&s->snap_lock);
    *out = s->snapshot;
    uv_mutex_unlock(&s->snap_lock);
}

/* ---- the primary's wiring (installed by nf_shards_start) ------------------------ */

/* The primary hub's tap: every frame it delivered goes to the shards. */
static void on_frame(void *arg, const char *name, hr_event_id id, hr_msg *plain, uint64_t now_ms)
{
    nf_shards_post_event(arg, name, id, plain, now_ms);
}

/* hr_conn_detach's receiver: the socket and its bytes into a shard's inbox.
 * A full inbox (that loop is a whole --loop-queue behind) refuses it. */
static int give_direct(void *arg, int fd, uint8_t *bytes, size_t len)
{
    shard *s = arg;
    const nf_inbox_item it = {.kind = NF_INBOX_DIRECT, .fd = fd, .bytes = bytes, .len = len};
    return nf_inbox_push(&s->inbox, &it);
}

/* A direct client's request (a /ws upgrade, a GET /sse): every one but one
 * in n goes to a shard. One the shard cannot take stays on loop 0, which is
 * never behind the events (it is their source): served here rather than
 * refused, and counted. */
static bool peer_direct(void *arg, hr_conn *c)
{
    nf_shards *sh = arg;
    const unsigned k = nf_loops_pick(&sh->next_direct, sh->n);
    if (k == 0 || sh->stopping)
        return false;
    const int rc = hr_conn_detach(c, give_direct, sh->shards[k]);
    if (rc == 0)
        return true;
    sh->primary->stats.handoffs_kept++;
    hr_log(HR_LOG_DEBUG, "notifier", "client kept on loop 0 loop=%u error=\"%s\"", k,
           hr_err_str(rc));
    return false; /* still ours: served here */
}

static void peer_floor(void *arg, hr_event_id floor)
{
    nf_shards_post_floor(arg, floor);
}

static void peer_stop(void *arg)
{
    nf_shards_stop(arg);
}

static unsigned peer_count(void *arg)
{
    return nf_shards_loops(arg);
}

static void peer_counters(void *arg, unsigned index, nf_loop_counters *out)
{
    nf_shards_counters(arg, index, out);
}

/* ---- client publishes from the shards (the primary's thread) ---------------- */

/* The primary's broker answered a shard's publish: tell the shard. */
static void remote_done(void *owner, void *tag, int status, const char *id, const char *ref)
{
    (void)ref;
    shard *s = owner;
    nf_inbox_item it = {.kind = NF_INBOX_PUBLISHED, .tag = tag, .status = status};
    if (id != NULL)
        snprintf(it.channel, sizeof it.channel, "%s", id);
    post(s, &it);
}

static void on_up(uv_async_t *h)
{
    nf_shards *sh = h->data;
    uint64_t lost = 0;
    hr_event_id lost_id;
    nf_inbox_take(&sh->up, &sh->up_batch, &lost, &lost_id);
    nf_inbox_item it;
    while (nf_ring_pop(&sh->up_batch, &it)) {
        if (it.kind == NF_INBOX_PUBLISH && it.from > 0 && it.from < sh->n) {
            shard *s = sh->shards[it.from];
            const int rc = nf_cpub_start(sh->primary, s, remote_done, it.tag, it.channel,
                                         (const char *)it.msg->data, it.msg->len, NULL);
            if (rc != 0)
                remote_done(s, it.tag, rc, NULL, NULL);
        }
        nf_inbox_item_release(&it);
    }
}

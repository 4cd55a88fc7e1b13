/* The Redis Streams adapter (see redis.h): two hiredis async connections on
 * the notifier's loop and a small state machine (the pure reply mapping and
 * URL parsing are in redis_map.c).
 *
 *   IDLE --start--> CONNECTING --both hello'd, XINFO, [XREVRANGE]--> LIVE
 *                      ^   |                                          |
 *                      |   +---------- error / timeout ---------------+
 *                      |                    v
 *                      +---- timer ---- BACKOFF
 *
 * hiredis calls back from inside its read handler, where freeing the very
 * context is deferred by hiredis itself (REDIS_IN_CALLBACK); a context is
 * "ours" only while b->rd or b->wr points at it, so late callbacks from a
 * context being dropped are recognised and ignored. Publish requests are
 * kept in a list so that a failure completes them exactly once, whatever
 * hiredis does with its own callback queue afterwards. */
#include "broker/redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libuv.h>

#include "broker/backoff.h"
#include "broker/tls_tunnel.h"
#include "core/err.h"
#include "core/log.h"

#define TICK_MS 1000
#define CONNECT_TIMEOUT_MS 5000
#define READ_COUNT "1000"
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define INFO_EVERY_TICKS 5

typedef enum rstate { R_IDLE, R_CONNECTING, R_LIVE, R_BACKOFF, R_STOPPED } rstate;

typedef struct redis_broker redis_broker;

typedef struct pub_req {
    struct pub_req *next, *prev;
    redis_broker *b;
    hr_broker_publish_cb cb;
    void *arg;
    size_t n;
    bool done; /* completed (or dropped) already: only free it */
} pub_req;

struct redis_broker {
    hr_broker base;
    hr_redis_config cfg;
    redisAsyncContext *rd; /* XREAD BLOCK */
    redisAsyncContext *wr; /* XADD, XINFO, XREVRANGE */
    rstate state;
    unsigned hello;       /* connections through AUTH/SELECT/PING this round */
    bool warmed;          /* history read once */
    bool ever_up;         /* for the reconnects counter */
    bool info_pending;    /* periodic XINFO in flight */
    bool malformed_noted; /* "logged once" */
    uint32_t attempt;
    uint64_t state_ms; /* loop time the state began */
    uint64_t read_ms;  /* loop time of the last XREAD reply */
    uint32_t ticks;
    uint64_t rnd;
    hr_event_id last; /* newest entry id read (delivered or skipped) */
    uv_timer_t backoff, tick;
    int open_handles;
    pub_req *pubs; /* outstanding, not yet completed */
    hr_event_id *ids;
    size_t ids_cap;
    hr_entry *scratch;     /* one decoded entry (large: heap) */
    hr_tls_tunnel *tunnel; /* rediss:// only */
};

static void connect_both(redis_broker *b);

static bool is_str(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* ---- helpers ----------------------------------------------------------- */

static uint32_t next_rand(redis_broker *b)
{
    b->rnd ^= b->rnd << 13;
    b->rnd ^= b->rnd >> 7;
    b->rnd ^= b->rnd << 17;
    return (uint32_t)(b->rnd >> 32);
}

static void set_state(redis_broker *b, rstate s)
{
    b->state = s;
    b->state_ms = uv_now(b->base.loop);
}

static bool is_ours(const redisAsyncContext *ac, redis_broker **out)
{
    redis_broker *b = ac->data;
    *out = b;
    return b != NULL && (ac == b->rd || ac == b->wr);
}

static int reserve_ids(redis_broker *b, size_t n)
{
    if (n <= b->ids_cap)
        return 0;
    if (n > SIZE_MAX / sizeof *b->ids)
        return HR_ENOMEM;
    hr_event_id *ids = realloc(b->ids, n * sizeof *ids);
    if (ids == NULL)
        return HR_ENOMEM;
    b->ids = ids;
    b->ids_cap = n;
    return 0;
}

static void unlink_pub(pub_req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else if (r->b != NULL)
        r->b->pubs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

/* Completes every outstanding publish with HR_EBROKER (call_cb) or drops
 * them silently (broker being freed). */
static void detach_pubs(redis_broker *b, bool call_cb)
{
    while (b->pubs != NULL) {
        pub_req *r = b->pubs;
        unlink_pub(r);
        r->done = true;
        r->b = NULL;
        if (call_cb)
            r->cb(r->arg, HR_EBROKER, NULL, 0);
    }
}

static void drop_context(redisAsyncContext **slot, bool detach)
{
    redisAsyncContext *ac = *slot;
    *slot = NULL;
    if (ac == NULL)
        return;
    if (detach)
        ac->data = NULL;
    redisAsyncFree(ac);
}

/* ---- failure and reconnect --------------------------------------------- */

static void on_backoff(uv_timer_t *t)
{
    redis_broker *b = t->data;
    if (b->state == R_BACKOFF)
        connect_both(b);
}

/* Takes the adapter down: fails pending publishes, drops both connections
 * and schedules the next attempt. Idempotent within a round. */
static void session_fail(redis_broker *b, const char *detail)
{
    if (b->state != R_CONNECTING && b->state != R_LIVE)
        return;
    const bool was_up = b->base.ready;
    b->base.ready = false;
    b->base.stats.connected = 0;
    detach_pubs(b, true);
    drop_context(&b->rd, false);
    drop_context(&b->wr, false);
    set_state(b, R_BACKOFF);
    const uint64_t delay =
        hr_backoff_delay_ms(b->attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS, next_rand(b));
    if (b->attempt < 30)
        b->attempt++;
    uv_timer_start(&b->backoff, on_backoff, delay, 0);
    if (was_up && b->base.cb.on_state != NULL)
        b->base.cb.on_state(b->base.app, false, detail);
    /* Warn on the first failure of a streak; retries are debug noise. */
    hr_log(was_up || b->attempt == 1 ? HR_LOG_WARN : HR_LOG_DEBUG, "redis",
           "%s; retrying host=%s port=%u in_ms=%" PRIu64, detail, b->cfg.host, b->cfg.port, delay);
}

static void fail_reply(redis_broker *b, const redisAsyncContext *ac, const redisReply *r,
                       const char *what)
{
    char detail[200];
    if (r == NULL)
        snprintf(detail, sizeof detail, "%s: %s", what,
                 ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr : "connection lost");
    else
        snprintf(detail, sizeof detail, "%s: %.*s", what,
                 r->type == REDIS_REPLY_ERROR ? (int)r->len : 18,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    session_fail(b, detail);
}

/* ---- consuming --------------------------------------------------------- */

static void note_malformed(redis_broker *b, hr_event_id id, int rc)
{
    b->base.stats.malformed++;
    if (b->malformed_noted)
        return;
    b->malformed_noted = true;
    char text[HR_EVENT_ID_CAP];
    hr_event_id_format(id, text, sizeof text);
    hr_log(HR_LOG_WARN, "redis",
           "skipping a stream entry without a valid channel or JSON data stream=%s id=%s "
           "error=\"%s\" (further ones are only counted: herald_broker_malformed_total)",
           b->cfg.stream, text, hr_err_str(rc));
}

/* Delivers entries[0..n) in the order given (step +1) or reversed (-1).
 * Returns false when the session failed. */
static bool deliver(redis_broker *b, const redisReply *entries, bool reversed)
{
    for (size_t k = 0; k < entries->elements; k++) {
        const redisReply *e = entries->element[reversed ? entries->elements - 1 - k : k];
        hr_event_id id;
        const int rc = hr_redis_map_entry(e, b->scratch, &id);
        if (rc == HR_EPROTO || rc == HR_ENOMEM) {
            session_fail(b, rc == HR_ENOMEM ? "out of memory" : "malformed stream reply");
            return false;
        }
        if (hr_event_id_cmp(id, b->last) <= 0) {
            if (rc == 0)
                hr_entry_deinit(b->scratch);
            continue;
        }
        b->last = id;
        if (rc != 0) {
            note_malformed(b, id, rc);
            continue;
        }
        b->base.stats.consumed++;
        if (b->base.cb.on_event != NULL)
            b->base.cb.on_event(b->base.app, &b->scratch->ev);
        hr_entry_deinit(b->scratch);
        if (b->state != R_LIVE && b->state != R_CONNECTING)
            return false;
    }
    return true;
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv);

static void issue_read(redis_broker *b)
{
    char id[HR_EVENT_ID_CAP + 2];
    hr_event_id_format(b->last, id, sizeof id);
    if (b->last.ms == 0) /* "N" would mean N-*: always ask with the full form */
        snprintf(id, sizeof id, "0-%" PRIu64, b->last.seq);
    char block[24];
    snprintf(block, sizeof block, "%" PRIu64, b->cfg.block_ms);
    const char *argv[] = {"XREAD", "COUNT",   READ_COUNT,    "BLOCK",
                          block,   "STREAMS", b->cfg.stream, id};
    if (redisAsyncCommandArgv(b->rd, on_read, NULL, (int)HR_ARRAY_LEN(argv), argv, NULL) !=
        REDIS_OK)
        session_fail(b, "cannot send XREAD");
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    redis_broker *b;
    if (!is_ours(ac, &b))
        return;
    const redisReply *r = reply;
    b->read_ms = uv_now(b->base.loop);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fail_reply(b, ac, r, "XREAD");
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *s = r->element[i];
            if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
                s->element[1]->type != REDIS_REPLY_ARRAY) {
                session_fail(b, "malformed XREAD reply");
                return;
            }
            if (!deliver(b, s->element[1], false))
                return;
        }
    }
    issue_read(b);
}

static void go_live(redis_broker *b)
{
    set_state(b, R_LIVE);
    b->base.ready = true;
    b->base.stats.connected = 1;
    if (b->ever_up)
        b->base.stats.reconnects++;
    b->ever_up = true;
    b->attempt = 0;
    b->read_ms = uv_now(b->base.loop);
    hr_log(HR_LOG_INFO, "redis", "consuming host=%s port=%u stream=%s", b->cfg.host, b->cfg.port,
           b->cfg.stream);
    if (b->base.cb.on_state != NULL)
        b->base.cb.on_state(b->base.app, true, "connected");
    if (b->state == R_LIVE)
        issue_read(b);
}

static void on_warm(redisAsyncContext *ac, void *reply, void *priv)
{
    hr_redis_info *info = priv;
    redis_broker *b;
    if (!is_ours(ac, &b)) {
        free(info);
        return;
    }
    const redisReply *r = reply;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        free(info);
        fail_reply(b, ac, r, "XREVRANGE");
        return;
    }
    /* Everything after origin is delivered: the whole stream when we read
     * less than asked (minus what Redis says it deleted), else from the
     * oldest entry read. */
    hr_event_id origin = hr_redis_info_gap(info);
    free(info);
    if (r->elements > 0 && r->elements >= b->cfg.warm) {
        const redisReply *oldest = r->element[r->elements - 1];
        hr_event_id id;
        if (oldest->type == REDIS_REPLY_ARRAY && oldest->elements == 2 &&
            is_str(oldest->element[0]) &&
            hr_event_id_parse(oldest->element[0]->str, oldest->element[0]->len, &id) == 0 &&
            hr_event_id_cmp(hr_redis_id_before(id), origin) > 0)
            origin = hr_redis_id_before(id);
    }
    b->base.origin = origin;
    b->warmed = true;
    if (deliver(b, r, true))
        go_live(b);
}

static void on_info_start(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    redis_broker *b;
    if (!is_ours(ac, &b))
        return;
    const redisReply *r = reply;
    hr_redis_info info = {0};
    if (r == NULL || (r->type == REDIS_REPLY_ERROR && strstr(r->str, "no such key") == NULL) ||
        (r->type != REDIS_REPLY_ERROR && hr_redis_parse_info(r, &info) != 0)) {
        fail_reply(b, ac, r, "XINFO STREAM");
        return;
    }
    if (b->warmed) {
        const hr_event_id gap = hr_redis_info_gap(&info);
        if (hr_event_id_cmp(gap, b->last) > 0) {
            hr_log(HR_LOG_WARN, "redis",
                   "entries were trimmed while disconnected stream=%s: "
                   "resumes from before the gap report recovered:false",
                   b->cfg.stream);
            if (hr_event_id_cmp(gap, b->base.origin) > 0)
                b->base.origin = gap;
        }
        go_live(b);
        return;
    }
    if (b->cfg.warm == 0) {
        b->last = info.last_generated;
        b->base.origin = info.last_generated;
        b->warmed = true;
        go_live(b);
        return;
    }
    hr_redis_info *keep = malloc(sizeof *keep);
    char count[24];
    snprintf(count, sizeof count, "%" PRIu64, b->cfg.warm);
    const char *argv[] = {"XREVRANGE", b->cfg.stream, "+", "-", "COUNT", count};
    if (keep == NULL) {
        session_fail(b, "out of memory");
        return;
    }
    *keep = info;
    if (redisAsyncCommandArgv(b->wr, on_warm, keep, (int)HR_ARRAY_LEN(argv), argv, NULL) !=
        REDIS_OK) {
        free(keep);
        session_fail(b, "cannot send XREVRANGE");
    }
}

/* ---- connecting -------------------------------------------------------- */

static void on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_broker *b;
    if (!is_ours(ac, &b))
        return;
    const redisReply *r = reply;
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_reply(b, ac, r, priv != NULL ? (const char *)priv : "handshake");
}

static void on_hello(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    redis_broker *b;
    if (!is_ours(ac, &b))
        return;
    const redisReply *r = reply;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fail_reply(b, ac, r, "PING");
        return;
    }
    if (++b->hello < 2)
        return;
    const char *argv[] = {"XINFO", "STREAM", b->cfg.stream};
    if (redisAsyncCommandArgv(b->wr, on_info_start, NULL, 3, argv, NULL) != REDIS_OK)
        session_fail(b, "cannot send XINFO");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_broker *b = ac->data;
    if (b == NULL || status == REDIS_OK || (ac != b->rd && ac != b->wr))
        return;
    /* hiredis frees a context whose connect failed once we return. */
    if (ac == b->rd)
        b->rd = NULL;
    else
        b->wr = NULL;
    char detail[160];
    snprintf(detail, sizeof detail, "connect: %s", ac->errstr[0] != '\0' ? ac->errstr : "failed");
    session_fail(b, detail);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    redis_broker *b = ac->data;
    if (b == NULL || (ac != b->rd && ac != b->wr))
        return;
    if (ac == b->rd)
        b->rd = NULL;
    else
        b->wr = NULL;
    char detail[160];
    snprintf(detail, sizeof detail, "disconnected: %s",
             ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
    session_fail(b, detail);
}

static int send_handshake(redis_broker *b, redisAsyncContext *ac)
{
    const hr_redis_config *c = &b->cfg;
    int rc = REDIS_OK;
    if (c->has_password) {
        const char *argv[] = {"AUTH", c->user, c->password};
        const int skip = c->user[0] == '\0' ? 1 : 0;
        const char *args[] = {argv[0], argv[1 + skip], argv[2]};
        rc = redisAsyncCommandArgv(ac, on_setup, "AUTH", 3 - skip, args, NULL);
    }
    if (rc == REDIS_OK && c->db > 0) {
        char db[12];
        snprintf(db, sizeof db, "%" PRIu32, c->db);
        const char *argv[] = {"SELECT", db};
        rc = redisAsyncCommandArgv(ac, on_setup, "SELECT", 2, argv, NULL);
    }
    if (rc == REDIS_OK)
        rc = redisAsyncCommand(ac, on_hello, NULL, "PING");
    return rc == REDIS_OK ? 0 : HR_EBROKER;
}

static redisAsyncContext *open_one(redis_broker *b, char *detail, size_t cap)
{
    redisAsyncContext *ac = b->tunnel != NULL ? redisAsyncConnectUnix(hr_tls_tunnel_path(b->tunnel))
                                              : redisAsyncConnect(b->cfg.host, b->cfg.port);
    if (ac == NULL) {
        snprintf(detail, cap, "out of memory");
        return NULL;
    }
    if (ac->err != 0) {
        snprintf(detail, cap, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = b;
    if (redisLibuvAttach(ac, b->base.loop) != REDIS_OK) {
        snprintf(detail, cap, "cannot attach to the loop");
        ac->data = NULL;
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void connect_both(redis_broker *b)
{
    set_state(b, R_CONNECTING);
    b->hello = 0;
    char detail[160] = "";
    b->rd = open_one(b, detail, sizeof detail);
    if (b->rd != NULL)
        b->wr = open_one(b, detail, sizeof detail);
    if (b->rd == NULL || b->wr == NULL || send_handshake(b, b->rd) != 0 ||
        send_handshake(b, b->wr) != 0)
        session_fail(b, detail[0] != '\0' ? detail : "cannot start the handshake");
}

/* ---- periodic checks --------------------------------------------------- */

static void on_info_tick(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    redis_broker *b;
    if (!is_ours(ac, &b))
        return;
    b->info_pending = false;
    hr_redis_info info;
    if (reply == NULL || hr_redis_parse_info(reply, &info) != 0)
        return;
    b->base.stats.lag_ms =
        info.last_generated.ms > b->last.ms ? info.last_generated.ms - b->last.ms : 0;
    /* Trimming overtook the reader: what it had not read yet is gone. */
    const hr_event_id gap = hr_redis_info_gap(&info);
    if (hr_event_id_cmp(gap, b->last) > 0 && hr_event_id_cmp(gap, b->base.origin) > 0) {
        b->base.origin = gap;
        hr_log(HR_LOG_WARN, "redis",
               "stream %s was trimmed past entries not read yet: resumes from before them "
               "report recovered:false",
               b->cfg.stream);
        if (b->base.cb.on_state != NULL)
            b->base.cb.on_state(b->base.app, true, "entries trimmed before they were read");
    }
}

static void on_tick(uv_timer_t *t)
{
    redis_broker *b = t->data;
    const uint64_t now = uv_now(b->base.loop);
    if (b->state == R_CONNECTING && now - b->state_ms > CONNECT_TIMEOUT_MS) {
        session_fail(b, "connect timeout");
    } else if (b->state == R_LIVE && now - b->read_ms > b->cfg.block_ms + CONNECT_TIMEOUT_MS) {
        session_fail(b, "no reply to XREAD");
    } else if (b->state == R_LIVE && ++b->ticks % INFO_EVERY_TICKS == 0 && !b->info_pending) {
        const char *argv[] = {"XINFO", "STREAM", b->cfg.stream};
        b->info_pending =
            redisAsyncCommandArgv(b->wr, on_info_tick, NULL, 3, argv, NULL) == REDIS_OK;
    }
}

/* ---- publishing -------------------------------------------------------- */

static void on_pub(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    pub_req *req = priv;
    if (req->done) {
        free(req);
        return;
    }
    redis_broker *b = req->b;
    unlink_pub(req);
    const redisReply *r = reply;
    int status = HR_EBROKER;
    if (r != NULL && reserve_ids(b, req->n) == 0) {
        const redisReply *const *ids = req->n == 1 ? (const redisReply *const *)&r : NULL;
        if (req->n > 1 && r->type == REDIS_REPLY_ARRAY && r->elements == req->n)
            ids = (const redisReply *const *)r->element;
        status = ids != NULL ? 0 : HR_EBROKER;
        for (size_t i = 0; ids != NULL && i < req->n && status == 0; i++)
            if (!is_str(ids[i]) || hr_event_id_parse(ids[i]->str, ids[i]->len, &b->ids[i]) != 0)
                status = HR_EBROKER;
    }
    if (status != 0 && r != NULL)
        hr_log(HR_LOG_WARN, "redis", "publish refused error=\"%.*s\"",
               r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    req->cb(req->arg, status, status == 0 ? b->ids : NULL, status == 0 ? req->n : 0);
    free(req);
}

/* Sends one XADD for item (channels joined with commas). */
static int send_xadd(redis_broker *b, const hr_pub_item *it, redisCallbackFn *fn, void *priv)
{
    size_t clen = 0;
    for (size_t i = 0; i < it->n_channels; i++)
        clen += strlen(it->channels[i]) + 1;
    char *chans = malloc(clen > 0 ? clen : 1);
    if (chans == NULL)
        return HR_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < it->n_channels; i++) {
        const size_t l = strlen(it->channels[i]);
        memcpy(chans + o, it->channels[i], l);
        o += l;
        chans[o++] = ',';
    }
    chans[o > 0 ? o - 1 : 0] = '\0';
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%" PRIu64, b->cfg.maxlen);
    /* the optional fields last, each present only when set */
    const char *argv[] = {"XADD",  b->cfg.stream, "MAXLEN",    "~",        maxlen,
                          "*",     "channel",     chans,       "data",     it->data,
                          "event", it->event,     "socket_id", it->exclude};
    size_t lens[HR_ARRAY_LEN(argv)];
    for (size_t i = 0; i < HR_ARRAY_LEN(argv); i++) /* data need not end in a NUL */
        lens[i] = i == 9 ? it->data_len : argv[i] != NULL ? strlen(argv[i]) : 0;
    const int skip = b->cfg.maxlen == 0 ? 3 : 0; /* drop MAXLEN ~ N */
    const char *args[HR_ARRAY_LEN(argv)];
    size_t alens[HR_ARRAY_LEN(argv)];
    int argc = 0;
    for (size_t i = 0; i < HR_ARRAY_LEN(argv); i++) {
        if ((skip != 0 && i >= 2 && i < 5) || (i >= 10 && argv[i | 1] == NULL))
            continue;
        args[argc] = argv[i];
        alens[argc++] = lens[i];
    }
    const int rc = redisAsyncCommandArgv(b->wr, fn, priv, argc, args, alens);
    free(chans);
    return rc == REDIS_OK ? 0 : HR_EBROKER;
}

static int redis_publish(hr_broker *base, const hr_pub_item *items, size_t n,
                         hr_broker_publish_cb cb, void *arg)
{
    redis_broker *b = (redis_broker *)base;
    if (b->state != R_LIVE || b->wr == NULL)
        return HR_EBROKER;
    pub_req *req = calloc(1, sizeof *req);
    if (req == NULL)
        return HR_ENOMEM;
    *req = (pub_req){.b = b, .cb = cb, .arg = arg, .n = n};
    int rc = 0;
    if (n > 1)
        rc = redisAsyncCommand(b->wr, NULL, NULL, "MULTI") == REDIS_OK ? 0 : HR_EBROKER;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = send_xadd(b, &items[i], n == 1 ? on_pub : NULL, n == 1 ? req : NULL);
    if (rc == 0 && n > 1)
        rc = redisAsyncCommand(b->wr, on_pub, req, "EXEC") == REDIS_OK ? 0 : HR_EBROKER;
    if (rc != 0) {
        /* No callback holds req yet. A half-queued MULTI must never run:
         * drop the connection (the adapter reconnects) so Redis discards it. */
        free(req);
        if (n > 1)
            session_fail(b, "publish could not be queued");
        return rc;
    }
    req->next = b->pubs;
    if (b->pubs != NULL)
        b->pubs->prev = req;
    b->pubs = req;
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static int redis_start(hr_broker *base)
{
    redis_broker *b = (redis_broker *)base;
    if (b->state != R_IDLE)
        return HR_EINVAL;
    if (b->cfg.tls) {
        const hr_tls_tunnel_config tc = {
            .host = b->cfg.host,
            .port = b->cfg.port,
            .ca_file = b->cfg.tls_ca[0] != '\0' ? b->cfg.tls_ca : NULL,
            .insecure = b->cfg.tls_insecure,
        };
        char err[300];
        b->tunnel = hr_tls_tunnel_new(b->base.loop, &tc, err, sizeof err);
        if (b->tunnel == NULL) {
            hr_log(HR_LOG_ERROR, "redis", "%s", err);
            return HR_EINVAL;
        }
    }
    uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
    connect_both(b);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    redis_broker *b = h->data;
    if (--b->open_handles > 0)
        return;
    free(b->ids);
    free(b->scratch);
    free(b);
}

static void redis_free(hr_broker *base)
{
    redis_broker *b = (redis_broker *)base;
    set_state(b, R_STOPPED);
    b->base.ready = false;
    detach_pubs(b, false);
    drop_context(&b->rd, true);
    drop_context(&b->wr, true);
    hr_tls_tunnel_free(b->tunnel);
    b->tunnel = NULL;
    uv_close((uv_handle_t *)&b->backoff, on_handle_closed);
    uv_close((uv_handle_t *)&b->tick, on_handle_closed);
}

static const hr_broker_ops redis_ops = {
    .name = "redis",
    .start = redis_start,
    .publish = redis_publish,
    .free = redis_free,
};

hr_broker *hr_redis_new(uv_loop_t *loop, const hr_redis_config *cfg, const hr_broker_callbacks *cb,
                        void *app)
{
    redis_broker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->scratch = malloc(sizeof *b->scratch);
    if (b->scratch == NULL) {
        free(b);
        return NULL;
    }
    b->base = (hr_broker){.ops = &redis_ops, .loop = loop, .cb = *cb, .app = app};
    b->cfg = *cfg;
    b->rnd = uv_hrtime() ^ (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15u;
    uv_timer_init(loop, &b->backoff);
    uv_timer_init(loop, &b->tick);
    b->backoff.data = b->tick.data = b;
    b->open_handles = 2;
    return &b->base;
}

/* The NATS JetStream adapter (see nats.h): a worker thread that owns the
 * nats.c connection, and the loop side that turns its notes into events.
 *
 *   nats.c delivery thread --msg--> [notes queue] --uv_async--> loop thread
 *   worker thread ---up/down/published/lag-->  ^        on_event, on_state,
 *   loop thread --publish jobs--> [jobs queue] --> worker    publish callbacks
 *
 * The notes queue is an hr_handoff (handoff.h), the jobs queue lives under
 * the adapter's mutex. The notes queue is bounded: when the
 * loop falls behind, the delivery thread waits (JetStream's flow control
 * then holds the server back), so memory stays bounded and nothing is
 * dropped. Everything the app sees happens on the loop thread.
 *
 * Worker session: connect (no automatic reconnect: the worker decides),
 * find or create the stream, read its state, subscribe with an ordered
 * consumer from the right sequence, report up; then run publish jobs until
 * the connection closes or the adapter stops; then report down, fail
 * queued jobs, wait a backoff delay (interruptible) and start again. */
#include "broker/nats.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/backoff.h"
#include "broker/handoff.h"
#include "core/err.h"
#include "core/log.h"

#define NOTES_MAX 65536
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define LAG_EVERY_MS 5000
#define CONNECT_TIMEOUT_MS 2000
#define JS_WAIT_MS 2000
#define HDR_CHANNELS "Herald-Channels"
#define HDR_EVENT "Herald-Event" /* optional event name (Pusher clients) */
#define HDR_EXCLUDE "Herald-Exclude" /* optional socket id left out (Pusher API) */

typedef enum note_kind { N_EVENT, N_UP, N_DOWN, N_PUBLISHED, N_LAG } note_kind;

typedef struct pub_job pub_job;

typedef struct note {
    hr_handoff_item link; /* first: the notes queue's link */
    note_kind kind;
    uint64_t seq; /* N_EVENT: stream sequence; N_UP: origin; N_LAG: stream last */
    pub_job *job; /* N_PUBLISHED */
    bool dense;   /* N_UP: the stream holds only our subjects: no sequence is skipped */
    char *subject, *hdr, *ev, *data;
    char exclude[HR_PUBLISH_EXCLUDE_MAX + 1]; /* "" when none (or not a socket id) */
    size_t data_len;
    char detail[160];
    char buf[]; /* subject, header and data of an event */
} note;

struct pub_job {
    struct pub_job *next;
    hr_broker_publish_cb cb;
    void *arg;
    bool dropped; /* the broker was freed: complete silently */
    int status;
    size_t n;
    natsMsg **msgs;
    hr_event_id *ids;
};

typedef struct nats_broker {
    hr_broker base;
    hr_nats_config cfg;
    hr_handoff notes; /* delivery thread and worker --> loop */
    uv_thread_t thread;
    bool thread_started;
    uv_mutex_t mu;
    uv_cond_t wake; /* worker: jobs, connection closed, stop */
    /* --- under mu --- */
    pub_job *jobs, *jobs_tail;
    bool stopping;
    bool conn_lost;
    natsConnection *nc; /* the live connection, for the closed callback */
    uint64_t rx_last;   /* newest sequence received from the subscription */
    /* --- worker only --- */
    jsCtx *js;
    natsSubscription *sub;
    uint32_t attempt;
    uint64_t rnd;
    bool ever_up;
    bool dense_w; /* worker's view of dense, posted with N_UP */
    /* --- loop only --- */
    hr_event_id last;
    bool dense;
    bool up_once;
    bool malformed_noted;
    hr_entry *scratch;
} nats_broker;

/* ---- queues ------------------------------------------------------------ */

static void post(nats_broker *b, note *n)
{
    hr_handoff_post(&b->notes, &n->link);
}

static note *new_note(note_kind kind, size_t extra)
{
    note *n = calloc(1, sizeof *n + extra);
    if (n != NULL)
        n->kind = kind;
    return n;
}

static void post_state(nats_broker *b, note_kind kind, uint64_t seq, const char *detail)
{
    note *n = new_note(kind, 0);
    if (n == NULL)
        return; /* out of memory: the state change is lost, the next one repairs it */
    n->seq = seq;
    snprintf(n->detail, sizeof n->detail, "%s", detail);
    post(b, n);
}

static void post_published(nats_broker *b, pub_job *job)
{
    note *n = new_note(N_PUBLISHED, 0);
    if (n == NULL) {
        /* Cannot tell the loop: leak nothing, lose the reply (the client
         * times out); only under memory exhaustion. */
        return;
    }
    n->job = job;
    post(b, n);
}

static void free_job(pub_job *job)
{
    for (size_t i = 0; i < job->n; i++)
        natsMsg_Destroy(job->msgs[i]);
    free(job->msgs);
    free(job->ids);
    free(job);
}

/* ---- delivery thread: messages in -------------------------------------- */

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    nats_broker *b = closure;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
        natsMsg_Destroy(msg);
        return;
    }
    const uint64_t seq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
    const char *subject = natsMsg_GetSubject(msg);
    const char *hdr = NULL, *ev = NULL, *ex = NULL;
    if (natsMsgHeader_Get(msg, HDR_EXCLUDE, &ex) != NATS_OK)
        ex = NULL;
    if (natsMsgHeader_Get(msg, HDR_CHANNELS, &hdr) != NATS_OK)
        hdr = NULL;
    if (natsMsgHeader_Get(msg, HDR_EVENT, &ev) != NATS_OK)
        ev = NULL;
    const int dlen = natsMsg_GetDataLength(msg);
    const size_t slen = strlen(subject), hlen = hdr != NULL ? strlen(hdr) : 0;
    const size_t elen = ev != NULL ? strlen(ev) : 0;
    note *n = new_note(N_EVENT, slen + 1 + hlen + 1 + elen + 1 + (size_t)(dlen > 0 ? dlen : 0) + 1);
    if (n != NULL) {
        n->seq = seq;
        if (ex != NULL && strlen(ex) <= HR_PUBLISH_EXCLUDE_MAX)
            memcpy(n->exclude, ex, strlen(ex) + 1);
        n->subject = n->buf;
        memcpy(n->subject, subject, slen + 1);
        n->hdr = hdr != NULL ? n->subject + slen + 1 : NULL;
        if (hdr != NULL)
            memcpy(n->hdr, hdr, hlen + 1);
        n->ev = ev != NULL ? n->subject + slen + 1 + hlen + 1 : NULL;
        if (ev != NULL)
            memcpy(n->ev, ev, elen + 1);
        n->data = n->subject + slen + 1 + hlen + 1 + elen + 1;
        n->data_len = (size_t)(dlen > 0 ? dlen : 0);
        memcpy(n->data, natsMsg_GetData(msg), n->data_len);
    }
    natsMsg_Destroy(msg);
    if (n == NULL)
        return; /* out of memory: the loop sees a sequence gap it cannot fill */
    (void)hr_handoff_wait_space(&b->notes); /* false when stopping: posted all the same */
    uv_mutex_lock(&b->mu);
    if (seq > b->rx_last)
        b->rx_last = seq;
    uv_mutex_unlock(&b->mu);
    post(b, n);
}

static void on_closed(natsConnection *nc, void *closure)
{
    nats_broker *b = closure;
    uv_mutex_lock(&b->mu);
    if (nc == b->nc) {
        b->conn_lost = true;
        uv_cond_signal(&b->wake);
    }
    uv_mutex_unlock(&b->mu);
}

/* ---- worker: sessions -------------------------------------------------- */

static natsStatus make_options(nats_broker *b, natsOptions **out)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, b->cfg.url);
    if (s == NATS_OK && b->cfg.has_user)
        s = natsOptions_SetUserInfo(o, b->cfg.user, b->cfg.password);
    if (s == NATS_OK && b->cfg.has_token)
        s = natsOptions_SetToken(o, b->cfg.token);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 5000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, b);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_closed, b);
    if (s != NATS_OK)
        natsOptions_Destroy(o);
    else
        *out = o;
    return s;
}

/* Finds the stream or creates it; fills *first and *last. */
static natsStatus ensure_stream(nats_broker *b, uint64_t *first, uint64_t *last, char *why,
                                size_t cap)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, b->cfg.stream, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        char subject[HR_BROKER_URL_FIELD + 4];
        snprintf(subject, sizeof subject, "%s.>", b->cfg.prefix);
        const char *subjects[] = {subject};
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        sc.Name = b->cfg.stream;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        sc.Retention = js_LimitsPolicy;
        sc.MaxAge = (int64_t)b->cfg.max_age_s * 1000000000;
        sc.MaxMsgs = b->cfg.max_msgs > 0 ? (int64_t)b->cfg.max_msgs : -1;
        sc.MaxBytes = b->cfg.max_bytes > 0 ? (int64_t)b->cfg.max_bytes : -1;
        jerr = 0;
        s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
        if (s == NATS_OK)
            hr_log(HR_LOG_INFO, "nats", "created stream=%s subjects=%s", b->cfg.stream, subject);
    }
    if (s != NATS_OK) {
        snprintf(why, cap, "stream %s: %s (jetstream error %d)", b->cfg.stream,
                 natsStatus_GetText(s), (int)jerr);
        return s;
    }
    *first = si->State.FirstSeq;
    *last = si->State.LastSeq;
    char mine[HR_BROKER_URL_FIELD + 4];
    snprintf(mine, sizeof mine, "%s.>", b->cfg.prefix);
    b->dense_w = si->Config != NULL && si->Config->SubjectsLen == 1 &&
                 strcmp(si->Config->Subjects[0], mine) == 0;
    jsStreamInfo_Destroy(si);
    return NATS_OK;
}

static natsStatus subscribe_from(nats_broker *b, uint64_t start, char *why, size_t cap)
{
    char subject[HR_BROKER_URL_FIELD + 4];
    snprintf(subject, sizeof subject, "%s.>", b->cfg.prefix);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = b->cfg.stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start;
    jsErrCode jerr = 0;
    natsStatus s = js_Subscribe(&b->sub, b->js, subject, on_msg, b, NULL, &so, &jerr);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(b->sub, -1, -1);
    if (s != NATS_OK)
        snprintf(why, cap, "subscribe: %s (jetstream error %d)", natsStatus_GetText(s), (int)jerr);
    return s;
}

static void session_close(nats_broker *b)
{
    uv_mutex_lock(&b->mu);
    natsConnection *nc = b->nc;
    b->nc = NULL;
    uv_mutex_unlock(&b->mu);
    /* Drain first: a subscription destroyed with messages still queued in
     * nats.c is never freed (each queued message holds it). */
    if (b->sub != NULL && nc != NULL && natsSubscription_Drain(b->sub) == NATS_OK)
        (void)natsSubscription_WaitForDrainCompletion(b->sub, 1000);
    if (b->sub != NULL)
        natsSubscription_Destroy(b->sub);
    b->sub = NULL;
    if (b->js != NULL)
        jsCtx_Destroy(b->js);
    b->js = NULL;
    if (nc != NULL)
        natsConnection_Destroy(nc);
}

/* Connects, prepares the stream and subscribes. Returns 0 with the
 * connection live and "up" posted, or -1 with why filled. */
static int session_open(nats_broker *b, char *why, size_t cap)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsStatus s = make_options(b, &o);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        snprintf(why, cap, "connect %.200s: %s", b->cfg.url, natsStatus_GetText(s));
        return -1;
    }
    uv_mutex_lock(&b->mu);
    b->nc = nc;
    b->conn_lost = false;
    const uint64_t rx_last = b->rx_last;
    uv_mutex_unlock(&b->mu);
    uint64_t first = 0, last = 0, origin = 0, start;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = JS_WAIT_MS; /* bounds a publish, and shutdown, on a stuck server */
    if (natsConnection_JetStream(&b->js, nc, &jo) != NATS_OK) {
        snprintf(why, cap, "JetStream context: out of memory");
        return -1;
    }
    if (ensure_stream(b, &first, &last, why, cap) != NATS_OK)
        return -1;
    if (!b->ever_up) {
        start = hr_nats_start_seq(first, last, b->cfg.warm, &origin);
        uv_mutex_lock(&b->mu);
        if (start - 1 > b->rx_last)
            b->rx_last = start - 1; /* a reconnect resumes here, not at 1 */
        uv_mutex_unlock(&b->mu);
    } else {
        start = rx_last + 1;
        origin = first > start ? first - 1 : 0; /* dropped while we were away */
    }
    if (subscribe_from(b, start, why, cap) != NATS_OK)
        return -1;
    b->ever_up = true;
    note *up = new_note(N_UP, 0);
    if (up == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    up->seq = origin;
    up->dense = b->dense_w;
    snprintf(up->detail, sizeof up->detail, "connected");
    post(b, up);
    return 0;
}

/* ---- worker: publishing ------------------------------------------------ */

static void run_job(nats_broker *b, pub_job *job)
{
    job->status = 0;
    for (size_t i = 0; i < job->n && job->status == 0; i++) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        const natsStatus s = js_PublishMsg(&pa, b->js, job->msgs[i], NULL, &jerr);
        if (s == NATS_OK)
            job->ids[i] = (hr_event_id){0, pa->Sequence};
        else
            job->status = HR_EBROKER;
        jsPubAck_Destroy(pa);
    }
    post_published(b, job);
}

static void fail_jobs_locked(nats_broker *b)
{
    while (b->jobs != NULL) {
        pub_job *job = b->jobs;
        b->jobs = job->next;
        job->status = HR_EBROKER;
        uv_mutex_unlock(&b->mu);
        post_published(b, job);
        uv_mutex_lock(&b->mu);
    }
    b->jobs_tail = NULL;
}

/* Serves jobs while the connection lives; returns with mu held. */
static void serve(nats_broker *b)
{
    uint64_t next_lag = uv_hrtime() / 1000000 + LAG_EVERY_MS;
    uv_mutex_lock(&b->mu);
    while (!b->stopping && !b->conn_lost) {
        pub_job *job = b->jobs;
        if (job != NULL) {
            b->jobs = job->next;
            if (b->jobs == NULL)
                b->jobs_tail = NULL;
            uv_mutex_unlock(&b->mu);
            run_job(b, job);
            uv_mutex_lock(&b->mu);
            continue;
        }
        const uint64_t now = uv_hrtime() / 1000000;
        if (now >= next_lag) {
            uv_mutex_unlock(&b->mu);
            uint64_t first = 0, last = 0;
            char why[160];
            if (ensure_stream(b, &first, &last, why, sizeof why) == NATS_OK)
                post_state(b, N_LAG, last, "");
            next_lag = now + LAG_EVERY_MS;
            uv_mutex_lock(&b->mu);
            continue;
        }
        (void)uv_cond_timedwait(&b->wake, &b->mu, (next_lag - now) * 1000000);
    }
}

static uint32_t next_rand(nats_broker *b)
{
    b->rnd ^= b->rnd << 13;
    b->rnd ^= b->rnd >> 7;
    b->rnd ^= b->rnd << 17;
    return (uint32_t)(b->rnd >> 32);
}

/* Waits the backoff delay unless stopping; returns with mu held. */
static void backoff_wait(nats_broker *b)
{
    const uint64_t delay =
        hr_backoff_delay_ms(b->attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS, next_rand(b));
    if (b->attempt < 30)
        b->attempt++;
    const uint64_t end = uv_hrtime() + delay * 1000000;
    while (!b->stopping) {
        const uint64_t now = uv_hrtime();
        if (now >= end)
            break;
        (void)uv_cond_timedwait(&b->wake, &b->mu, end - now);
    }
}

static void worker(void *arg)
{
    nats_broker *b = arg;
    uv_mutex_lock(&b->mu);
    while (!b->stopping) {
        uv_mutex_unlock(&b->mu);
        char why[256] = "";
        const bool ok = session_open(b, why, sizeof why) == 0;
        if (ok) {
            b->attempt = 0;
            serve(b); /* returns locked */
            snprintf(why, sizeof why, "connection to %.200s lost", b->cfg.url);
            uv_mutex_unlock(&b->mu);
        }
        session_close(b);
        uv_mutex_lock(&b->mu);
        if (b->stopping)
            break;
        fail_jobs_locked(b);
        uv_mutex_unlock(&b->mu);
        post_state(b, N_DOWN, b->attempt, why);
        uv_mutex_lock(&b->mu);
        backoff_wait(b);
    }
    uv_mutex_unlock(&b->mu);
}

/* ---- loop side --------------------------------------------------------- */

static void note_malformed(nats_broker *b, uint64_t seq, int rc)
{
    b->base.stats.malformed++;
    if (b->malformed_noted)
        return;
    b->malformed_noted = true;
    hr_log(HR_LOG_WARN, "nats",
           "skipping a stream message without a valid channel or JSON data stream=%s seq=%llu "
           "error=\"%s\" (further ones are only counted: herald_broker_malformed_total)",
           b->cfg.stream, (unsigned long long)seq, hr_err_str(rc));
}

/* Sequences skipped in a stream that holds only our subjects were dropped
 * (limits, purge, delete) before we read them: a resume from before them
 * cannot be complete, so raise the origin and report it to the app. */
static void note_gap(nats_broker *b, uint64_t seq)
{
    const uint64_t seen = b->last.seq > b->base.origin.seq ? b->last.seq : b->base.origin.seq;
    if (!b->dense || seq <= seen + 1)
        return;
    b->base.origin = (hr_event_id){0, seq - 1};
    hr_log(HR_LOG_WARN, "nats",
           "stream %s dropped messages %llu..%llu before they were read: resumes from before "
           "them report recovered:false",
           b->cfg.stream, (unsigned long long)(seen + 1), (unsigned long long)(seq - 1));
    if (b->base.ready && b->base.cb.on_state != NULL)
        b->base.cb.on_state(b->base.app, true, "messages dropped before they were read");
}

static void deliver(nats_broker *b, const note *n)
{
    const hr_event_id id = {0, n->seq};
    if (hr_event_id_cmp(id, b->last) <= 0)
        return; /* a re-delivery after a consumer reset */
    note_gap(b, n->seq);
    b->last = id;
    int rc = hr_nats_map_msg(b->cfg.prefix, n->subject, n->hdr, n->data, n->data_len, n->seq,
                             b->scratch);
    if (rc == 0 && n->ev != NULL)
        rc = hr_entry_set_event(b->scratch, n->ev, strlen(n->ev));
    if (rc == 0 && n->exclude[0] != '\0')
        rc = hr_entry_set_exclude(b->scratch, n->exclude, strlen(n->exclude));
    if (rc != 0) {
        hr_entry_deinit(b->scratch);
        note_malformed(b, n->seq, rc);
        return;
    }
    b->base.stats.consumed++;
    if (b->base.cb.on_event != NULL)
        b->base.cb.on_event(b->base.app, &b->scratch->ev);
    hr_entry_deinit(b->scratch);
}

static void set_state(nats_broker *b, const note *n)
{
    const bool up = n->kind == N_UP;
    if (up) {
        b->dense = n->dense;
        const hr_event_id origin = {0, n->seq};
        if (hr_event_id_cmp(origin, b->base.origin) > 0)
            b->base.origin = origin;
        if (b->up_once && !b->base.ready)
            b->base.stats.reconnects++;
        b->up_once = true;
        b->base.stats.connected = 1;
        hr_log(HR_LOG_INFO, "nats", "consuming url=%s stream=%s from_seq=%llu", b->cfg.url,
               b->cfg.stream, (unsigned long long)(n->seq + 1));
    }
    const bool was = b->base.ready;
    b->base.ready = up;
    if (!up) {
        b->base.stats.connected = 0;
        hr_log(was || n->seq <= 1 ? HR_LOG_WARN : HR_LOG_DEBUG, "nats", "%s; retrying", n->detail);
    }
    if (was != up && b->base.cb.on_state != NULL)
        b->base.cb.on_state(b->base.app, up, n->detail);
}

static void handle(nats_broker *b, note *n)
{
    switch (n->kind) {
    case N_EVENT:
        deliver(b, n);
        break;
    case N_UP:
    case N_DOWN:
        set_state(b, n);
        break;
    case N_LAG:
        b->base.stats.lag_events = n->seq > b->last.seq ? n->seq - b->last.seq : 0;
        break;
    case N_PUBLISHED: {
        pub_job *job = n->job;
        if (!job->dropped)
            job->cb(job->arg, job->status, job->status == 0 ? job->ids : NULL,
                    job->status == 0 ? job->n : 0);
        free_job(job);
        break;
    }
    }
}

static void on_note(hr_handoff *h, hr_handoff_item *item)
{
    note *n = (note *)item;
    handle(h->data, n);
    free(n);
}

/* Builds the messages of a job (on the loop: items are borrowed). */
static pub_job *make_job(nats_broker *b, const hr_pub_item *items, size_t n)
{
    pub_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->msgs = calloc(n, sizeof *job->msgs);
    job->ids = calloc(n, sizeof *job->ids);
    if (job->msgs == NULL || job->ids == NULL || n > INT32_MAX) {
        free_job(job);
        return NULL;
    }
    for (size_t i = 0; i < n; i++, job->n++) {
        const hr_pub_item *it = &items[i];
        char subject[HR_BROKER_URL_FIELD + HR_CHANNEL_MAX + 4];
        bool hdr;
        if (it->data_len > INT32_MAX ||
            hr_nats_subject_for(b->cfg.prefix, (const char *const *)it->channels, it->n_channels,
                                subject, sizeof subject, &hdr) != 0 ||
            natsMsg_Create(&job->msgs[i], subject, NULL, it->data, (int)it->data_len) != NATS_OK ||
            (it->event != NULL &&
             natsMsgHeader_Set(job->msgs[i], HDR_EVENT, it->event) != NATS_OK) ||
            (it->exclude != NULL &&
             natsMsgHeader_Set(job->msgs[i], HDR_EXCLUDE, it->exclude) != NATS_OK)) {
            if (job->msgs[i] != NULL)
                job->n++; /* free_job destroys the first n messages */
            free_job(job);
            return NULL;
        }
        if (hdr) {
            size_t len = 0;
            for (size_t k = 0; k < it->n_channels; k++)
                len += strlen(it->channels[k]) + 1;
            char *list = malloc(len);
            size_t o = 0;
            for (size_t k = 0; list != NULL && k < it->n_channels; k++) {
                const size_t l = strlen(it->channels[k]);
                memcpy(list + o, it->channels[k], l);
                o += l;
                list[o++] = k + 1 < it->n_channels ? ',' : '\0';
            }
            const bool ok =
                list != NULL && natsMsgHeader_Set(job->msgs[i], HDR_CHANNELS, list) == NATS_OK;
            free(list);
            if (!ok) {
                job->n++;
                free_job(job);
                return NULL;
            }
        }
    }
    return job;
}

static int nats_publish(hr_broker *base, const hr_pub_item *items, size_t n,
                        hr_broker_publish_cb cb, void *arg)
{
    nats_broker *b = (nats_broker *)base;
    pub_job *job = make_job(b, items, n);
    if (job == NULL)
        return HR_ENOMEM;
    job->cb = cb;
    job->arg = arg;
    uv_mutex_lock(&b->mu);
    if (b->jobs_tail != NULL)
        b->jobs_tail->next = job;
    else
        b->jobs = job;
    b->jobs_tail = job;
    uv_cond_signal(&b->wake);
    uv_mutex_unlock(&b->mu);
    return 0;
}

static int nats_start(hr_broker *base)
{
    nats_broker *b = (nats_broker *)base;
    if (b->thread_started)
        return HR_EINVAL;
    if (nats_Open(-1) != NATS_OK)
        return HR_EBROKER;
    if (uv_thread_create(&b->thread, worker, b) != 0)
        return HR_EINTERNAL;
    b->thread_started = true;
    return 0;
}

static void drop_note(hr_handoff *h, hr_handoff_item *item)
{
    (void)h;
    note *n = (note *)item;
    if (n->kind == N_PUBLISHED)
        free_job(n->job);
    free(n);
}

static void on_notes_closed(hr_handoff *h)
{
    nats_broker *b = h->data;
    if (b->thread_started)
        nats_CloseAndWait(2000); /* after drop_note destroyed the last messages */
    uv_cond_destroy(&b->wake);
    uv_mutex_destroy(&b->mu);
    free(b->scratch);
    free(b);
}

static void nats_free(hr_broker *base)
{
    nats_broker *b = (nats_broker *)base;
    uv_mutex_lock(&b->mu);
    b->stopping = true;
    uv_cond_broadcast(&b->wake);
    uv_mutex_unlock(&b->mu);
    hr_handoff_stop(&b->notes);
    /* Bounded by the connect timeout and one JetStream request. */
    if (b->thread_started)
        uv_thread_join(&b->thread);
    b->base.ready = false;
    uv_mutex_lock(&b->mu);
    for (pub_job *j = b->jobs; j != NULL;) {
        pub_job *next = j->next;
        free_job(j);
        j = next;
    }
    b->jobs = b->jobs_tail = NULL;
    uv_mutex_unlock(&b->mu);
    /* nats_Close waits for on_notes_closed: drop_note destroys the messages
     * of completed publishes the loop never saw, and natsMsg_Destroy after
     * nats_Close crashes. */
    hr_handoff_close(&b->notes, drop_note, on_notes_closed);
}

static const hr_broker_ops nats_ops = {
    .name = "nats",
    .start = nats_start,
    .publish = nats_publish,
    .free = nats_free,
};

hr_broker *hr_nats_new(uv_loop_t *loop, const hr_nats_config *cfg, const hr_broker_callbacks *cb,
                       void *app)
{
    nats_broker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->scratch = malloc(sizeof *b->scratch);
    if (b->scratch == NULL || uv_mutex_init(&b->mu) != 0)
        goto fail;
    if (hr_handoff_init(&b->notes, loop, NOTES_MAX, on_note, b) != 0) {
        uv_mutex_destroy(&b->mu);
        goto fail;
    }
    uv_cond_init(&b->wake);
    b->base = (hr_broker){.ops = &nats_ops, .loop = loop, .cb = *cb, .app = app};
    b->cfg = *cfg;
    b->rnd = uv_hrtime() ^ (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15u;
    return &b->base;
fail:
    free(b->scratch);
    free(b);
    return NULL;
}

/* The RabbitMQ streams adapter, loop side (see rabbitmq.h for the contract
 * and rabbitmq_int.h for the threading): turns the worker's notes into
 * events, state changes and publish completions, and builds publish jobs.
 * The worker itself is rabbitmq_conn.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker/rabbitmq_int.h"
#include "core/err.h"
#include "core/log.h"

/* ---- shared with the worker ------------------------------------------- */

rb_note *rb_note_new(rb_note_kind kind, size_t extra)
{
    rb_note *n = calloc(1, sizeof *n + extra);
    if (n != NULL)
        n->kind = kind;
    return n;
}

void rb_post(rb_broker *b, rb_note *n)
{
    hr_handoff_post(&b->notes, &n->link);
}

void rb_job_free(rb_job *job)
{
    for (size_t i = 0; i < job->n; i++) {
        free(job->channels[i]);
        free(job->data[i]);
        free(job->event[i]);
        if (job->exclude != NULL)
            free(job->exclude[i]);
    }
    free(job->channels);
    free(job->data);
    free(job->event);
    free(job->exclude);
    free(job->data_len);
    free(job->confirmed);
    free(job->seen);
    free(job->ids);
    free(job);
}

/* ---- loop side --------------------------------------------------------- */

static void note_malformed(rb_broker *b, const rb_note *n, int rc)
{
    b->base.stats.malformed++;
    if (b->malformed_noted)
        return;
    b->malformed_noted = true;
    hr_log(HR_LOG_WARN, "rabbitmq",
           "skipping a stream message without a valid channel header or JSON body stream=%s "
           "offset=%llu error=\"%s\" (further ones are only counted: "
           "herald_broker_malformed_total)",
           b->cfg.stream, n->has_offset ? (unsigned long long)n->offset : 0ULL, hr_err_str(rc));
}

/* Offsets are not dense (a new segment starts with a tracking chunk that
 * takes an offset but is never delivered), so a jump proves nothing while
 * consuming. Where the stream may have lost messages we did not read is at
 * a (re)subscription: retention deleted segments while we were away. So the
 * first delivery after each "up" is compared with where we asked to start:
 * a later offset raises the origin (conservatively, at worst by a tracking
 * chunk), and a resume from before it reports recovered:false. */
static void note_gap(rb_broker *b, hr_event_id id)
{
    const uint64_t seen = b->last.seq > b->base.origin.seq ? b->last.seq : b->base.origin.seq;
    if (id.seq <= seen + 1)
        return;
    b->base.origin = (hr_event_id){0, id.seq - 1};
    hr_log(HR_LOG_WARN, "rabbitmq",
           "stream %s dropped offsets %llu..%llu before they were read: resumes from before them "
           "report recovered:false",
           b->cfg.stream, (unsigned long long)(seen), (unsigned long long)(id.seq - 2));
    if (b->base.ready && b->base.cb.on_state != NULL)
        b->base.cb.on_state(b->base.app, true, "messages dropped before they were read");
}

static void deliver(rb_broker *b, const rb_note *n)
{
    if (!n->has_offset) {
        note_malformed(b, n, HR_EPROTO);
        return;
    }
    const hr_event_id id = hr_rabbitmq_id(n->offset);
    if (hr_event_id_cmp(id, b->last) <= 0)
        return; /* a re-delivery after a reconnect */
    if (b->check_gap)
        note_gap(b, id);
    b->check_gap = false;
    b->last = id;
    if (n->marker)
        return;
    const hr_rabbitmq_meta m = {.has_offset = true,
                                .offset = n->offset,
                                .channel = n->channel,
                                .channel_len = n->channel_len,
                                .event = n->event,
                                .event_len = n->event_len,
                                .exclude = n->has_exclude ? n->exclude : NULL,
                                .exclude_len = n->exclude_len};
    const int rc = hr_rabbitmq_map_msg(&m, n->data, n->data_len, b->scratch);
    if (rc != 0) {
        hr_entry_deinit(b->scratch);
        note_malformed(b, n, rc);
        return;
    }
    b->base.stats.consumed++;
    if (b->base.cb.on_event != NULL)
        b->base.cb.on_event(b->base.app, &b->scratch->ev);
    hr_entry_deinit(b->scratch);
}

static void set_state(rb_broker *b, const rb_note *n)
{
    const bool up = n->kind == RB_UP;
    if (up) {
        const hr_event_id origin = {0, n->offset};
        if (hr_event_id_cmp(origin, b->base.origin) > 0)
            b->base.origin = origin;
        if (b->up_once && !b->base.ready)
            b->base.stats.reconnects++;
        b->check_gap = b->up_once; /* the first session checks from its first event */
        b->up_once = true;
        b->base.stats.connected = 1;
        hr_log(HR_LOG_INFO, "rabbitmq", "consuming host=%s:%u vhost=%s stream=%s", b->cfg.host,
               b->cfg.port, b->cfg.vhost, b->cfg.stream);
    }
    const bool was = b->base.ready;
    b->base.ready = up;
    if (!up) {
        b->base.stats.connected = 0;
        hr_log(was || n->offset <= 1 ? HR_LOG_WARN : HR_LOG_DEBUG, "rabbitmq", "%s; retrying",
               n->detail);
    }
    if (was != up && b->base.cb.on_state != NULL)
        b->base.cb.on_state(b->base.app, up, n->detail);
}

static void handle(rb_broker *b, rb_note *n)
{
    switch (n->kind) {
    case RB_EVENT:
        deliver(b, n);
        break;
    case RB_UP:
    case RB_DOWN:
        set_state(b, n);
        break;
    case RB_LAG: { /* offsets past the last one read (ids are offset + 1) */
        const uint64_t read = b->last.seq > 0 ? b->last.seq - 1 : 0;
        b->base.stats.lag_events = n->offset > read ? n->offset - read : 0;
        break;
    }
    case RB_PUBLISHED: {
        rb_job *job = n->job;
        job->cb(job->arg, job->status, job->status == 0 ? job->ids : NULL,
                job->status == 0 ? job->n : 0);
        rb_job_free(job);
        break;
    }
    }
}

static void on_note(hr_handoff *h, hr_handoff_item *item)
{
    rb_note *n = (rb_note *)item;
    handle(h->data, n);
    free(n);
}

static void wake_worker(rb_broker *b)
{
    const uint64_t one = 1;
    (void)!write(b->wake_fd, &one, sizeof one);
}

/* Copies items into a job (on the loop: items are borrowed). */
static rb_job *make_job(const hr_pub_item *items, size_t n)
{
    rb_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->channels = calloc(n, sizeof *job->channels);
    job->data = calloc(n, sizeof *job->data);
    job->event = calloc(n, sizeof *job->event);
    job->exclude = calloc(n, sizeof *job->exclude);
    job->data_len = calloc(n, sizeof *job->data_len);
    job->confirmed = calloc(n, sizeof *job->confirmed);
    job->seen = calloc(n, sizeof *job->seen);
    job->ids = calloc(n, sizeof *job->ids);
    job->n = n;
    if (job->channels == NULL || job->data == NULL || job->event == NULL || job->exclude == NULL ||
        job->data_len == NULL || job->confirmed == NULL || job->seen == NULL || job->ids == NULL) {
        rb_job_free(job);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const hr_pub_item *it = &items[i];
        size_t len = 0;
        for (size_t k = 0; k < it->n_channels; k++)
            len += strlen(it->channels[k]) + 1;
        job->channels[i] = malloc(len > 0 ? len : 1);
        job->data[i] = malloc(it->data_len + 1);
        job->event[i] = it->event != NULL ? strndup(it->event, it->event_len) : NULL;
        job->exclude[i] = it->exclude != NULL ? strndup(it->exclude, it->exclude_len) : NULL;
        if (job->channels[i] == NULL || job->data[i] == NULL ||
            (it->event != NULL && job->event[i] == NULL) ||
            (it->exclude != NULL && job->exclude[i] == NULL)) {
            rb_job_free(job);
            return NULL;
        }
        size_t o = 0;
        for (size_t k = 0; k < it->n_channels; k++) {
            const size_t l = strlen(it->channels[k]);
            memcpy(job->channels[i] + o, it->channels[k], l);
            o += l;
            job->channels[i][o++] = ',';
        }
        job->channels[i][o > 0 ? o - 1 : 0] = '\0';
        memcpy(job->data[i], it->data, it->data_len);
        job->data[i][it->data_len] = '\0';
        job->data_len[i] = it->data_len;
    }
    return job;
}

static int rabbitmq_publish(hr_broker *base, const hr_pub_item *items, size_t n,
                            hr_broker_publish_cb cb, void *arg)
{
    rb_broker *b = (rb_broker *)base;
    rb_job *job = make_job(items, n);
    if (job == NULL)
        return HR_ENOMEM;
    job->cb = cb;
    job->arg = arg;
    uv_mutex_lock(&b->mu);
    job->seq = ++b->job_seq;
    if (b->jobs_tail != NULL)
        b->jobs_tail->next = job;
    else
        b->jobs = job;
    b->jobs_tail = job;
    uv_mutex_unlock(&b->mu);
    wake_worker(b);
    return 0;
}

static int rabbitmq_start(hr_broker *base)
{
    rb_broker *b = (rb_broker *)base;
    if (b->thread_started)
        return HR_EINVAL;
    if (uv_thread_create(&b->thread, rb_worker, b) != 0)
        return HR_EINTERNAL;
    b->thread_started = true;
    return 0;
}

static void drop_note(hr_handoff *h, hr_handoff_item *item)
{
    (void)h;
    rb_note *n = (rb_note *)item;
    if (n->kind == RB_PUBLISHED)
        rb_job_free(n->job);
    free(n);
}

static void on_notes_closed(hr_handoff *h)
{
    rb_broker *b = h->data;
    uv_cond_destroy(&b->wake);
    uv_mutex_destroy(&b->mu);
    close(b->wake_fd);
    free(b->scratch);
    free(b);
}

static void rabbitmq_free(hr_broker *base)
{
    rb_broker *b = (rb_broker *)base;
    uv_mutex_lock(&b->mu);
    b->stopping = true;
    uv_cond_broadcast(&b->wake);
    uv_mutex_unlock(&b->mu);
    hr_handoff_stop(&b->notes);
    wake_worker(b);
    /* Bounded by the connect and RPC timeouts. */
    if (b->thread_started)
        uv_thread_join(&b->thread);
    b->base.ready = false;
    uv_mutex_lock(&b->mu);
    for (rb_job *j = b->jobs; j != NULL;) {
        rb_job *next = j->next;
        rb_job_free(j);
        j = next;
    }
    b->jobs = b->jobs_tail = NULL;
    uv_mutex_unlock(&b->mu);
    hr_handoff_close(&b->notes, drop_note, on_notes_closed);
}

static const hr_broker_ops rabbitmq_ops = {
    .name = "rabbitmq",
    .start = rabbitmq_start,
    .publish = rabbitmq_publish,
    .free = rabbitmq_free,
};

hr_broker *hr_rabbitmq_new(uv_loop_t *loop, const hr_rabbitmq_config *cfg,
                           const hr_broker_callbacks *cb, void *app)
{
    rb_broker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->scratch = malloc(sizeof *b->scratch);
    b->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->scratch == NULL || b->wake_fd < 0 || uv_mutex_init(&b->mu) != 0)
        goto fail;
    if (hr_handoff_init(&b->notes, loop, RB_NOTES_MAX, on_note, b) != 0) {
        uv_mutex_destroy(&b->mu);
        goto fail;
    }
    uv_cond_init(&b->wake);
    b->base = (hr_broker){.ops = &rabbitmq_ops, .loop = loop, .cb = *cb, .app = app};
    b->check_gap = true;
    b->cfg = *cfg;
    b->rnd = uv_hrtime() ^ (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15u;
    /* Message ids must not collide between instances or restarts. */
    uv_timeval64_t tv = {0};
    (void)uv_gettimeofday(&tv);
    snprintf(b->instance, sizeof b->instance, "hr%x%llx%04x", (unsigned)getpid(),
             (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec,
             (unsigned)(b->rnd & 0xffff));
    return &b->base;
fail:
    if (b->wake_fd >= 0)
        close(b->wake_fd);
    free(b->scratch);
    free(b);
    return NULL;
}

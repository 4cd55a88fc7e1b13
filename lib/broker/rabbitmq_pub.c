/* Publishing for the RabbitMQ adapter (see rabbitmq.h, rabbitmq_int.h), on
 * the worker thread: a POST /publish job's messages go out on the publish
 * channel (confirm mode); the job finishes when every message is confirmed
 * and read back by the session's own consumer (which tells its offset, the
 * id), or fails at the first nack or when the connection goes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/rabbitmq_int.h"
#include "core/err.h"

void rb_post_published(rb_broker *b, rb_job *job)
{
    rb_note *n = rb_note_new(RB_PUBLISHED, 0);
    if (n == NULL) {
        rb_job_free(job); /* memory exhausted: the reply is lost (the client times out) */
        return;
    }
    n->job = job;
    rb_post(b, n);
}

static void complete_if_done(rb_session *s, rb_job *job)
{
    if (job->status == 0 && (job->n_confirmed < job->n || job->n_seen < job->n))
        return;
    for (rb_job **p = &s->inflight; *p != NULL; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            break;
        }
    }
    rb_post_published(s->b, job);
}

int rb_run_job(rb_session *s, rb_job *job)
{
    const amqp_bytes_t stream = amqp_cstring_bytes(s->b->cfg.stream);
    job->first_tag = s->next_tag;
    job->deadline = uv_hrtime() / 1000000 + RB_JOB_TIMEOUT_MS;
    job->next = s->inflight;
    s->inflight = job;
    for (size_t i = 0; i < job->n; i++) {
        char id[96];
        snprintf(id, sizeof id, "%s.%" PRIu64 ".%zu", s->b->instance, job->seq, i);
        amqp_table_entry_t h[3] = {{.key = amqp_cstring_bytes("channel")}};
        h[0].value.kind = AMQP_FIELD_KIND_UTF8;
        h[0].value.value.bytes = amqp_cstring_bytes(job->channels[i]);
        int nh = 1;
        const char *opt[2][2] = {{"event", job->event[i]}, {"socket_id", job->exclude[i]}};
        for (size_t k = 0; k < 2; k++) {
            if (opt[k][1] == NULL)
                continue;
            h[nh].key = amqp_cstring_bytes(opt[k][0]);
            h[nh].value.kind = AMQP_FIELD_KIND_UTF8;
            h[nh++].value.value.bytes = amqp_cstring_bytes(opt[k][1]);
        }
        amqp_basic_properties_t p = {
            ._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                      AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
            .headers = {nh, h},
            .message_id = amqp_cstring_bytes(id),
            .content_type = amqp_cstring_bytes("application/json"),
            .delivery_mode = 2,
        };
        const amqp_bytes_t body = {job->data_len[i], job->data[i]};
        const int rc =
            amqp_basic_publish(s->conn, RB_CH_PUBLISH, amqp_empty_bytes, stream, 0, 0, &p, body);
        s->next_tag++;
        if (rc != AMQP_STATUS_OK) {
            snprintf(s->why, sizeof s->why, "basic.publish: %s", amqp_error_string2(rc));
            return -1; /* the session ends; the job fails with the other in-flight ones */
        }
    }
    return 0;
}

void rb_on_confirm(rb_session *s, uint64_t tag, bool multiple, bool ack)
{
    for (rb_job *job = s->inflight, *next; job != NULL; job = next) {
        next = job->next;
        for (size_t i = 0; i < job->n; i++) {
            const uint64_t t = job->first_tag + i;
            if (job->confirmed[i] || !(t == tag || (multiple && t < tag)))
                continue;
            job->confirmed[i] = true;
            job->n_confirmed++;
            if (!ack)
                job->status = HR_EBROKER;
        }
        complete_if_done(s, job);
    }
}

/* A message we published came back through the consumer: its id. */
void rb_on_own_message(rb_session *s, const char *msg_id, uint64_t offset)
{
    const size_t il = strlen(s->b->instance);
    if (strncmp(msg_id, s->b->instance, il) != 0 || msg_id[il] != '.')
        return;
    char *end = NULL;
    const uint64_t seq = strtoull(msg_id + il + 1, &end, 10);
    if (end == NULL || *end != '.')
        return;
    const unsigned long long i = strtoull(end + 1, NULL, 10);
    for (rb_job *job = s->inflight; job != NULL; job = job->next) {
        if (job->seq != seq || i >= job->n || job->seen[i])
            continue;
        job->seen[i] = true;
        job->n_seen++;
        job->ids[i] = hr_rabbitmq_id(offset);
        complete_if_done(s, job);
        return;
    }
}

void rb_fail_inflight(rb_session *s)
{
    while (s->inflight != NULL) {
        rb_job *job = s->inflight;
        job->status = HR_EBROKER;
        complete_if_done(s, job);
    }
}

void rb_expire_inflight(rb_session *s, uint64_t now_ms)
{
    for (rb_job *job = s->inflight, *next; job != NULL; job = next) {
        next = job->next;
        if (now_ms > job->deadline) {
            job->status = HR_EBROKER;
            complete_if_done(s, job);
        }
    }
}

/* Internal to the RabbitMQ adapter: the state shared by its loop side
 * (rabbitmq.c) and its worker thread (rabbitmq_conn.c).
 *
 * Why a worker thread: librabbitmq is blocking (connect, TLS handshake,
 * login, declares are synchronous calls with timeouts). On the loop thread a
 * broker that accepts TCP but stalls would freeze every client for the
 * timeout. Latency does not suffer: the worker sleeps in poll() on the
 * socket and an eventfd, so a delivery or a publish is handled as soon as
 * it arrives, and the hand-over to the loop is one uv_async wake-up (tens
 * of microseconds against milliseconds of broker round trip).
 *
 *   worker (socket) --notes: events, up/down, published--> [queue] --uv_async--> loop
 *   loop --publish jobs--> [queue] + eventfd --> worker
 *
 * The notes queue is an hr_handoff (handoff.h); the jobs queue lives under
 * the adapter's mutex. The notes queue is bounded: when the loop falls
 * behind the worker waits, and the prefetch window then holds RabbitMQ
 * back, so memory stays bounded and nothing is dropped. */
#ifndef HR_RABBITMQ_INT_H
#define HR_RABBITMQ_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <amqp.h>

#include "broker/handoff.h"
#include "broker/rabbitmq.h"

typedef enum rb_note_kind { RB_EVENT, RB_UP, RB_DOWN, RB_PUBLISHED, RB_LAG } rb_note_kind;

typedef struct rb_job rb_job;

typedef struct rb_note {
    hr_handoff_item link; /* first: the notes queue's link */
    rb_note_kind kind;
    uint64_t offset; /* RB_EVENT: stream offset; RB_UP: origin seq (0 = unchanged);
                        RB_LAG: first offset of the stream's newest chunk */
    bool has_offset; /* RB_EVENT */
    bool marker;     /* RB_EVENT: a start marker: advances, never delivered */
    rb_job *job;     /* RB_PUBLISHED */
    char *channel;   /* RB_EVENT: the channel header, NULL when absent */
    char *event;     /* RB_EVENT: the event header, NULL when absent */
    size_t event_len;
    char exclude[HR_PUBLISH_EXCLUDE_MAX + 2]; /* RB_EVENT: socket_id header */
    size_t exclude_len;
    bool has_exclude;
    size_t channel_len;
    char *data;
    size_t data_len;
    char detail[200];
    char buf[];
} rb_note;

/* One POST /publish batch: built on the loop, published and tracked by the
 * worker, completed on the loop. */
struct rb_job {
    struct rb_job *next;
    hr_broker_publish_cb cb;
    void *arg;
    int status;
    uint64_t seq; /* job number: message ids are "<instance>.<seq>.<i>" */
    size_t n;
    char **channels; /* per item: "a" or "a,b" */
    char **data;     /* per item: JSON text */
    char **event;    /* per item: event name or NULL */
    char **exclude;  /* per item: socket id left out or NULL */
    size_t *data_len;
    uint64_t first_tag; /* publisher-confirm tag of item 0 (worker) */
    uint64_t deadline;  /* ms (uv_hrtime): fail with 503 if not done by then (worker) */
    bool *confirmed;    /* worker */
    size_t n_confirmed;
    bool *seen; /* read back by the consumer (worker) */
    size_t n_seen;
    hr_event_id *ids;
};

typedef struct rb_broker {
    hr_broker base;
    hr_rabbitmq_config cfg;
    char instance[40]; /* hex, unique per adapter: prefixes our message ids */
    hr_handoff notes;  /* worker --> loop */
    uv_thread_t thread;
    bool thread_started;
    int wake_fd; /* eventfd: jobs queued or stopping */
    uv_mutex_t mu;
    uv_cond_t wake; /* worker's backoff sleep */
    /* --- under mu --- */
    rb_job *jobs, *jobs_tail;
    uint64_t job_seq;
    bool stopping;
    /* --- worker only (rabbitmq_conn.c) --- */
    void *conn; /* amqp_connection_state_t of the live session */
    bool ever_up;
    uint64_t resume; /* next offset the main consumer wants */
    uint32_t attempt;
    uint64_t rnd;
    /* --- loop only --- */
    hr_event_id last;
    bool up_once;
    bool check_gap; /* the next event is the first since "up" */
    bool malformed_noted;
    hr_entry *scratch;
} rb_broker;

/* The notes queue's bound (the worker waits for room past it). */
#define RB_NOTES_MAX 65536

/* Queues a note for the loop (takes ownership). */
void rb_post(rb_broker *b, rb_note *n);
/* A zeroed note of kind with extra bytes of buf; NULL when out of memory. */
rb_note *rb_note_new(rb_note_kind kind, size_t extra);
/* Frees a job and everything it holds. */
void rb_job_free(rb_job *job);

/* Channel numbers of a session's connection. */
#define RB_CH_CONSUME 1
#define RB_CH_PUBLISH 2

/* PH_PROBE: reading from "last" for our marker; PH_WARM: the main consumer
 * reads history up to the marker (not ready yet, so a client that connects
 * meanwhile cannot miss it); PH_MAIN: live. */
typedef enum phase { PH_PROBE, PH_WARM, PH_MAIN } phase;

/* One session's state, on the worker's stack. */
typedef struct rb_session {
    rb_broker *b;
    amqp_connection_state_t conn;
    phase phase;
    char marker_id[96];
    uint64_t marker;         /* PH_WARM: the marker's offset, where history ends */
    uint64_t origin;         /* PH_WARM: posted with "up" */
    uint64_t probe_deadline; /* PH_PROBE: ms (uv_hrtime) by which the marker must be back */
    uint64_t next_tag;       /* publisher-confirm tag of the next message on CH_PUBLISH */
    rb_job *inflight;        /* published, not yet confirmed and read back */
    uint64_t next_lag;       /* ms (uv_hrtime) of the next lag probe */
    bool lag_active;         /* a lag consumer is attached */
    uint64_t lag_tag;        /* its delivery */
    uint64_t ack_tag;        /* newest delivery tag not yet acked */
    size_t unacked;
    /* the message being assembled from its frames */
    bool in_msg, msg_main, have_header;
    uint64_t msg_tag;
    uint64_t body_size;
    hr_rabbitmq_meta meta;
    char *chan;
    size_t chan_cap;
    char ev[HR_PUBLISH_EVENT_MAX + 1]; /* a longer name is cut to MAX + 1: still refused */
    char ex[HR_PUBLISH_EXCLUDE_MAX + 1]; /* the socket_id header, cut likewise */
    char msg_id[96];
    char *body;
    size_t body_len, body_cap;
    char why[200];
} rb_session;

/* Publishing (rabbitmq_pub.c), on the worker: sends a job's messages (0, or
 * -1 with s->why when the connection failed), applies a publisher confirm,
 * takes the id of a message of ours read back by the consumer, and fails
 * every unfinished job when the session ends. */
int rb_run_job(rb_session *s, rb_job *job);
void rb_on_confirm(rb_session *s, uint64_t tag, bool multiple, bool ack);
void rb_on_own_message(rb_session *s, const char *msg_id, uint64_t offset);
void rb_fail_inflight(rb_session *s);
/* Fails the jobs past their deadline (not confirmed or not read back in
 * RB_JOB_TIMEOUT_MS, e.g. retention removed them before the consumer got
 * there), so a POST /publish never waits for ever. */
void rb_expire_inflight(rb_session *s, uint64_t now_ms);
#define RB_JOB_TIMEOUT_MS 30000
/* Hands a finished job to the loop (frees it when out of memory). */
void rb_post_published(rb_broker *b, rb_job *job);

/* The worker thread's body (rabbitmq_conn.c). */
void rb_worker(void *arg);

#endif

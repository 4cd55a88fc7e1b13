/* The RabbitMQ adapter's worker thread (see rabbitmq_int.h): one AMQP
 * connection with two channels, 1 consuming the stream and 2 publishing
 * with confirms, read frame by frame so deliveries and confirms interleave
 * freely.
 *
 * Session: connect (TLS when amqps), log in, open the channels, find or
 * declare the stream, set the prefetch; on the very first session publish
 * a start marker and read from "last" until it comes back (its offset tells
 * where the stream ends), then consume from there minus `warm`; on later
 * sessions consume from the offset after the last one read. Then serve:
 * publish queued jobs, read frames, ack in batches, sleep in poll(). When
 * the connection fails: report down, fail queued and unconfirmed
 * publishes, wait a backoff delay (interruptible) and start again. */
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/backoff.h"
#include "broker/rabbitmq_int.h"
#include "core/err.h"
#include "core/log.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define CONNECT_TIMEOUT_S 2
#define RPC_TIMEOUT_S 5
#define HEARTBEAT_S 10
#define POLL_MS 1000 /* below the heartbeat interval: pump() sends heartbeats */
#define FRAME_MAX 131072
#define PREFETCH 2000 /* streams need a prefetch; a wide one keeps them streaming */
#define ACK_EVERY 500 /* ack (multiple) at least this often, well inside the window */
#define CH_CONSUME RB_CH_CONSUME
#define CH_PUBLISH RB_CH_PUBLISH
#define CH_LAG 3 /* a short-lived consumer from "last" tells where the stream ends */
#define LAG_EVERY_MS 5000
#define PROBE_TIMEOUT_MS 30000 /* a marker refused or lost: start the session again */
#define TAG_LAG "herald-lag"
#define TAG_PROBE "herald-probe"
#define TAG_MAIN "herald"
#define BODY_MAX (64u << 20)

/* ---- notes ------------------------------------------------------------ */

static void post_state(rb_broker *b, rb_note_kind kind, uint64_t offset, const char *detail)
{
    rb_note *n = rb_note_new(kind, 0);
    if (n == NULL)
        return; /* out of memory: the state change is lost, the next one repairs it */
    n->offset = offset;
    snprintf(n->detail, sizeof n->detail, "%s", detail);
    rb_post(b, n);
}

/* ---- errors ----------------------------------------------------------- */

static void describe(amqp_rpc_reply_t r, const char *what, char *why, size_t cap)
{
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(why, cap, "%s: %s", what, amqp_error_string2(r.library_error));
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD ||
                r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        const amqp_channel_close_t *c = r.reply.decoded; /* same layout for both */
        snprintf(why, cap, "%s: %.*s", what,
                 (int)(c->reply_text.len > 150 ? 150 : c->reply_text.len),
                 (const char *)c->reply_text.bytes);
    } else {
        snprintf(why, cap, "%s: unexpected reply", what);
    }
}

static bool rpc_ok(rb_session *s, const char *what)
{
    const amqp_rpc_reply_t r = amqp_get_rpc_reply(s->conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    describe(r, what, s->why, sizeof s->why);
    return false;
}

/* After a server channel.close in an RPC: confirm it so the channel can be
 * opened again. */
static void close_ok(rb_session *s, amqp_channel_t ch)
{
    amqp_channel_close_ok_t ok = {0};
    (void)amqp_send_method(s->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
}

/* ---- session set-up --------------------------------------------------- */

static int open_socket(rb_session *s)
{
    const hr_rabbitmq_config *c = &s->b->cfg;
    amqp_socket_t *sock = c->tls ? amqp_ssl_socket_new(s->conn) : amqp_tcp_socket_new(s->conn);
    if (sock == NULL) {
        snprintf(s->why, sizeof s->why, "socket: out of memory");
        return -1;
    }
    if (c->tls) {
        amqp_ssl_socket_set_verify_peer(sock, 1);
        amqp_ssl_socket_set_verify_hostname(sock, 1);
        int rc = c->tls_ca[0] != '\0'
                     ? amqp_ssl_socket_set_cacert(sock, c->tls_ca)
                     : (SSL_CTX_set_default_verify_paths(amqp_ssl_socket_get_context(sock)) == 1
                            ? AMQP_STATUS_OK
                            : AMQP_STATUS_SSL_ERROR);
        if (rc != AMQP_STATUS_OK) {
            snprintf(s->why, sizeof s->why, "TLS CA: %s", amqp_error_string2(rc));
            return -1;
        }
    }
    struct timeval tv = {CONNECT_TIMEOUT_S, 0};
    const int rc = amqp_socket_open_noblock(sock, c->host, c->port, &tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(s->why, sizeof s->why, "connect %.100s:%u: %s%s", c->host, c->port,
                 amqp_error_string2(rc),
                 rc <= AMQP_STATUS_SSL_ERROR && rc > _AMQP_STATUS_SSL_NEXT_VALUE
                     ? " (TLS handshake failed)"
                     : "");
        return -1;
    }
    return 0;
}

/* Finds the stream or declares it with our retention arguments. */
static int ensure_stream(rb_session *s)
{
    const hr_rabbitmq_config *c = &s->b->cfg;
    const amqp_bytes_t q = amqp_cstring_bytes(c->stream);
    amqp_queue_declare(s->conn, CH_CONSUME, q, 1, 1, 0, 0, amqp_empty_table);
    const amqp_rpc_reply_t r = amqp_get_rpc_reply(s->conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    const bool missing = r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                         r.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
                         ((amqp_channel_close_t *)r.reply.decoded)->reply_code == AMQP_NOT_FOUND;
    if (!missing) {
        describe(r, "stream", s->why, sizeof s->why);
        return -1;
    }
    close_ok(s, CH_CONSUME);
    amqp_channel_open(s->conn, CH_CONSUME);
    if (!rpc_ok(s, "channel.open"))
        return -1;
    char age[32];
    (void)hr_rabbitmq_max_age_arg(c->max_age_s, age, sizeof age);
    amqp_table_entry_t args[3];
    int n = 0;
    args[n].key = amqp_cstring_bytes("x-queue-type");
    args[n].value.kind = AMQP_FIELD_KIND_UTF8;
    args[n++].value.value.bytes = amqp_cstring_bytes("stream");
    if (c->max_age_s > 0) {
        args[n].key = amqp_cstring_bytes("x-max-age");
        args[n].value.kind = AMQP_FIELD_KIND_UTF8;
        args[n++].value.value.bytes = amqp_cstring_bytes(age);
    }
    if (c->max_bytes > 0) {
        args[n].key = amqp_cstring_bytes("x-max-length-bytes");
        args[n].value.kind = AMQP_FIELD_KIND_I64;
        args[n++].value.value.i64 = (int64_t)c->max_bytes;
    }
    amqp_queue_declare(s->conn, CH_CONSUME, q, 0, 1, 0, 0, (amqp_table_t){n, args});
    if (!rpc_ok(s, "declaring the stream"))
        return -1;
    hr_log(HR_LOG_INFO, "rabbitmq", "created stream=%s max_age=%s max_bytes=%" PRIu64, c->stream,
           c->max_age_s > 0 ? age : "none", c->max_bytes);
    return 0;
}

static int consume(rb_session *s, amqp_channel_t ch, const char *tag, amqp_field_value_t from)
{
    amqp_table_entry_t arg = {.key = amqp_cstring_bytes("x-stream-offset"), .value = from};
    amqp_basic_consume_t m = {
        .queue = amqp_cstring_bytes(s->b->cfg.stream),
        .consumer_tag = amqp_cstring_bytes(tag),
        .arguments = {1, &arg},
    };
    /* Not an RPC: consume-ok arrives among the frames pump() reads. */
    const int rc = amqp_send_method(s->conn, ch, AMQP_BASIC_CONSUME_METHOD, &m);
    if (rc != AMQP_STATUS_OK)
        snprintf(s->why, sizeof s->why, "basic.consume: %s", amqp_error_string2(rc));
    return rc == AMQP_STATUS_OK ? 0 : -1;
}

/* Consumes from offset from; live at once (a reconnect), or after the
 * history up to the marker (the first session). */
static int consume_main(rb_session *s, uint64_t from, bool warm, uint64_t origin)
{
    rb_broker *b = s->b;
    amqp_field_value_t v = {.kind = AMQP_FIELD_KIND_I64};
    v.value.i64 = (int64_t)from;
    if (consume(s, CH_CONSUME, TAG_MAIN, v) != 0)
        return -1;
    if (from > b->resume)
        b->resume = from; /* a second warm-up (the first broke off) skips what was read */
    /* Until history is read up to the marker, a new session warms up again. */
    b->ever_up = !warm;
    s->phase = warm ? PH_WARM : PH_MAIN;
    s->origin = origin;
    if (!warm)
        post_state(b, RB_UP, origin, "connected");
    return 0;
}

/* First session: publish our marker, then read from "last" until it
 * returns (see rabbitmq.h). */
static int start_probe(rb_session *s)
{
    rb_broker *b = s->b;
    snprintf(s->marker_id, sizeof s->marker_id, "%s.start", b->instance);
    amqp_table_entry_t h = {.key = amqp_cstring_bytes("x-herald-marker")};
    h.value.kind = AMQP_FIELD_KIND_UTF8;
    h.value.value.bytes = amqp_cstring_bytes(b->instance);
    amqp_basic_properties_t p = {
        ._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG,
        .headers = {1, &h},
        .message_id = amqp_cstring_bytes(s->marker_id),
    };
    int rc = amqp_basic_publish(s->conn, CH_PUBLISH, amqp_empty_bytes,
                                amqp_cstring_bytes(b->cfg.stream), 0, 0, &p, amqp_empty_bytes);
    if (rc != AMQP_STATUS_OK) {
        snprintf(s->why, sizeof s->why, "publishing the start marker: %s", amqp_error_string2(rc));
        return -1;
    }
    s->next_tag++;
    s->phase = PH_PROBE;
    s->probe_deadline = uv_hrtime() / 1000000 + PROBE_TIMEOUT_MS;
    amqp_field_value_t v = {.kind = AMQP_FIELD_KIND_UTF8};
    v.value.bytes = amqp_cstring_bytes("last");
    return consume(s, CH_CONSUME, TAG_PROBE, v);
}

static int session_open(rb_session *s)
{
    rb_broker *b = s->b;
    const hr_rabbitmq_config *c = &b->cfg;
    s->conn = amqp_new_connection();
    if (s->conn == NULL) {
        snprintf(s->why, sizeof s->why, "out of memory");
        return -1;
    }
    if (open_socket(s) != 0)
        return -1;
    struct timeval rpc = {RPC_TIMEOUT_S, 0};
    (void)amqp_set_handshake_timeout(s->conn, &rpc);
    (void)amqp_set_rpc_timeout(s->conn, &rpc);
    amqp_rpc_reply_t r = amqp_login(s->conn, c->vhost, 0, FRAME_MAX, HEARTBEAT_S,
                                    AMQP_SASL_METHOD_PLAIN, c->user, c->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        describe(r, "login", s->why, sizeof s->why);
        return -1;
    }
    amqp_channel_open(s->conn, CH_CONSUME);
    if (!rpc_ok(s, "channel.open"))
        return -1;
    amqp_channel_open(s->conn, CH_PUBLISH);
    if (!rpc_ok(s, "channel.open"))
        return -1;
    amqp_confirm_select(s->conn, CH_PUBLISH);
    if (!rpc_ok(s, "confirm.select"))
        return -1;
    s->next_tag = 1;
    if (ensure_stream(s) != 0)
        return -1;
    amqp_basic_qos(s->conn, CH_CONSUME, 0, PREFETCH, 0);
    if (!rpc_ok(s, "basic.qos"))
        return -1;
    amqp_channel_open(s->conn, CH_LAG);
    if (!rpc_ok(s, "channel.open"))
        return -1;
    amqp_basic_qos(s->conn, CH_LAG, 0, 1, 0);
    if (!rpc_ok(s, "basic.qos"))
        return -1;
    s->lag_active = false;
    s->next_lag = uv_hrtime() / 1000000 + LAG_EVERY_MS;
    if (!b->ever_up)
        return start_probe(s);
    return consume_main(s, b->resume, false, 0);
}

/* ---- consuming --------------------------------------------------------- */

static int flush_acks(rb_session *s)
{
    if (s->unacked == 0)
        return 0;
    s->unacked = 0;
    const int rc = amqp_basic_ack(s->conn, CH_CONSUME, s->ack_tag, 1);
    if (rc != AMQP_STATUS_OK)
        snprintf(s->why, sizeof s->why, "basic.ack: %s", amqp_error_string2(rc));
    return rc == AMQP_STATUS_OK ? 0 : -1;
}

static void post_event(rb_session *s)
{
    rb_broker *b = s->b;
    const hr_rabbitmq_meta *m = &s->meta;
    const size_t cl = m->channel != NULL ? m->channel_len : 0;
    const size_t el = m->event != NULL ? m->event_len : 0;
    rb_note *n = rb_note_new(RB_EVENT, cl + 1 + el + 1 + s->body_len + 1);
    if (n == NULL)
        return; /* out of memory: the loop sees an offset gap it cannot fill */
    n->has_offset = m->has_offset;
    n->offset = m->offset;
    n->marker = m->marker;
    if (m->channel != NULL) {
        n->channel = n->buf;
        memcpy(n->channel, s->chan, cl);
        n->channel_len = cl;
    }
    if (m->event != NULL) {
        n->event = n->buf + cl + 1;
        memcpy(n->event, m->event, el);
        n->event_len = el;
    }
    if (m->exclude != NULL) {
        n->has_exclude = true;
        n->exclude_len = m->exclude_len;
        memcpy(n->exclude, m->exclude, m->exclude_len);
    }
    n->data = n->buf + cl + 1 + el + 1;
    if (s->body_len > 0)
        memcpy(n->data, s->body, s->body_len);
    n->data_len = s->body_len;
    if (hr_handoff_wait_space(&b->notes))
        rb_post(b, n);
    else
        free(n);
}

static int on_message(rb_session *s)
{
    rb_broker *b = s->b;
    s->in_msg = false;
    s->ack_tag = s->msg_tag;
    if (++s->unacked >= ACK_EVERY && flush_acks(s) != 0)
        return -1;
    if (!s->msg_main) {
        if (s->phase != PH_PROBE || !s->meta.has_offset || strcmp(s->msg_id, s->marker_id) != 0)
            return 0; /* the probe reads up to our marker and is then dropped */
        amqp_basic_cancel_t cancel = {.consumer_tag = amqp_cstring_bytes(TAG_PROBE)};
        if (amqp_send_method(s->conn, CH_CONSUME, AMQP_BASIC_CANCEL_METHOD, &cancel) != 0) {
            snprintf(s->why, sizeof s->why, "basic.cancel failed");
            return -1;
        }
        const uint64_t start = hr_rabbitmq_warm_start(s->meta.offset, b->cfg.warm);
        hr_log(HR_LOG_DEBUG, "rabbitmq",
               "start marker at offset %" PRIu64 "; warming from %" PRIu64, s->meta.offset, start);
        s->marker = s->meta.offset;
        return consume_main(s, start, true, hr_rabbitmq_id(start).seq - 1);
    }
    if (s->meta.has_offset) {
        if (s->meta.offset < b->resume)
            return 0; /* already read in an earlier session */
        b->resume = s->meta.offset + 1;
    }
    post_event(s);
    if (s->phase == PH_WARM && s->meta.has_offset && s->meta.offset >= s->marker) {
        s->phase = PH_MAIN; /* history is with the loop: ready */
        b->ever_up = true;
        post_state(b, RB_UP, s->origin, "connected");
    }
    if (s->meta.has_offset && s->msg_id[0] != '\0')
        rb_on_own_message(s, s->msg_id, s->meta.offset);
    return 0;
}

static int on_header(rb_session *s, const amqp_frame_t *f)
{
    const amqp_basic_properties_t *p = f->payload.properties.decoded;
    s->body_size = f->payload.properties.body_size;
    if (s->body_size > BODY_MAX) {
        snprintf(s->why, sizeof s->why, "a %" PRIu64 "-byte message is over the limit",
                 s->body_size);
        return -1;
    }
    hr_rabbitmq_read_headers(
        p != NULL && (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? &p->headers : NULL, &s->meta);
    s->msg_id[0] = '\0';
    if (p != NULL && (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) && p->message_id.len > 0 &&
        p->message_id.len < sizeof s->msg_id) {
        memcpy(s->msg_id, p->message_id.bytes, p->message_id.len);
        s->msg_id[p->message_id.len] = '\0';
    }
    if (s->meta.channel != NULL) { /* copy: it lives in the frame pool */
        if (s->meta.channel_len + 1 > s->chan_cap) {
            char *c = realloc(s->chan, s->meta.channel_len + 1);
            if (c == NULL) {
                snprintf(s->why, sizeof s->why, "out of memory");
                return -1;
            }
            s->chan = c;
            s->chan_cap = s->meta.channel_len + 1;
        }
        memcpy(s->chan, s->meta.channel, s->meta.channel_len);
        s->meta.channel = s->chan;
    }
    if (s->meta.event != NULL) {
        if (s->meta.event_len > sizeof s->ev)
            s->meta.event_len = sizeof s->ev;
        memcpy(s->ev, s->meta.event, s->meta.event_len);
        s->meta.event = s->ev;
    }
    if (s->meta.exclude != NULL) {
        if (s->meta.exclude_len > sizeof s->ex)
            s->meta.exclude_len = sizeof s->ex;
        memcpy(s->ex, s->meta.exclude, s->meta.exclude_len);
        s->meta.exclude = s->ex;
    }
    if (s->body_size + 1 > s->body_cap) {
        char *nb = realloc(s->body, (size_t)s->body_size + 1);
        if (nb == NULL) {
            snprintf(s->why, sizeof s->why, "out of memory");
            return -1;
        }
        s->body = nb;
        s->body_cap = (size_t)s->body_size + 1;
    }
    s->body_len = 0;
    s->have_header = true;
    return s->body_size == 0 ? on_message(s) : 0;
}

static int on_body(rb_session *s, const amqp_frame_t *f)
{
    const amqp_bytes_t frag = f->payload.body_fragment;
    if (!s->have_header || s->body_len + frag.len > s->body_size) {
        snprintf(s->why, sizeof s->why, "protocol error: unexpected body frame");
        return -1;
    }
    memcpy(s->body + s->body_len, frag.bytes, frag.len);
    s->body_len += frag.len;
    return s->body_len == s->body_size ? on_message(s) : 0;
}

static int on_method(rb_session *s, const amqp_frame_t *f)
{
    const amqp_method_t *m = &f->payload.method;
    switch (m->id) {
    case AMQP_BASIC_DELIVER_METHOD: {
        const amqp_basic_deliver_t *d = m->decoded;
        if (f->channel == CH_LAG) {
            s->lag_tag = d->delivery_tag;
            return 0;
        }
        s->in_msg = true;
        s->have_header = false;
        s->msg_tag = d->delivery_tag;
        s->msg_main = d->consumer_tag.len == strlen(TAG_MAIN) &&
                      memcmp(d->consumer_tag.bytes, TAG_MAIN, strlen(TAG_MAIN)) == 0;
        return 0;
    }
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = m->decoded;
        rb_on_confirm(s, a->delivery_tag, a->multiple, true);
        return 0;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *a = m->decoded;
        rb_on_confirm(s, a->delivery_tag, a->multiple, false);
        return 0;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_channel_close_t *c = m->decoded;
        snprintf(s->why, sizeof s->why, "closed by the server: %.*s",
                 (int)(c->reply_text.len > 150 ? 150 : c->reply_text.len),
                 (const char *)c->reply_text.bytes);
        return -1;
    }
    case AMQP_BASIC_CANCEL_METHOD: /* the server dropped our consumer (stream deleted?) */
        if (s->phase == PH_MAIN) {
            const amqp_basic_cancel_t *c = m->decoded;
            if (c->consumer_tag.len == strlen(TAG_MAIN) &&
                memcmp(c->consumer_tag.bytes, TAG_MAIN, strlen(TAG_MAIN)) == 0) {
                snprintf(s->why, sizeof s->why, "the server cancelled the stream consumer");
                return -1;
            }
        }
        return 0;
    case AMQP_BASIC_CANCEL_OK_METHOD:
        if (f->channel == CH_LAG)
            s->lag_active = false;
        return 0;
    default: /* consume-ok, connection.blocked, ...: nothing to do */
        return 0;
    }
}

/* Every LAG_EVERY_MS: a consumer from "last" on CH_LAG (prefetch 1) gets the
 * first message of the stream's newest chunk; its offset, a lower bound of
 * the stream's end within one chunk, goes to the loop, then the consumer
 * goes. On an empty stream it waits, and the next probe waits for it. */
static int lag_probe(rb_session *s)
{
    const uint64_t now = uv_hrtime() / 1000000;
    if (s->phase != PH_MAIN || s->lag_active || now < s->next_lag)
        return 0;
    s->next_lag = now + LAG_EVERY_MS;
    s->lag_active = true;
    amqp_field_value_t v = {.kind = AMQP_FIELD_KIND_UTF8};
    v.value.bytes = amqp_cstring_bytes("last");
    return consume(s, CH_LAG, TAG_LAG, v);
}

static int on_lag_header(rb_session *s, const amqp_frame_t *f)
{
    const amqp_basic_properties_t *p = f->payload.properties.decoded;
    hr_rabbitmq_meta m;
    hr_rabbitmq_read_headers(
        p != NULL && (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? &p->headers : NULL, &m);
    if (m.has_offset)
        post_state(s->b, RB_LAG, m.offset, "");
    amqp_basic_cancel_t cancel = {.consumer_tag = amqp_cstring_bytes(TAG_LAG)};
    if (amqp_send_method(s->conn, CH_LAG, AMQP_BASIC_CANCEL_METHOD, &cancel) != AMQP_STATUS_OK ||
        amqp_basic_ack(s->conn, CH_LAG, s->lag_tag, 0) != AMQP_STATUS_OK) {
        snprintf(s->why, sizeof s->why, "lag probe: connection lost");
        return -1;
    }
    return 0;
}

static int on_frame(rb_session *s, const amqp_frame_t *f)
{
    switch (f->frame_type) {
    case AMQP_FRAME_METHOD:
        return on_method(s, f);
    case AMQP_FRAME_HEADER:
        if (f->channel == CH_LAG)
            return on_lag_header(s, f);
        return f->channel == CH_CONSUME && s->in_msg ? on_header(s, f) : 0;
    case AMQP_FRAME_BODY:
        return f->channel == CH_CONSUME && s->in_msg ? on_body(s, f) : 0;
    default:
        return 0; /* heartbeats */
    }
}

/* Reads and handles every frame available now; also sends heartbeats when
 * due. Returns 0, or -1 with s->why when the connection failed. */
static int pump(rb_session *s)
{
    for (;;) {
        struct timeval now = {0, 0};
        amqp_frame_t f;
        const int rc = amqp_simple_wait_frame_noblock(s->conn, &f, &now);
        if (rc == AMQP_STATUS_TIMEOUT)
            break;
        if (rc != AMQP_STATUS_OK) {
            snprintf(s->why, sizeof s->why, "connection to %.100s:%u lost: %s", s->b->cfg.host,
                     s->b->cfg.port, amqp_error_string2(rc));
            return -1;
        }
        if (on_frame(s, &f) != 0)
            return -1;
        if (!amqp_frames_enqueued(s->conn) && !amqp_data_in_buffer(s->conn))
            amqp_maybe_release_buffers(s->conn);
    }
    return flush_acks(s);
}

static void drain_wake(rb_broker *b)
{
    uint64_t v;
    while (read(b->wake_fd, &v, sizeof v) > 0) {
    }
}

/* Serves jobs and frames until the connection fails or the adapter stops. */
static void serve(rb_session *s)
{
    rb_broker *b = s->b;
    const int fd = amqp_get_sockfd(s->conn);
    for (;;) {
        uv_mutex_lock(&b->mu);
        rb_job *jobs = s->phase == PH_MAIN ? b->jobs : NULL;
        if (jobs != NULL)
            b->jobs = b->jobs_tail = NULL;
        const bool stopping = b->stopping;
        uv_mutex_unlock(&b->mu);
        if (stopping) {
            for (rb_job *j = jobs, *next; j != NULL; j = next) {
                next = j->next;
                rb_job_free(j);
            }
            return;
        }
        int rc = 0;
        for (rb_job *j = jobs, *next; j != NULL; j = next) {
            next = j->next;
            if (rc == 0)
                rc = rb_run_job(s, j);
            else {
                j->next = s->inflight;
                s->inflight = j;
            }
        }
        if (rc != 0 || pump(s) != 0 || lag_probe(s) != 0)
            return;
        rb_expire_inflight(s, uv_hrtime() / 1000000);
        if (s->phase == PH_PROBE && uv_hrtime() / 1000000 > s->probe_deadline) {
            snprintf(s->why, sizeof s->why, "the start marker did not come back from stream %.100s",
                     b->cfg.stream);
            return;
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = b->wake_fd, .events = POLLIN}};
        if (poll(p, 2, POLL_MS) < 0 && errno != EINTR) {
            snprintf(s->why, sizeof s->why, "poll: %s", strerror(errno));
            return;
        }
        if (p[1].revents != 0)
            drain_wake(b);
    }
}

static void session_close(rb_session *s, bool graceful)
{
    rb_fail_inflight(s);
    if (s->conn != NULL) {
        if (graceful)
            (void)amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
        (void)amqp_destroy_connection(s->conn);
    }
    s->conn = NULL;
}

/* ---- the thread -------------------------------------------------------- */

static uint32_t next_rand(rb_broker *b)
{
    b->rnd ^= b->rnd << 13;
    b->rnd ^= b->rnd >> 7;
    b->rnd ^= b->rnd << 17;
    return (uint32_t)(b->rnd >> 32);
}

/* Waits the backoff delay unless stopping; true when stopping. */
static bool backoff_wait(rb_broker *b)
{
    const uint64_t delay =
        hr_backoff_delay_ms(b->attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS, next_rand(b));
    if (b->attempt < 30)
        b->attempt++;
    const uint64_t end = uv_hrtime() + delay * 1000000;
    uv_mutex_lock(&b->mu);
    while (!b->stopping) {
        const uint64_t now = uv_hrtime();
        if (now >= end)
            break;
        (void)uv_cond_timedwait(&b->wake, &b->mu, end - now);
    }
    const bool stopping = b->stopping;
    uv_mutex_unlock(&b->mu);
    return stopping;
}

static void fail_queued(rb_broker *b)
{
    uv_mutex_lock(&b->mu);
    rb_job *j = b->jobs;
    b->jobs = b->jobs_tail = NULL;
    uv_mutex_unlock(&b->mu);
    while (j != NULL) {
        rb_job *next = j->next;
        j->status = HR_EBROKER;
        rb_post_published(b, j);
        j = next;
    }
}

void rb_worker(void *arg)
{
    rb_broker *b = arg;
    rb_session s = {.b = b};
    for (;;) {
        s.why[0] = '\0';
        s.phase = PH_PROBE;
        s.in_msg = false;
        s.unacked = 0;
        const bool opened = session_open(&s) == 0;
        if (opened) {
            b->attempt = 0;
            serve(&s);
        }
        uv_mutex_lock(&b->mu);
        const bool stopping = b->stopping;
        uv_mutex_unlock(&b->mu);
        session_close(&s, stopping && opened);
        if (stopping)
            break;
        fail_queued(b);
        post_state(b, RB_DOWN, b->attempt, s.why[0] != '\0' ? s.why : "connection lost");
        if (backoff_wait(b))
            break;
    }
    free(s.chan);
    free(s.body);
}

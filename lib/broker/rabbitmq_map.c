/* The pure half of the RabbitMQ streams adapter (see rabbitmq.h): the
 * --broker URL to hr_rabbitmq_config, message headers to what the adapter
 * needs, messages to events. No I/O (apart from checking tls_ca is
 * readable), so it is unit-tested and fuzzed without a server. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker/rabbitmq.h"
#include "core/err.h"

#define HDR_CHANNEL "channel"
#define HDR_OFFSET "x-stream-offset"
#define HDR_MARKER "x-herald-marker"
#define HDR_EVENT "event"

static const char *const rabbitmq_params[] = {"stream", "max_age", "max_bytes", "warm", "tls_ca"};

static int parse_numbers(const hr_broker_url *u, hr_rabbitmq_config *out, char *err, size_t errcap)
{
    int rc;
    if ((rc = hr_broker_url_param_u64(u, "max_age", 86400, 0, 100ULL * 365 * 86400, &out->max_age_s,
                                      err, errcap)) != 0 ||
        (rc = hr_broker_url_param_u64(u, "max_bytes", 0, 0, INT64_MAX, &out->max_bytes, err,
                                      errcap)) != 0)
        return rc;
    return hr_broker_url_param_u64(u, "warm", 10000, 0, 10000000, &out->warm, err, errcap);
}

/* A queue name RabbitMQ accepts: 1..255 bytes, not "amq."-prefixed
 * (reserved), and no control characters (they would garble logs). */
static bool is_queue_name(const char *s)
{
    const size_t len = strlen(s);
    if (len == 0 || len > 255 || strncmp(s, "amq.", 4) == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

int hr_rabbitmq_config_parse(const char *url, hr_rabbitmq_config *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    hr_broker_url u;
    int rc = hr_broker_url_parse(url, &u, err, errcap);
    if (rc != 0)
        return rc;
    if (strcmp(u.scheme, "amqp") != 0 && strcmp(u.scheme, "amqps") != 0) {
        snprintf(err, errcap, "--broker: expected amqp:// or amqps://, got '%s://'", u.scheme);
        return HR_EINVAL;
    }
    out->tls = strcmp(u.scheme, "amqps") == 0;
    if ((rc = hr_broker_url_check_params(&u, rabbitmq_params, HR_ARRAY_LEN(rabbitmq_params), err,
                                         errcap)) != 0 ||
        (rc = parse_numbers(&u, out, err, errcap)) != 0)
        return rc;
    memcpy(out->host, u.host, sizeof out->host);
    out->port = u.port != 0 ? u.port : out->tls ? 5671 : 5672;
    /* AMQP URI spec: the path is the vhost, percent-decoded ("%2F" is "/");
     * none (or an empty one) means the default vhost "/". */
    memcpy(out->vhost, u.path[0] != '\0' ? u.path : "/", u.path[0] != '\0' ? sizeof out->vhost : 2);
    if (u.has_user) {
        memcpy(out->user, u.user, sizeof out->user);
        memcpy(out->password, u.password, sizeof out->password);
    } else {
        memcpy(out->user, "guest", 6);
        memcpy(out->password, "guest", 6);
    }
    const char *stream = hr_broker_url_param_get(&u, "stream");
    if ((rc = hr_broker_url_copy_field(out->stream, sizeof out->stream, stream ? stream : "herald.events",
                         "stream", err, errcap)) != 0)
        return rc;
    if (!is_queue_name(out->stream)) {
        snprintf(err, errcap,
                 "--broker: the stream must be a queue name (1..255 bytes, not amq.*, no control "
                 "characters)");
        return HR_EINVAL;
    }
    const char *ca = hr_broker_url_param_get(&u, "tls_ca");
    if (ca != NULL) {
        if (!out->tls) {
            snprintf(err, errcap, "--broker: tls_ca needs amqps://");
            return HR_EINVAL;
        }
        if ((rc = hr_broker_url_copy_field(out->tls_ca, sizeof out->tls_ca, ca, "tls_ca", err, errcap)) != 0)
            return rc;
        if (access(out->tls_ca, R_OK) != 0) {
            snprintf(err, errcap, "--broker: tls_ca file '%.200s' is not readable", out->tls_ca);
            return HR_EINVAL;
        }
    }
    return 0;
}

static bool key_is(const amqp_table_entry_t *e, const char *key)
{
    const size_t len = strlen(key);
    return e->key.len == len && (len == 0 || memcmp(e->key.bytes, key, len) == 0);
}

/* An integer field value as a non-negative 64-bit number. */
static bool as_offset(const amqp_field_value_t *v, uint64_t *out)
{
    int64_t s;
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8:
        s = v->value.i8;
        break;
    case AMQP_FIELD_KIND_U8:
        s = v->value.u8;
        break;
    case AMQP_FIELD_KIND_I16:
        s = v->value.i16;
        break;
    case AMQP_FIELD_KIND_U16:
        s = v->value.u16;
        break;
    case AMQP_FIELD_KIND_I32:
        s = v->value.i32;
        break;
    case AMQP_FIELD_KIND_U32:
        s = v->value.u32;
        break;
    case AMQP_FIELD_KIND_I64:
        s = v->value.i64;
        break;
    case AMQP_FIELD_KIND_U64:
        if (v->value.u64 >= UINT64_MAX) /* offset + 1 must fit */
            return false;
        *out = v->value.u64;
        return true;
    default:
        return false;
    }
    if (s < 0)
        return false;
    *out = (uint64_t)s;
    return true;
}

void hr_rabbitmq_read_headers(const amqp_table_t *headers, hr_rabbitmq_meta *out)
{
    memset(out, 0, sizeof *out);
    if (headers == NULL || headers->entries == NULL)
        return;
    for (int i = 0; i < headers->num_entries; i++) {
        const amqp_table_entry_t *e = &headers->entries[i];
        if (key_is(e, HDR_OFFSET)) {
            out->has_offset = as_offset(&e->value, &out->offset);
        } else if (key_is(e, HDR_CHANNEL)) {
            const bool text =
                e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES;
            const amqp_bytes_t *b = &e->value.value.bytes;
            /* An empty text may decode to a NULL pointer: keep "" so it is
             * refused as an invalid name, not as a missing header. */
            out->channel = !text ? NULL : b->bytes != NULL ? (const char *)b->bytes : "";
            out->channel_len = text && b->bytes != NULL ? b->len : 0;
        } else if (key_is(e, HDR_EVENT)) {
            const bool text =
                e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES;
            const amqp_bytes_t *b = &e->value.value.bytes;
            /* Not text, or empty: kept as "" so it is refused, not ignored. */
            out->event = !text || b->bytes == NULL ? "" : (const char *)b->bytes;
            out->event_len = text && b->bytes != NULL ? b->len : 0;
        } else if (key_is(e, "socket_id")) {
            const bool text =
                e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES;
            const amqp_bytes_t *b = &e->value.value.bytes;
            out->exclude = !text || b->bytes == NULL ? "" : (const char *)b->bytes;
            out->exclude_len = text && b->bytes != NULL ? b->len : 0;
        } else if (key_is(e, HDR_MARKER)) {
            out->marker = true;
        }
    }
}

hr_event_id hr_rabbitmq_id(uint64_t off)
{
    return (hr_event_id){0, off + 1};
}

int hr_rabbitmq_map_msg(const hr_rabbitmq_meta *m, const char *body, size_t blen, hr_entry *e)
{
    e->data = NULL;
    if (!m->has_offset)
        return HR_EPROTO;
    if (m->channel == NULL)
        return HR_EINVAL;
    int rc = hr_entry_set(e, hr_rabbitmq_id(m->offset), m->channel, m->channel_len,
                          body != NULL ? body : "", blen);
    if (rc == 0 &&
        ((m->event != NULL && (rc = hr_entry_set_event(e, m->event, m->event_len)) != 0) ||
         (m->exclude != NULL && (rc = hr_entry_set_exclude(e, m->exclude, m->exclude_len)) != 0)))
        hr_entry_deinit(e);
    return rc;
}

uint64_t hr_rabbitmq_warm_start(uint64_t marker, uint64_t warm)
{
    return marker > warm ? marker - warm : 0;
}

int hr_rabbitmq_max_age_arg(uint64_t max_age_s, char *out, size_t cap)
{
    const int w = snprintf(out, cap, "%llus", (unsigned long long)max_age_s);
    return w < 0 || (size_t)w >= cap ? HR_ETOOBIG : 0;
}

/* The pure half of the Redis Streams adapter (see redis.h): the --broker
 * URL to hr_redis_config, stream entry replies to events, and XINFO STREAM
 * to the ids the adapter needs to detect gaps. No I/O: hiredis replies are
 * plain trees here, so the unit tests build them by hand. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "broker/redis.h"
#include "core/err.h"

/* ---- pure mapping ------------------------------------------------------ */

static bool is_str(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool str_is(const redisReply *r, const char *s)
{
    return is_str(r) && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

int hr_redis_map_entry(const redisReply *r, hr_entry *e, hr_event_id *id)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0]))
        return HR_EPROTO;
    if (hr_event_id_parse(r->element[0]->str, r->element[0]->len, id) != 0)
        return HR_EPROTO;
    const redisReply *fields = r->element[1];
    if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
        return HR_EINVAL; /* a deleted entry shows as nil fields */
    const redisReply *channel = NULL, *data = NULL, *event = NULL, *exclude = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (str_is(fields->element[i], "channel"))
            channel = fields->element[i + 1];
        else if (str_is(fields->element[i], "data"))
            data = fields->element[i + 1];
        else if (str_is(fields->element[i], "event"))
            event = fields->element[i + 1];
        else if (str_is(fields->element[i], "socket_id"))
            exclude = fields->element[i + 1];
    }
    if (!is_str(channel) || !is_str(data) || (event != NULL && !is_str(event)) ||
        (exclude != NULL && !is_str(exclude)))
        return HR_EINVAL;
    int rc = hr_entry_set(e, *id, channel->str, channel->len, data->str, data->len);
    if (rc == 0 &&
        ((event != NULL && (rc = hr_entry_set_event(e, event->str, event->len)) != 0) ||
         (exclude != NULL && (rc = hr_entry_set_exclude(e, exclude->str, exclude->len)) != 0)))
        hr_entry_deinit(e);
    return rc;
}

static void parse_info_field(const redisReply *k, const redisReply *v, hr_redis_info *out,
                             bool *have_last)
{
    if (str_is(k, "last-generated-id") && is_str(v)) {
        *have_last = hr_event_id_parse(v->str, v->len, &out->last_generated) == 0;
    } else if (str_is(k, "max-deleted-entry-id") && is_str(v)) {
        out->has_max_deleted = hr_event_id_parse(v->str, v->len, &out->max_deleted) == 0;
    } else if (str_is(k, "first-entry") && v->type == REDIS_REPLY_ARRAY && v->elements == 2 &&
               is_str(v->element[0])) {
        out->has_first =
            hr_event_id_parse(v->element[0]->str, v->element[0]->len, &out->first) == 0;
    } else if (str_is(k, "length") && v->type == REDIS_REPLY_INTEGER && v->integer >= 0) {
        out->length = (uint64_t)v->integer;
    } else if (str_is(k, "entries-added") && v->type == REDIS_REPLY_INTEGER && v->integer >= 0) {
        out->entries_added = (uint64_t)v->integer;
        out->has_added = true;
    }
}

int hr_redis_parse_info(const redisReply *r, hr_redis_info *out)
{
    memset(out, 0, sizeof *out);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return HR_EPROTO;
    bool have_last = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i] != NULL && r->element[i + 1] != NULL)
            parse_info_field(r->element[i], r->element[i + 1], out, &have_last);
    return have_last ? 0 : HR_EPROTO;
}

hr_event_id hr_redis_id_before(hr_event_id id)
{
    if (id.seq > 0)
        return (hr_event_id){id.ms, id.seq - 1};
    if (id.ms > 0)
        return (hr_event_id){id.ms - 1, UINT64_MAX};
    return id;
}

hr_event_id hr_redis_info_gap(const hr_redis_info *info)
{
    hr_event_id gap = info->has_max_deleted ? info->max_deleted : (hr_event_id){0, 0};
    const bool lost = !info->has_added || info->entries_added > info->length;
    if (info->has_first && lost) {
        const hr_event_id before = hr_redis_id_before(info->first);
        if (hr_event_id_cmp(before, gap) > 0)
            gap = before;
    }
    return gap;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const redis_params[] = {"stream",   "maxlen", "warm",
                                           "block_ms", "tls_ca", "tls_insecure"};

static int parse_db(const char *path, uint32_t *db, char *err, size_t errcap)
{
    uint64_t v = 0;
    size_t len = strlen(path);
    bool ok = len > 0 && len <= 5;
    for (size_t i = 0; ok && i < len; i++) {
        ok = path[i] >= '0' && path[i] <= '9';
        v = v * 10 + (uint64_t)(path[i] - '0');
    }
    if (len > 0 && (!ok || v > 65535)) {
        snprintf(err, errcap, "--broker: the Redis database after '/' must be a number");
        return HR_EINVAL;
    }
    *db = (uint32_t)v;
    return 0;
}

int hr_redis_config_parse(const char *url, hr_redis_config *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    hr_broker_url u;
    int rc = hr_broker_url_parse(url, &u, err, errcap);
    if (rc != 0)
        return rc;
    out->tls = strcmp(u.scheme, "rediss") == 0;
    if (!out->tls && strcmp(u.scheme, "redis") != 0) {
        snprintf(err, errcap, "--broker: expected redis:// or rediss://, got '%s://'", u.scheme);
        return HR_EINVAL;
    }
    if ((rc = hr_broker_url_check_params(&u, redis_params, HR_ARRAY_LEN(redis_params), err,
                                         errcap)) != 0 ||
        (rc = parse_db(u.path, &out->db, err, errcap)) != 0 ||
        (rc = hr_broker_url_param_u64(&u, "maxlen", 1000000, 0, UINT64_MAX, &out->maxlen, err,
                                      errcap)) != 0 ||
        (rc = hr_broker_url_param_u64(&u, "warm", 10000, 0, 10000000, &out->warm, err, errcap)) !=
            0 ||
        (rc = hr_broker_url_param_u64(&u, "block_ms", 5000, 100, 60000, &out->block_ms, err,
                                      errcap)) != 0)
        return rc;
    memcpy(out->host, u.host, sizeof out->host);
    out->port = u.port != 0 ? u.port : 6379;
    memcpy(out->user, u.user, sizeof out->user);
    memcpy(out->password, u.password, sizeof out->password);
    out->has_password = u.has_password || (u.has_user && u.user[0] != '\0');
    if (u.has_user && !u.has_password) { /* redis://secret@host: the password alone */
        memcpy(out->password, u.user, sizeof out->password);
        out->user[0] = '\0';
    }
    uint64_t insecure = 0;
    if ((rc = hr_broker_url_param_u64(&u, "tls_insecure", 0, 0, 1, &insecure, err, errcap)) != 0)
        return rc;
    out->tls_insecure = insecure == 1;
    const char *ca = hr_broker_url_param_get(&u, "tls_ca");
    snprintf(out->tls_ca, sizeof out->tls_ca, "%s", ca != NULL ? ca : "");
    if (!out->tls && (ca != NULL || insecure)) {
        snprintf(err, errcap, "--broker: tls_ca and tls_insecure need rediss://");
        return HR_EINVAL;
    }
    const char *stream = hr_broker_url_param_get(&u, "stream");
    snprintf(out->stream, sizeof out->stream, "%s", stream != NULL ? stream : "herald:events");
    if (out->stream[0] == '\0') {
        snprintf(err, errcap, "--broker: the stream name must not be empty");
        return HR_EINVAL;
    }
    return 0;
}

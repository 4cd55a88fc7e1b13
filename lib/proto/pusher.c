/* Pusher Channels protocol 7: client messages into hr_pusher_msg, server
 * messages with Pusher's shapes, and the Pusher <-> Herald channel name
 * mapping (pusher.h states the rules). Control messages are built with
 * jansson, their "data" dumped first and then embedded as a string, as
 * Pusher sends it; the event message is hand-built into caller memory
 * because it is made once per published event on the fan-out path. */
#include "pusher.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "json_mem.h"
#include "publish.h"
#include "pusher_sign.h"
#include "utf8.h"

#define LIT_LEN(s) (sizeof(s) - 1)

static const char PRIVATE[] = "private-";
static const char PRESENCE[] = "presence-";
static const char ENCRYPTED[] = "private-encrypted-";
static const char USER_PUSHER[] = "private-user-";
static const char USER_HERALD[] = "user:";

static bool has_prefix(const char *p, size_t len, const char *pre, size_t plen)
{
    return len >= plen && memcmp(p, pre, plen) == 0;
}

/* ---- channel names ---- */

bool hr_pusher_channel_is_valid(const char *p, size_t len)
{
    if (p == NULL || len == 0 || len > HR_PUSHER_CHANNEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        const char c = p[i];
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && memchr("-_=@,.;", c, 7) == NULL) /* not strchr: it finds the NUL */
            return false;
    }
    return true;
}

hr_pusher_kind hr_pusher_channel_kind(const char *p, size_t len)
{
    if (has_prefix(p, len, PRESENCE, LIT_LEN(PRESENCE)))
        return HR_PUSHER_PRESENCE;
    if (has_prefix(p, len, PRIVATE, LIT_LEN(PRIVATE)))
        return HR_PUSHER_PRIVATE;
    return HR_PUSHER_PUBLIC;
}

/* Copies src[0..n) after pre into out, swapping byte from for to. */
static size_t put_swapped(char *out, size_t at, const char *src, size_t n, char from, char to)
{
    for (size_t i = 0; i < n; i++)
        out[at + i] = src[i] == from ? to : src[i];
    return at + n;
}

int hr_pusher_channel_to_herald(const char *p, size_t len, char out[HR_CHANNEL_MAX + 1])
{
    out[0] = '\0';
    if (!hr_pusher_channel_is_valid(p, len) || has_prefix(p, len, ENCRYPTED, LIT_LEN(ENCRYPTED)))
        return HR_EINVAL;
    size_t n = 0;
    if (has_prefix(p, len, USER_PUSHER, LIT_LEN(USER_PUSHER)) && len > LIT_LEN(USER_PUSHER)) {
        const size_t idlen = len - LIT_LEN(USER_PUSHER);
        if (LIT_LEN(USER_HERALD) + idlen > HR_CHANNEL_MAX)
            return HR_EINVAL;
        memcpy(out, USER_HERALD, LIT_LEN(USER_HERALD));
        n = put_swapped(out, LIT_LEN(USER_HERALD), p + LIT_LEN(USER_PUSHER), idlen, ';', ':');
    } else if (has_prefix(p, len, PRIVATE, LIT_LEN(PRIVATE)) && memchr(p, ';', len) != NULL) {
        const size_t rest = len - LIT_LEN(PRIVATE);
        if (rest > HR_CHANNEL_MAX)
            return HR_EINVAL;
        n = put_swapped(out, 0, p + LIT_LEN(PRIVATE), rest, ';', ':');
    } else {
        if (len > HR_CHANNEL_MAX)
            return HR_EINVAL;
        memcpy(out, p, len); /* a ';' left here has no Herald spelling */
        n = len;
    }
    out[n] = '\0';
    if (!hr_channel_is_valid(out, n)) {
        out[0] = '\0';
        return HR_EINVAL;
    }
    return (int)n;
}

int hr_pusher_channel_from_herald(const char *h, size_t len, char out[HR_PUSHER_CHANNEL_MAX + 1])
{
    out[0] = '\0';
    if (!hr_channel_is_valid(h, len))
        return HR_EINVAL;
    size_t n = 0;
    if (has_prefix(h, len, USER_HERALD, LIT_LEN(USER_HERALD)) && len > LIT_LEN(USER_HERALD)) {
        memcpy(out, USER_PUSHER, LIT_LEN(USER_PUSHER));
        n = put_swapped(out, LIT_LEN(USER_PUSHER), h + LIT_LEN(USER_HERALD),
                        len - LIT_LEN(USER_HERALD), ':', ';');
    } else if (memchr(h, ':', len) != NULL) {
        memcpy(out, PRIVATE, LIT_LEN(PRIVATE));
        n = put_swapped(out, LIT_LEN(PRIVATE), h, len, ':', ';');
    } else {
        memcpy(out, h, len);
        n = len;
    }
    out[n] = '\0';
    return (int)n;
}

/* Valid UTF-8 of 1..max bytes without C0 controls or DEL. */
static bool is_plain_text(const char *s, size_t len, size_t max)
{
    if (s == NULL || len == 0 || len > max || !hr_utf8_valid((const uint8_t *)s, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool hr_pusher_event_is_valid(const char *e, size_t len)
{
    return hr_event_name_is_valid(e, len); /* one rule for both */
}

/* ---- client messages ---- */

__attribute__((format(printf, 2, 3))) static int fail(hr_pusher_error *err, const char *fmt, ...)
{
    if (err != NULL) {
        err->code = 0;
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof err->message, fmt, ap); /* truncation is fine */
        va_end(ap);
    }
    return HR_EINVAL;
}

/* Copies the string member key of obj into *dst when present. Absent is
 * fine unless required; present but not a string is an error. */
static int take_str(json_t *obj, const char *key, bool required, char **dst, hr_pusher_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required)
        return 0;
    if (!json_is_string(v))
        return fail(err, "%s must be a string", key);
    *dst = hr_strndup(json_string_value(v), json_string_length(v));
    return *dst == NULL ? HR_ENOMEM : 0;
}

static int take_channel(json_t *obj, hr_pusher_msg *m, hr_pusher_error *err)
{
    int rc = take_str(obj, "channel", true, &m->channel, err);
    if (rc == 0 && !hr_pusher_channel_is_valid(m->channel, strlen(m->channel)))
        rc = fail(err, "invalid channel name");
    return rc;
}

/* The "data" of a pusher:* message: an object, or a string holding one.
 * Returns a new reference, or NULL (error set, *oom says why). */
static json_t *control_data(json_t *root, bool *oom, hr_pusher_error *err)
{
    *oom = false;
    json_t *d = json_object_get(root, "data");
    if (json_is_string(d)) {
        json_t *o = hr_json_mem_loadb(json_string_value(d), json_string_length(d),
                                      JSON_REJECT_DUPLICATES, NULL, oom);
        if (o != NULL && json_is_object(o))
            return o;
        json_decref(o);
    } else if (json_is_object(d)) {
        return json_incref(d);
    }
    if (!*oom)
        (void)fail(err, "data must be an object");
    return NULL;
}

static int parse_control(json_t *root, hr_pusher_msg *m, hr_pusher_error *err)
{
    const char *ev = m->event;
    if (strcmp(ev, "pusher:ping") == 0 || strcmp(ev, "pusher:pong") == 0) {
        m->type = ev[8] == 'i' ? HR_PUSHER_MSG_PING : HR_PUSHER_MSG_PONG;
        return 0;
    }
    const bool sub = strcmp(ev, "pusher:subscribe") == 0;
    if (!sub && strcmp(ev, "pusher:unsubscribe") != 0) {
        m->type = HR_PUSHER_MSG_OTHER;
        return 0;
    }
    m->type = sub ? HR_PUSHER_MSG_SUBSCRIBE : HR_PUSHER_MSG_UNSUBSCRIBE;
    bool oom;
    json_t *d = control_data(root, &oom, err);
    if (d == NULL)
        return oom ? HR_ENOMEM : HR_EINVAL;
    int rc = take_channel(d, m, err);
    if (rc == 0 && sub)
        rc = take_str(d, "auth", false, &m->auth, err);
    if (rc == 0 && sub)
        rc = take_str(d, "channel_data", false, &m->channel_data, err);
    json_decref(d);
    return rc;
}

static int parse_client_event(json_t *root, hr_pusher_msg *m, hr_pusher_error *err)
{
    m->type = HR_PUSHER_MSG_CLIENT_EVENT;
    int rc = take_channel(root, m, err);
    if (rc != 0)
        return rc;
    json_t *d = json_object_get(root, "data");
    char *s = hr_json_mem_dumps(d != NULL ? d : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return HR_ENOMEM;
    m->data = s;
    m->data_len = strlen(s);
    return 0;
}

static int parse_object(json_t *root, hr_pusher_msg *m, hr_pusher_error *err)
{
    if (!json_is_object(root))
        return fail(err, "a message must be a JSON object");
    int rc = take_str(root, "event", true, &m->event, err);
    if (rc != 0)
        return rc;
    const size_t elen = strlen(m->event);
    if (!hr_pusher_event_is_valid(m->event, elen))
        return fail(err, "invalid event name");
    if (has_prefix(m->event, elen, "pusher:", 7))
        return parse_control(root, m, err);
    if (has_prefix(m->event, elen, "client-", 7))
        return parse_client_event(root, m, err);
    return fail(err, "event must be pusher:* or client-*");
}

int hr_pusher_parse(const uint8_t *p, size_t len, hr_pusher_msg *out, hr_pusher_error *err)
{
    memset(out, 0, sizeof *out);
    if (err != NULL) {
        err->code = 0;
        err->message[0] = '\0';
    }
    /* RFC 8259 has no raw NUL anywhere; jansson lets one slip after a number. */
    if (len > 0 && memchr(p, '\0', len) != NULL)
        return fail(err, "invalid JSON");
    bool oom;
    json_t *root = hr_json_mem_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, NULL, &oom);
    if (root == NULL)
        return oom ? HR_ENOMEM : fail(err, "invalid JSON");
    const int rc = parse_object(root, out, err);
    json_decref(root);
    if (rc < 0)
        hr_pusher_msg_deinit(out);
    return rc;
}

void hr_pusher_msg_deinit(hr_pusher_msg *m)
{
    if (m == NULL)
        return;
    hr_free(m->event);
    hr_free(m->channel);
    hr_free(m->auth);
    hr_free(m->channel_data);
    hr_free(m->data);
    memset(m, 0, sizeof *m);
}

/* Reads user_id (a string, or an integer written in decimal) into *dst. */
static int read_user_id(json_t *o, char **dst)
{
    json_t *v = json_object_get(o, "user_id");
    char num[24];
    const char *s = NULL;
    size_t n = 0;
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (json_is_integer(v)) {
        n = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    }
    if (!is_plain_text(s, n, HR_PUSHER_USER_ID_MAX))
        return HR_EINVAL;
    *dst = hr_strndup(s, n);
    return *dst == NULL ? HR_ENOMEM : 0;
}

int hr_pusher_parse_channel_data(const char *s, size_t len, char **user_id, char **user_info)
{
    *user_id = NULL;
    *user_info = NULL;
    if (s == NULL || (len > 0 && memchr(s, '\0', len) != NULL))
        return HR_EINVAL;
    bool oom;
    json_t *o = hr_json_mem_loadb(s, len, JSON_REJECT_DUPLICATES, NULL, &oom);
    if (o == NULL)
        return oom ? HR_ENOMEM : HR_EINVAL;
    int rc = json_is_object(o) ? read_user_id(o, user_id) : HR_EINVAL;
    json_t *info = json_object_get(o, "user_info");
    if (rc == 0 && info != NULL) {
        *user_info = hr_json_mem_dumps(info, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = *user_info == NULL ? HR_ENOMEM : 0;
    }
    json_decref(o);
    if (rc != 0) {
        hr_free(*user_id);
        *user_id = NULL;
    }
    return rc;
}

/* ---- control messages (jansson) ---- */

static int refuse(char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    return HR_EINVAL;
}

/* Dumps data (consumed) and builds {"event":..,["channel":..,]"data":"<dump>"}
 * into a malloc'd string. ok false means building failed earlier, which only
 * running out of memory can do. */
static int finish(const char *event, const char *channel, json_t *data, bool ok, char **out,
                  size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char *inner = ok && data != NULL ? hr_json_mem_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (inner == NULL)
        return HR_ENOMEM;
    json_t *o = json_object();
    bool good = o != NULL && json_object_set_new(o, "event", json_string(event)) == 0;
    if (good && channel != NULL)
        good = json_object_set_new(o, "channel", json_string(channel)) == 0;
    good = good && json_object_set_new(o, "data", json_string(inner)) == 0;
    hr_free(inner);
    char *s = good ? hr_json_mem_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL)
        return HR_ENOMEM;
    *out = s;
    *out_len = strlen(s);
    return 0;
}

/* A JSON value from compact text, or null for NULL text. NULL: no memory or
 * (the caller's bug) bad text. */
static json_t *info_value(const char *info)
{
    if (info == NULL)
        return json_null();
    bool oom;
    return hr_json_mem_loadb(info, strlen(info), JSON_DECODE_ANY, NULL, &oom);
}

/* 0 for a member with a plain user id and valid user_info JSON (or none),
 * HR_EINVAL otherwise, HR_ENOMEM when checking ran out of memory. */
static int member_check(const hr_pusher_member *m)
{
    if (m == NULL || !is_plain_text(m->user_id, m->user_id != NULL ? strlen(m->user_id) : 0,
                                    HR_PUSHER_USER_ID_MAX))
        return HR_EINVAL;
    if (m->user_info == NULL)
        return 0;
    bool oom;
    json_t *v = hr_json_mem_loadb(m->user_info, strlen(m->user_info), JSON_DECODE_ANY, NULL, &oom);
    json_decref(v);
    return v != NULL ? 0 : oom ? HR_ENOMEM : HR_EINVAL;
}

static bool channel_ok(const char *c)
{
    return c != NULL && hr_pusher_channel_is_valid(c, strlen(c));
}

int hr_pusher_write_established(const char *socket_id, unsigned activity_timeout, char **out,
                                size_t *out_len)
{
    if (socket_id == NULL || !hr_pusher_socket_id_is_valid(socket_id, strlen(socket_id)))
        return refuse(out, out_len);
    json_t *d = json_object();
    bool ok = d != NULL && json_object_set_new(d, "socket_id", json_string(socket_id)) == 0;
    ok = ok && json_object_set_new(d, "activity_timeout", json_integer(activity_timeout)) == 0;
    return finish("pusher:connection_established", NULL, d, ok, out, out_len);
}

/* {"presence":{"count":n,"ids":[...],"hash":{...}}}; members were checked. */
static json_t *presence_data(const hr_pusher_member *members, size_t n)
{
    json_t *d = json_object(), *p = json_object(), *ids = json_array(), *hash = json_object();
    bool ok = d != NULL && p != NULL && ids != NULL && hash != NULL;
    ok = ok && json_object_set_new(p, "count", json_integer((json_int_t)n)) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        ok = json_array_append_new(ids, json_string(members[i].user_id)) == 0;
        json_t *info = ok ? info_value(members[i].user_info) : NULL;
        ok = ok && json_object_set_new(hash, members[i].user_id, info) == 0;
    }
    ok = ok && json_object_set(p, "ids", ids) == 0 && json_object_set(p, "hash", hash) == 0;
    ok = ok && json_object_set(d, "presence", p) == 0;
    json_decref(p);
    json_decref(ids);
    json_decref(hash);
    if (!ok) {
        json_decref(d);
        return NULL;
    }
    return d;
}

int hr_pusher_write_subscribed(const char *channel, const hr_pusher_member *members, size_t n,
                               char **out, size_t *out_len)
{
    if (!channel_ok(channel) || (n > 0 && members == NULL) || (n == 0 && members != NULL))
        return refuse(out, out_len);
    for (size_t i = 0; i < n; i++) {
        const int rc = member_check(&members[i]);
        if (rc != 0) {
            (void)refuse(out, out_len);
            return rc;
        }
    }
    json_t *d = n > 0 ? presence_data(members, n) : json_object();
    return finish("pusher_internal:subscription_succeeded", channel, d, d != NULL, out, out_len);
}

int hr_pusher_write_member(const char *channel, bool added, const hr_pusher_member *m, char **out,
                           size_t *out_len)
{
    if (!channel_ok(channel))
        return refuse(out, out_len);
    const int rc = member_check(m);
    if (rc != 0) {
        (void)refuse(out, out_len);
        return rc;
    }
    json_t *d = json_object();
    bool ok = d != NULL && json_object_set_new(d, "user_id", json_string(m->user_id)) == 0;
    if (added)
        ok = ok && json_object_set_new(d, "user_info", info_value(m->user_info)) == 0;
    return finish(added ? "pusher_internal:member_added" : "pusher_internal:member_removed",
                  channel, d, ok, out, out_len);
}

int hr_pusher_write_pong(char **out, size_t *out_len)
{
    return finish("pusher:pong", NULL, json_object(), true, out, out_len);
}

int hr_pusher_write_ping(char **out, size_t *out_len)
{
    return finish("pusher:ping", NULL, json_object(), true, out, out_len);
}

int hr_pusher_write_error(int code, const char *message, char **out, size_t *out_len)
{
    if (message == NULL || !hr_utf8_valid((const uint8_t *)message, strlen(message)))
        return refuse(out, out_len);
    json_t *d = json_object();
    bool ok = d != NULL &&
              json_object_set_new(d, "code", code != 0 ? json_integer(code) : json_null()) == 0;
    ok = ok && json_object_set_new(d, "message", json_string(message)) == 0;
    return finish("pusher:error", NULL, d, ok, out, out_len);
}

int hr_pusher_write_subscription_error(const char *channel, int status, const char *message,
                                       char **out, size_t *out_len)
{
    if (!channel_ok(channel) || message == NULL ||
        !hr_utf8_valid((const uint8_t *)message, strlen(message)))
        return refuse(out, out_len);
    json_t *d = json_object();
    bool ok = d != NULL && json_object_set_new(d, "type", json_string("AuthError")) == 0;
    ok = ok && json_object_set_new(d, "error", json_string(message)) == 0;
    ok = ok && json_object_set_new(d, "status", json_integer(status)) == 0;
    return finish("pusher:subscription_error", channel, d, ok, out, out_len);
}

/* ---- events (hot path, hand-built) ---- */

/* Appends s[0..n) JSON-escaped at out[*at] while it fits in cap; *at always
 * advances by the escaped length, so the caller learns the full size. s is
 * valid UTF-8; only '"', '\\' and C0 controls need escaping. */
static void put_escaped(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        } else {
            esc[k++] = (char)c;
        }
        if (*at + k <= cap)
            memcpy(out + *at, esc, k);
        *at += k;
    }
}

static void put_raw(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    if (*at + n <= cap)
        memcpy(out + *at, s, n);
    *at += n;
}

int hr_pusher_write_event(char *out, size_t cap, const char *event, size_t elen,
                          const char *channel, size_t clen, const char *data_json, size_t dlen,
                          const char *user_id)
{
    if (!hr_pusher_event_is_valid(event, elen) || !hr_pusher_channel_is_valid(channel, clen) ||
        data_json == NULL || dlen == 0)
        return HR_EINVAL;
    const size_t ulen = user_id != NULL ? strlen(user_id) : 0;
    if (user_id != NULL && !is_plain_text(user_id, ulen, HR_PUSHER_USER_ID_MAX))
        return HR_EINVAL;
    /* Escaping at most doubles data (compact JSON holds no raw controls) and
     * makes names at most six times longer. */
    if (dlen > (size_t)INT_MAX / 2 - 6 * (HR_PUSHER_EVENT_MAX + HR_PUSHER_USER_ID_MAX) - 256)
        return HR_ETOOBIG;
    size_t at = 0;
    if (out == NULL)
        cap = 0;
    put_raw(out, cap, &at, "{\"event\":\"", 10);
    put_escaped(out, cap, &at, event, elen);
    put_raw(out, cap, &at, "\",\"channel\":\"", 13);
    put_raw(out, cap, &at, channel, clen);
    put_raw(out, cap, &at, "\",\"data\":", 9);
    if (data_json[0] == '"') {
        put_raw(out, cap, &at, data_json, dlen);
    } else {
        put_raw(out, cap, &at, "\"", 1);
        put_escaped(out, cap, &at, data_json, dlen);
        put_raw(out, cap, &at, "\"", 1);
    }
    if (user_id != NULL) {
        put_raw(out, cap, &at, ",\"user_id\":\"", 12);
        put_escaped(out, cap, &at, user_id, ulen);
        put_raw(out, cap, &at, "\"", 1);
    }
    put_raw(out, cap, &at, "}", 1);
    return (int)at;
}

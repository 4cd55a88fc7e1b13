/* The client JSON protocol of SPEC §2. A client sends small commands
 * (subscribe, unsubscribe) as JSON text frames; we parse them with jansson
 * into an owned hr_cmd, or into an hr_cproto_error that still carries the
 * command's "ref" so the error reply can echo it. A malformed command is a
 * value, not a disconnect: the caller replies and counts.
 *
 * Server messages are built here with their exact key order. Control replies
 * go through jansson (escaping and UTF-8 checks for client strings); the
 * event message is assembled by hand into caller memory, because it is built
 * once per published event on the fan-out path and its variable parts are
 * either restricted-alphabet tokens (channel, id) or JSON text that the
 * publish path already validated and compacted (data). */
#include "cproto.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "core/alloc.h"
#include "core/err.h"
#include "event_name.h"
#include "json_mem.h"
#include "json_scan.h"
#include "utf8.h"

static const char BAD_REQUEST[] = "bad_request";
static const char TOO_MANY[] = "too_many_channels";

__attribute__((format(printf, 3, 4))) static int fail(hr_cproto_error *err, const char *code,
                                                      const char *fmt, ...)
{
    if (err != NULL) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof err->message, fmt, ap); /* truncation is fine */
        va_end(ap);
    }
    return HR_EINVAL;
}

static void error_reset(hr_cproto_error *err)
{
    if (err == NULL)
        return;
    err->code = BAD_REQUEST;
    err->message[0] = '\0';
    err->has_ref = false;
    err->ref[0] = '\0';
}

/* Reads "ref" into cmd->ref and err->ref. Absent is fine. */
static int read_ref(json_t *root, hr_cmd *cmd, hr_cproto_error *err)
{
    json_t *ref = json_object_get(root, "ref");
    if (ref == NULL)
        return 0;
    if (!json_is_string(ref) || json_string_length(ref) > HR_CPROTO_REF_MAX)
        return fail(err, BAD_REQUEST, "ref must be a string of at most %d bytes",
                    HR_CPROTO_REF_MAX);
    const size_t n = json_string_length(ref);
    if (err != NULL) {
        memcpy(err->ref, json_string_value(ref), n);
        err->ref[n] = '\0';
        err->has_ref = true;
    }
    cmd->ref = hr_strndup(json_string_value(ref), n);
    return cmd->ref == NULL ? HR_ENOMEM : 0;
}

static int read_type(json_t *root, hr_cmd *cmd, hr_cproto_error *err)
{
    static const struct {
        const char *name;
        hr_cmd_type type;
    } types[] = {{"subscribe", HR_CMD_SUBSCRIBE},
                 {"unsubscribe", HR_CMD_UNSUBSCRIBE},
                 {"refresh", HR_CMD_REFRESH},
                 {"publish", HR_CMD_PUBLISH}};
    const char *type = json_string_value(json_object_get(root, "type"));
    for (size_t i = 0; type != NULL && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(type, types[i].name) == 0) {
            cmd->type = types[i].type;
            return 0;
        }
    }
    return fail(err, BAD_REQUEST,
                "type must be \"subscribe\", \"unsubscribe\", \"refresh\" or \"publish\"");
}

/* Copies the optional string member key of obj into *out (NULL when absent);
 * false when it is there but not a string of at most max bytes. */
static bool opt_string(json_t *obj, const char *key, size_t max, char **out, bool *oom)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return true;
    if (!json_is_string(v) || json_string_length(v) > max)
        return false;
    *out = hr_strndup(json_string_value(v), json_string_length(v));
    *oom = *out == NULL;
    return !*oom;
}

/* The proxy's form: "identity":{"user","channels","publish","expires"}. */
static int read_identity(json_t *o, hr_cmd *cmd, hr_cproto_error *err)
{
    bool oom = false;
    json_t *exp = json_object_get(o, "expires");
    cmd->has_identity = true;
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "user")) ||
        (exp != NULL && !json_is_null(exp) &&
         (!json_is_integer(exp) || json_integer_value(exp) < 0)))
        return fail(err, BAD_REQUEST, "identity must be {user, channels, publish, expires}");
    cmd->id_expires = exp != NULL && json_is_integer(exp) ? (int64_t)json_integer_value(exp) : 0;
    const bool ok = opt_string(o, "user", HR_CPROTO_TOKEN_MAX, &cmd->id_user, &oom) &&
                    opt_string(o, "channels", HR_CPROTO_TOKEN_MAX, &cmd->id_channels, &oom) &&
                    opt_string(o, "publish", HR_CPROTO_TOKEN_MAX, &cmd->id_publish, &oom);
    if (oom)
        return HR_ENOMEM;
    return ok ? 0 : fail(err, BAD_REQUEST, "identity must be {user, channels, publish, expires}");
}

static int read_refresh(json_t *root, hr_cmd *cmd, hr_cproto_error *err)
{
    json_t *ident = json_object_get(root, "identity");
    if (ident != NULL)
        return read_identity(ident, cmd, err);
    json_t *tok = json_object_get(root, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0 ||
        json_string_length(tok) > HR_CPROTO_TOKEN_MAX)
        return fail(err, BAD_REQUEST, "token must be a JWT string of at most %d bytes",
                    HR_CPROTO_TOKEN_MAX);
    cmd->token = hr_strndup(json_string_value(tok), json_string_length(tok));
    return cmd->token == NULL ? HR_ENOMEM : 0;
}

static int read_publish(json_t *root, hr_cmd *cmd, hr_cproto_error *err)
{
    json_t *ch = json_object_get(root, "channel");
    json_t *data = json_object_get(root, "data");
    if (!json_is_string(ch))
        return fail(err, BAD_REQUEST, "channel must be a channel name (%s)", HR_CHANNEL_RULE);
    if (!hr_channel_is_valid(json_string_value(ch), json_string_length(ch))) {
        char why[HR_CHANNEL_EXPLAIN_CAP];
        hr_channel_explain(json_string_value(ch), json_string_length(ch), why, sizeof why);
        return fail(err, BAD_REQUEST, "channel is not a valid channel name: %s", why);
    }
    if (data == NULL)
        return fail(err, BAD_REQUEST, "publish needs data (any JSON value)");
    cmd->channels = hr_calloc(1, sizeof *cmd->channels);
    if (cmd->channels == NULL)
        return HR_ENOMEM;
    cmd->channels[0] = hr_strndup(json_string_value(ch), json_string_length(ch));
    if (cmd->channels[0] == NULL)
        return HR_ENOMEM;
    cmd->n_channels = 1;
    cmd->data = hr_json_mem_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (cmd->data == NULL)
        return HR_ENOMEM;
    cmd->data_len = strlen(cmd->data);
    return 0;
}

static bool already_listed(const hr_cmd *cmd, const char *name)
{
    for (size_t i = 0; i < cmd->n_channels; i++)
        if (strcmp(cmd->channels[i], name) == 0)
            return true;
    return false;
}

/* Checks every entry first, then copies the distinct names in order. */
static int read_channels(json_t *root, size_t max_channels, hr_cmd *cmd, hr_cproto_error *err)
{
    json_t *arr = json_object_get(root, "channels");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(err, BAD_REQUEST, "channels must be a non-empty array of channel names");
    const size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        if (!json_is_string(c))
            return fail(err, BAD_REQUEST, "channels[%zu] is not a string (names match %s)", i,
                        HR_CHANNEL_RULE);
        if (!hr_channel_is_valid(json_string_value(c), json_string_length(c))) {
            char why[HR_CHANNEL_EXPLAIN_CAP];
            hr_channel_explain(json_string_value(c), json_string_length(c), why, sizeof why);
            return fail(err, BAD_REQUEST, "channels[%zu] is not a valid channel name: %s", i, why);
        }
    }
    if (max_channels == 0)
        return fail(err, TOO_MANY, "at most 0 channels per command");
    cmd->channels = hr_calloc(n < max_channels ? n : max_channels, sizeof *cmd->channels);
    if (cmd->channels == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        if (already_listed(cmd, json_string_value(c)))
            continue;
        if (cmd->n_channels >= max_channels)
            return fail(err, TOO_MANY, "at most %zu channels per command", max_channels);
        cmd->channels[cmd->n_channels] = hr_strndup(json_string_value(c), json_string_length(c));
        if (cmd->channels[cmd->n_channels] == NULL)
            return HR_ENOMEM;
        cmd->n_channels++;
    }
    return 0;
}

static int read_since(json_t *root, hr_cmd *cmd, hr_cproto_error *err)
{
    json_t *since = json_object_get(root, "since");
    if (since == NULL || cmd->type != HR_CMD_SUBSCRIBE)
        return 0;
    if (!json_is_string(since) ||
        !hr_cproto_id_is_valid(json_string_value(since), json_string_length(since)))
        return fail(err, BAD_REQUEST, "since must be an event id");
    cmd->since = hr_strndup(json_string_value(since), json_string_length(since));
    return cmd->since == NULL ? HR_ENOMEM : 0;
}

static int parse_object(json_t *root, size_t max_channels, hr_cmd *out, hr_cproto_error *err)
{
    if (!json_is_object(root))
        return fail(err, BAD_REQUEST, "a command must be a JSON object");
    int rc = read_ref(root, out, err);
    if (rc == 0)
        rc = read_type(root, out, err);
    if (rc == 0 && out->type == HR_CMD_REFRESH)
        return read_refresh(root, out, err);
    if (rc == 0 && out->type == HR_CMD_PUBLISH)
        return read_publish(root, out, err);
    if (rc == 0)
        rc = read_channels(root, max_channels, out, err);
    if (rc == 0)
        rc = read_since(root, out, err);
    return rc;
}

int hr_cproto_parse(const uint8_t *p, size_t len, size_t max_channels, hr_cmd *out,
                    hr_cproto_error *err)
{
    memset(out, 0, sizeof *out);
    error_reset(err);
    /* RFC 8259 has no raw NUL anywhere; jansson lets one slip after a number. */
    if (len > 0 && memchr(p, '\0', len) != NULL)
        return fail(err, BAD_REQUEST, "invalid JSON");
    json_error_t jerr;
    bool oom;
    json_t *root = hr_json_mem_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr, &oom);
    if (root == NULL && oom)
        return HR_ENOMEM;
    if (root == NULL)
        return fail(err, BAD_REQUEST, "invalid JSON");
    const int rc = parse_object(root, max_channels, out, err);
    json_decref(root);
    if (rc < 0)
        hr_cmd_deinit(out);
    return rc;
}

void hr_cmd_deinit(hr_cmd *cmd)
{
    if (cmd == NULL)
        return;
    if (cmd->channels != NULL)
        for (size_t i = 0; i < cmd->n_channels; i++)
            hr_free(cmd->channels[i]);
    hr_free(cmd->channels);
    hr_free(cmd->since);
    hr_free(cmd->ref);
    hr_free(cmd->token);
    hr_free(cmd->id_user);
    hr_free(cmd->id_channels);
    hr_free(cmd->id_publish);
    hr_free(cmd->data);
    memset(cmd, 0, sizeof *cmd);
}

/* ---- control replies (jansson) ----
 * Inputs are validated before anything is built, so that a failure while
 * building can only mean that memory ran out. */

/* Sets key to a string copy of s (NULL: json null when nullable, else skipped).
 * s is valid UTF-8 (checked by the caller); false means out of memory. */
static bool set_str(json_t *obj, const char *key, const char *s, bool nullable)
{
    if (s == NULL)
        return nullable ? json_object_set_new(obj, key, json_null()) == 0 : true;
    json_t *v = json_string(s);
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

/* True when s is NULL or valid UTF-8 (jansson refuses anything else). */
static bool utf8_or_null(const char *s)
{
    return s == NULL || hr_utf8_valid((const uint8_t *)s, strlen(s));
}

static bool channels_are_valid(const char *const *channels, size_t n)
{
    if (channels == NULL && n > 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (channels[i] == NULL || !hr_channel_is_valid(channels[i], strlen(channels[i])))
            return false;
    return true;
}

/* Channels were validated; false means out of memory. */
static bool set_channels(json_t *obj, const char *const *channels, size_t n)
{
    json_t *arr = json_array();
    if (arr == NULL || json_object_set_new(obj, "channels", arr) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(channels[i])) != 0)
            return false;
    return true;
}

/* The result of a refused input: HR_EINVAL and no string. */
static int refuse(char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    return HR_EINVAL;
}

/* The object every writer starts from, {"type":type}; *ok is false when
 * out of memory (hr_json_mem_dump_reply() then frees what there is and says so). */
static json_t *typed_object(const char *type, bool *ok)
{
    json_t *o = json_object();
    *ok = o != NULL && set_str(o, "type", type, false);
    return o;
}

int hr_cproto_write_welcome(const char *conn_id, const char *user, char **out, size_t *out_len)
{
    if (conn_id == NULL || !utf8_or_null(conn_id) || !utf8_or_null(user))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("welcome", &ok);
    ok = ok && set_str(o, "connection", conn_id, false);
    ok = ok && set_str(o, "user", user, true);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_subscribed(const char *const *channels, size_t n, bool recovered,
                               const char *ref, char **out, size_t *out_len)
{
    if (!channels_are_valid(channels, n) || !utf8_or_null(ref))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("subscribed", &ok);
    ok = ok && set_channels(o, channels, n);
    ok = ok && json_object_set_new(o, "recovered", json_boolean(recovered)) == 0;
    ok = ok && set_str(o, "ref", ref, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_unsubscribed(const char *const *channels, size_t n, const char *ref, char **out,
                                 size_t *out_len)
{
    if (!channels_are_valid(channels, n) || !utf8_or_null(ref))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("unsubscribed", &ok);
    ok = ok && set_channels(o, channels, n);
    ok = ok && set_str(o, "ref", ref, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_error(const char *code, const char *message, const char *ref, char **out,
                          size_t *out_len)
{
    if (code == NULL || message == NULL || !utf8_or_null(code) || !utf8_or_null(message) ||
        !utf8_or_null(ref))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("error", &ok);
    ok = ok && set_str(o, "code", code, false);
    ok = ok && set_str(o, "message", message, false);
    ok = ok && set_str(o, "ref", ref, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_unsubscribed_reason(const char *const *channels, size_t n, const char *reason,
                                        char **out, size_t *out_len)
{
    if (!channels_are_valid(channels, n) || reason == NULL || !utf8_or_null(reason))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("unsubscribed", &ok);
    ok = ok && set_channels(o, channels, n);
    ok = ok && set_str(o, "reason", reason, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_expiring(int64_t in_s, char **out, size_t *out_len)
{
    bool ok;
    json_t *o = typed_object("expiring", &ok);
    ok = ok && json_object_set_new(o, "in", json_integer(in_s > 0 ? in_s : 0)) == 0;
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_refreshed(int64_t expires, const char *ref, char **out, size_t *out_len)
{
    if (!utf8_or_null(ref))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("refreshed", &ok);
    ok = ok &&
         json_object_set_new(o, "expires", expires > 0 ? json_integer(expires) : json_null()) == 0;
    ok = ok && set_str(o, "ref", ref, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_published(const char *id, const char *ref, char **out, size_t *out_len)
{
    if (id == NULL || !hr_cproto_id_is_valid(id, strlen(id)) || !utf8_or_null(ref))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("published", &ok);
    ok = ok && set_str(o, "id", id, false);
    ok = ok && set_str(o, "ref", ref, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_refresh_identity(const char *user, const char *channels, const char *publish,
                                     int64_t expires, const char *ref, char **out, size_t *out_len)
{
    if (user == NULL || !utf8_or_null(user) || !utf8_or_null(channels) || !utf8_or_null(publish) ||
        !utf8_or_null(ref))
        return refuse(out, out_len);
    bool ok;
    json_t *o = typed_object("refresh", &ok), *id = json_object();
    ok = ok && id != NULL;
    ok = ok && set_str(id, "user", user, false);
    ok = ok && set_str(id, "channels", channels, false);
    ok = ok && set_str(id, "publish", publish, false);
    ok = ok &&
         json_object_set_new(id, "expires", expires > 0 ? json_integer(expires) : json_null()) == 0;
    ok = ok && json_object_set(o, "identity", id) == 0;
    json_decref(id);
    ok = ok && set_str(o, "ref", ref, false);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_cproto_write_parse_error(const hr_cproto_error *err, char **out, size_t *out_len)
{
    return hr_cproto_write_error(err->code, err->message, err->has_ref ? err->ref : NULL, out,
                                 out_len);
}

/* ---- events (hot path, hand-built) ---- */

bool hr_cproto_id_is_valid(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > HR_CPROTO_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)id[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static const char EV_HEAD[] = "{\"type\":\"event\",\"channel\":\"";
static const char EV_ID[] = "\",\"id\":\"";
static const char EV_DATA[] = "\",\"data\":";
#define LIT_LEN(s) (sizeof(s) - 1)

static char *put(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    return dst + n;
}

/* The JSON-escaped length of a valid event name (only '"' and '\\' need
 * escaping: the name holds no control characters). */
static size_t escaped_len(const char *s, size_t n)
{
    size_t k = n;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '"' || s[i] == '\\';
    return k;
}

/* Both event writers: the name part only when event is not NULL (then
 * already validated). */
static int write_event(char *out, size_t cap, const char *channel, size_t clen, const char *id,
                       size_t idlen, const char *event, size_t elen, const char *data_json,
                       size_t dlen)
{
    static const char EV_NAME[] = "\",\"event\":\"";
    if (!hr_channel_is_valid(channel, clen) || !hr_cproto_id_is_valid(id, idlen) ||
        data_json == NULL || dlen == 0)
        return HR_EINVAL;
    const size_t name = event != NULL ? LIT_LEN(EV_NAME) + escaped_len(event, elen) : 0;
    const size_t fixed = LIT_LEN(EV_HEAD) + LIT_LEN(EV_ID) + LIT_LEN(EV_DATA) + 1;
    if (dlen > (size_t)INT_MAX - fixed - clen - idlen - name)
        return HR_ETOOBIG;
    const size_t total = fixed + clen + idlen + name + dlen;
    if (total > cap)
        return (int)total;
    char *w = put(out, EV_HEAD, LIT_LEN(EV_HEAD));
    w = put(w, channel, clen);
    w = put(w, EV_ID, LIT_LEN(EV_ID));
    w = put(w, id, idlen);
    if (event != NULL) {
        w = put(w, EV_NAME, LIT_LEN(EV_NAME));
        for (size_t i = 0; i < elen; i++) {
            if (event[i] == '"' || event[i] == '\\')
                *w++ = '\\';
            *w++ = event[i];
        }
    }
    w = put(w, EV_DATA, LIT_LEN(EV_DATA));
    w = put(w, data_json, dlen);
    *w = '}';
    return (int)total;
}

int hr_cproto_write_named_event(char *out, size_t cap, const char *channel, size_t clen,
                                const char *id, size_t idlen, const char *event, size_t elen,
                                const char *data_json, size_t dlen)
{
    if (!hr_event_name_is_valid(event, elen))
        return HR_EINVAL;
    return write_event(out, cap, channel, clen, id, idlen, event, elen, data_json, dlen);
}

int hr_cproto_write_event(char *out, size_t cap, const char *channel, size_t clen, const char *id,
                          size_t idlen, const char *data_json, size_t dlen)
{
    return write_event(out, cap, channel, clen, id, idlen, NULL, 0, data_json, dlen);
}

/* ---- reading events back (the gateway's transform path) ---- */

/* The four keys an event is made of; anything else is skipped. */
enum { K_TYPE, K_CHANNEL, K_ID, K_DATA, K_COUNT };
static const char *const EV_KEYS[K_COUNT] = {"type", "channel", "id", "data"};

typedef struct ev_member {
    size_t start, end; /* value p[start..end); end 0 = absent */
    bool escaped;      /* a string value holding a backslash */
} ev_member;

/* Which of the four keys the string token p[0..len) names; K_COUNT if none. */
static int key_index(const uint8_t *p, size_t len)
{
    for (int k = 0; k < K_COUNT; k++)
        if (hr_json_scan_string_equals(p, len, EV_KEYS[k]))
            return k;
    return K_COUNT;
}

/* Walks the members of the object at p[i] ('{'), recording the four keys.
 * Returns 0 when the object is valid JSON with nothing after it, 1 when a
 * key repeats (the object may be valid), -1 when it is not valid JSON. */
static int scan_members(const uint8_t *p, size_t len, size_t i, ev_member m[K_COUNT])
{
    bool repeat = false;
    i = hr_json_scan_ws(p, len, i + 1);
    if (i < len && p[i] == '}')
        return hr_json_scan_ws(p, len, i + 1) == len ? 0 : -1;
    for (;;) {
        const size_t key = i;
        bool escaped = false;
        i = hr_json_scan_string(p, len, key, NULL);
        if (i == 0)
            return -1;
        const int k = key_index(p + key, i - key);
        i = hr_json_scan_ws(p, len, i);
        if (i >= len || p[i] != ':')
            return -1;
        const size_t start = hr_json_scan_ws(p, len, i + 1);
        if (start < len && p[start] == '"')
            i = hr_json_scan_string(p, len, start, &escaped);
        else
            i = hr_json_scan_value(p, len, start);
        if (i == 0)
            return -1;
        if (k < K_COUNT) {
            repeat |= m[k].end != 0;
            m[k] = (ev_member){start, i, escaped};
        }
        i = hr_json_scan_ws(p, len, i);
        if (i < len && p[i] == '}')
            break;
        if (i >= len || p[i] != ',')
            return -1;
        i = hr_json_scan_ws(p, len, i + 1);
    }
    if (hr_json_scan_ws(p, len, i + 1) != len)
        return -1;
    return repeat ? 1 : 0;
}

/* The contents of a string member without quotes, when it is a string
 * written without escapes. */
static bool plain_string(const uint8_t *p, const ev_member *m, const char **s, size_t *n)
{
    if (m->end == 0 || p[m->start] != '"' || m->escaped)
        return false;
    *s = (const char *)p + m->start + 1;
    *n = m->end - m->start - 2;
    return true;
}

int hr_cproto_parse_event(const uint8_t *p, size_t len, hr_cproto_event *ev)
{
    memset(ev, 0, sizeof *ev);
    const size_t i = hr_json_scan_ws(p, len, 0);
    if (i >= len || p[i] != '{')
        return 0;
    ev_member m[K_COUNT] = {{0, 0, false}};
    const int rc = scan_members(p, len, i, m);
    if (rc < 0 || m[K_TYPE].end == 0 ||
        !hr_json_scan_string_equals(p + m[K_TYPE].start, m[K_TYPE].end - m[K_TYPE].start, "event"))
        return 0;
    hr_cproto_event e;
    if (rc > 0 || !plain_string(p, &m[K_CHANNEL], &e.channel, &e.channel_len) ||
        !hr_channel_is_valid(e.channel, e.channel_len) ||
        !plain_string(p, &m[K_ID], &e.id, &e.id_len) || !hr_cproto_id_is_valid(e.id, e.id_len) ||
        m[K_DATA].end == 0)
        return HR_EINVAL;
    e.data = (const char *)p + m[K_DATA].start;
    e.data_len = m[K_DATA].end - m[K_DATA].start;
    *ev = e;
    return 1;
}

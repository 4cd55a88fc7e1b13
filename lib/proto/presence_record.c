/* Presence and client-event records (presence_record.h): parsed and built
 * with jansson; every field is checked on the way in, because any broker
 * publisher can write one. */
#include "presence_record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "json_mem.h"
#include "pusher.h"

static const char *const KINDS[] = {
    [HR_PRESENCE_ADD] = "add",         [HR_PRESENCE_REMOVE] = "rm", [HR_PRESENCE_HELLO] = "hello",
    [HR_PRESENCE_HEARTBEAT] = "hb",    [HR_PRESENCE_WANT] = "want", [HR_PRESENCE_SYNC] = "sync",
    [HR_PRESENCE_CLIENT_EVENT] = "ce", [HR_PRESENCE_SKIP] = "skip", [HR_PRESENCE_BYE] = "bye",
};
#define N_KINDS (sizeof KINDS / sizeof *KINDS)

bool hr_presence_socket_id_is_valid(const char *s)
{
    if (s == NULL)
        return false;
    const size_t len = strlen(s);
    const char *dot = memchr(s, '.', len);
    if (len > HR_PUSHER_SOCKET_ID_MAX || dot == NULL || dot == s || dot == s + len - 1)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s + i != dot && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

/* The string value of key, when it is a string without NUL bytes. */
static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

static bool plain_text(const char *s, size_t max)
{
    if (s == NULL)
        return false;
    const size_t len = strlen(s);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool is_json_value(const char *s, size_t len, bool *oom)
{
    json_t *v = hr_json_mem_loadb(s, len, JSON_DECODE_ANY, NULL, oom);
    json_decref(v);
    return v != NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 20)
        return HR_EINVAL;
    uint64_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return HR_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Checks one member entry; info may be NULL. */
static int check_entry(const hr_presence_entry *e, bool *oom)
{
    if (e->channel == NULL || !hr_pusher_channel_is_valid(e->channel, strlen(e->channel)) ||
        hr_pusher_channel_kind(e->channel, strlen(e->channel)) != HR_PUSHER_PRESENCE ||
        !hr_presence_socket_id_is_valid(e->socket_id) ||
        !plain_text(e->user_id, HR_PUSHER_USER_ID_MAX))
        return HR_EINVAL;
    if (e->user_info != NULL && !is_json_value(e->user_info, strlen(e->user_info), oom))
        return *oom ? HR_ENOMEM : HR_EINVAL;
    return 0;
}

static int parse_sync(const json_t *o, hr_presence_record *r, bool *oom)
{
    const json_t *m = json_object_get(o, "m");
    const char *last = str(o, "last");
    if (!json_is_array(m) || json_array_size(m) > HR_PRESENCE_SYNC_MAX || last == NULL ||
        parse_u64(str(o, "p"), &r->count) != 0)
        return HR_EINVAL;
    r->last = strcmp(last, "1") == 0;
    r->n_entries = json_array_size(m);
    if (r->n_entries > 0 && (r->entries = hr_calloc(r->n_entries, sizeof *r->entries)) == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < r->n_entries; i++) {
        const json_t *a = json_array_get(m, i);
        const json_t *f = json_array_get(a, 3);
        if (!json_is_array(a) || json_array_size(a) != 4 ||
            (!json_is_null(f) && !json_is_string(f)))
            return HR_EINVAL;
        hr_presence_entry *e = &r->entries[i];
        e->channel = json_string_value(json_array_get(a, 0));
        e->socket_id = json_string_value(json_array_get(a, 1));
        e->user_id = json_string_value(json_array_get(a, 2));
        e->user_info = json_string_value(f);
        for (size_t k = 0; k < 4; k++) {
            const json_t *v = json_array_get(a, k);
            if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
                return HR_EINVAL;
        }
        const int rc = check_entry(e, oom);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_entry(const json_t *o, hr_presence_record *r, bool *oom)
{
    if ((r->entries = hr_calloc(1, sizeof *r->entries)) == NULL)
        return HR_ENOMEM;
    r->n_entries = 1;
    *r->entries = (hr_presence_entry){str(o, "c"), str(o, "s"), str(o, "u"), str(o, "f")};
    if (json_object_get(o, "f") != NULL && r->entries->user_info == NULL)
        return HR_EINVAL;
    return check_entry(r->entries, oom);
}

static int parse_client_event(const json_t *o, hr_presence_record *r, bool *oom)
{
    r->channel = str(o, "c");
    r->socket_id = str(o, "s");
    r->event = str(o, "e");
    r->data = str(o, "d");
    r->user_id = str(o, "u");
    if (r->channel == NULL || !hr_pusher_channel_is_valid(r->channel, strlen(r->channel)) ||
        hr_pusher_channel_kind(r->channel, strlen(r->channel)) == HR_PUSHER_PUBLIC ||
        !hr_presence_socket_id_is_valid(r->socket_id) || r->event == NULL ||
        strncmp(r->event, "client-", 7) != 0 ||
        !hr_pusher_event_is_valid(r->event, strlen(r->event)) || r->data == NULL ||
        (json_object_get(o, "u") != NULL && !plain_text(r->user_id, HR_PUSHER_USER_ID_MAX)))
        return HR_EINVAL;
    r->data_len = strlen(r->data);
    if (!is_json_value(r->data, r->data_len, oom))
        return *oom ? HR_ENOMEM : HR_EINVAL;
    return 0;
}

static int parse_body(const json_t *o, hr_presence_record *r, bool *oom)
{
    const char *k = str(o, "hp");
    for (size_t i = 1; k != NULL && i < N_KINDS; i++)
        if (strcmp(k, KINDS[i]) == 0)
            r->kind = (hr_presence_kind)i;
    if (r->kind == 0 || parse_u64(str(o, "i"), &r->instance) != 0)
        return HR_EINVAL;
    switch (r->kind) {
    case HR_PRESENCE_ADD:
    case HR_PRESENCE_REMOVE:
        return parse_entry(o, r, oom);
    case HR_PRESENCE_HELLO:
    case HR_PRESENCE_BYE:
        return 0;
    case HR_PRESENCE_HEARTBEAT:
        return parse_u64(str(o, "n"), &r->count);
    case HR_PRESENCE_WANT:
        return parse_u64(str(o, "to"), &r->to);
    case HR_PRESENCE_SYNC:
        return parse_sync(o, r, oom);
    case HR_PRESENCE_CLIENT_EVENT:
        return parse_client_event(o, r, oom);
    case HR_PRESENCE_SKIP:
        r->socket_id = str(o, "s");
        return !hr_presence_socket_id_is_valid(r->socket_id) ||
                       parse_u64(str(o, "ms"), &r->count) != 0 ||
                       parse_u64(str(o, "seq"), &r->to) != 0
                   ? HR_EINVAL
                   : 0;
    }
    return HR_EINVAL;
}

int hr_presence_record_parse(const char *data, size_t len, hr_presence_record *out)
{
    memset(out, 0, sizeof *out);
    bool oom = false;
    json_t *o = hr_json_mem_loadb(data, len, 0, NULL, &oom);
    if (o == NULL)
        return oom ? HR_ENOMEM : HR_EINVAL;
    out->root = o;
    int rc = json_is_object(o) ? parse_body(o, out, &oom) : HR_EINVAL;
    if (rc == 0 && oom)
        rc = HR_ENOMEM;
    if (rc != 0)
        hr_presence_record_deinit(out);
    return rc;
}

void hr_presence_record_deinit(hr_presence_record *r)
{
    hr_free(r->entries);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

/* ---- writers ---- */

static json_t *u64(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return json_string(b);
}

static json_t *head(hr_presence_kind kind, uint64_t instance)
{
    json_t *o = json_object();
    if (o != NULL && (json_object_set_new(o, "hp", json_string(KINDS[kind])) != 0 ||
                      json_object_set_new(o, "i", u64(instance)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Dumps o (taken) into *out; rc says whether building it went well. */
static int finish(json_t *o, int rc, char **out, size_t *out_len)
{
    *out = NULL;
    if (rc == 0 && o == NULL)
        rc = HR_ENOMEM;
    if (rc == 0 && (*out = hr_json_mem_dumps(o, JSON_COMPACT)) == NULL)
        rc = HR_ENOMEM;
    json_decref(o);
    if (rc == 0)
        *out_len = strlen(*out);
    return rc;
}

static int set_str(json_t *o, const char *key, const char *v)
{
    return v == NULL || json_object_set_new(o, key, json_string(v)) == 0 ? 0 : HR_ENOMEM;
}

int hr_presence_write_entry(bool add, uint64_t instance, const hr_presence_entry *e, char **out,
                            size_t *out_len)
{
    bool oom = false;
    int rc = check_entry(e, &oom);
    json_t *o = rc == 0 ? head(add ? HR_PRESENCE_ADD : HR_PRESENCE_REMOVE, instance) : NULL;
    if (o != NULL)
        rc = set_str(o, "c", e->channel) | set_str(o, "s", e->socket_id) |
             set_str(o, "u", e->user_id) | set_str(o, "f", add ? e->user_info : NULL);
    return finish(o, rc, out, out_len);
}

int hr_presence_write_signal(hr_presence_kind kind, uint64_t instance, uint64_t n, char **out,
                             size_t *out_len)
{
    if (kind != HR_PRESENCE_HELLO && kind != HR_PRESENCE_BYE && kind != HR_PRESENCE_HEARTBEAT &&
        kind != HR_PRESENCE_WANT)
        return HR_EINVAL;
    json_t *o = head(kind, instance);
    int rc = 0;
    if (o != NULL && (kind == HR_PRESENCE_HEARTBEAT || kind == HR_PRESENCE_WANT) &&
        json_object_set_new(o, kind == HR_PRESENCE_WANT ? "to" : "n", u64(n)) != 0)
        rc = HR_ENOMEM;
    return finish(o, rc, out, out_len);
}

int hr_presence_write_sync(uint64_t instance, uint64_t part, bool last,
                           const hr_presence_entry *entries, size_t n, char **out, size_t *out_len)
{
    if (n > HR_PRESENCE_SYNC_MAX)
        return HR_EINVAL;
    json_t *o = head(HR_PRESENCE_SYNC, instance);
    json_t *m = json_array();
    int rc = o == NULL || m == NULL ? HR_ENOMEM : 0;
    bool oom = false;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const hr_presence_entry *e = &entries[i];
        if ((rc = check_entry(e, &oom)) != 0)
            break;
        json_t *a = json_pack("[ssso]", e->channel, e->socket_id, e->user_id,
                              e->user_info != NULL ? json_string(e->user_info) : json_null());
        if (a == NULL || json_array_append_new(m, a) != 0)
            rc = HR_ENOMEM;
    }
    if (rc == 0 && (json_object_set_new(o, "p", u64(part)) != 0 ||
                    json_object_set_new(o, "last", json_string(last ? "1" : "0")) != 0 ||
                    json_object_set(o, "m", m) != 0))
        rc = HR_ENOMEM;
    json_decref(m);
    return finish(o, rc, out, out_len);
}

int hr_presence_write_client_event(uint64_t instance, const char *channel, const char *socket_id,
                                   const char *event, const char *data, size_t data_len,
                                   const char *user_id, char **out, size_t *out_len)
{
    if (data == NULL || strlen(data) != data_len)
        return HR_EINVAL;
    json_t *o = head(HR_PRESENCE_CLIENT_EVENT, instance);
    int rc = 0;
    if (o != NULL)
        rc = set_str(o, "c", channel) | set_str(o, "s", socket_id) | set_str(o, "e", event) |
             set_str(o, "d", data) | set_str(o, "u", user_id);
    rc = finish(o, rc, out, out_len);
    if (rc != 0)
        return rc;
    /* What we write must be what we accept. */
    hr_presence_record r;
    const int prc = hr_presence_record_parse(*out, *out_len, &r);
    hr_presence_record_deinit(&r);
    if (prc != 0) {
        hr_free(*out);
        *out = NULL;
    }
    return prc;
}

int hr_presence_write_skip(uint64_t instance, const char *socket_id, uint64_t ms, uint64_t seq,
                           char **out, size_t *out_len)
{
    if (!hr_presence_socket_id_is_valid(socket_id))
        return HR_EINVAL;
    json_t *o = head(HR_PRESENCE_SKIP, instance);
    int rc = 0;
    if (o != NULL &&
        (set_str(o, "s", socket_id) != 0 || json_object_set_new(o, "ms", u64(ms)) != 0 ||
         json_object_set_new(o, "seq", u64(seq)) != 0))
        rc = HR_ENOMEM;
    return finish(o, rc, out, out_len);
}

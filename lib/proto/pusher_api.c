/* The Pusher HTTP API's pure parts: endpoint matching, event bodies into
 * Herald publish items (all-or-nothing, as POST /publish), and the channel
 * query replies. jansson reads and writes the JSON; channel names go through
 * the Pusher <-> Herald mapping of pusher.c. */
#include "pusher_api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "json_mem.h"
#include "pusher_sign.h"
#include "utf8.h"

static const char APPS[] = "/apps/";
#define APPS_LEN (sizeof APPS - 1)

bool hr_pusher_api_is_api_path(const char *path, size_t len)
{
    return len >= APPS_LEN && memcmp(path, APPS, APPS_LEN) == 0;
}

static bool is(const char *p, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(p, lit, len) == 0;
}

int hr_pusher_api_match(const char *path, size_t len, const char *app_id,
                        hr_pusher_api_route *route, char channel[HR_PUSHER_CHANNEL_MAX + 1])
{
    channel[0] = '\0';
    const size_t alen = strlen(app_id);
    if (!hr_pusher_api_is_api_path(path, len) || len < APPS_LEN + alen + 1 ||
        memcmp(path + APPS_LEN, app_id, alen) != 0 || path[APPS_LEN + alen] != '/')
        return HR_EINVAL;
    const char *rest = path + APPS_LEN + alen + 1;
    size_t rlen = len - APPS_LEN - alen - 1;
    if (is(rest, rlen, "events")) {
        *route = HR_PUSHER_API_EVENTS;
        return 0;
    }
    if (is(rest, rlen, "batch_events")) {
        *route = HR_PUSHER_API_BATCH;
        return 0;
    }
    if (is(rest, rlen, "channels")) {
        *route = HR_PUSHER_API_CHANNELS;
        return 0;
    }
    if (rlen <= 9 || memcmp(rest, "channels/", 9) != 0)
        return HR_EINVAL;
    rest += 9;
    rlen -= 9;
    *route = HR_PUSHER_API_CHANNEL;
    if (rlen > 6 && memcmp(rest + rlen - 6, "/users", 6) == 0) {
        *route = HR_PUSHER_API_CHANNEL_USERS;
        rlen -= 6;
    }
    if (!hr_pusher_channel_is_valid(rest, rlen))
        return HR_EINVAL;
    memcpy(channel, rest, rlen);
    channel[rlen] = '\0';
    return 0;
}

/* ---- event bodies ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *errbuf, size_t errcap, const char *fmt,
                                                      ...)
{
    if (errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(errbuf, errcap, fmt, ap); /* truncation is fine */
        va_end(ap);
    }
    return HR_EINVAL;
}

int hr_pusher_api_data(const char *s, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len > 0 && memchr(s, '\0', len) != NULL)
        return HR_EINVAL;
    const int rc = hr_publish_normalize_data(s, len, out, out_len);
    if (rc != HR_EINVAL)
        return rc;
    if (!hr_utf8_valid((const uint8_t *)s, len))
        return HR_EINVAL;
    json_t *str = json_stringn(s, len);
    char *d = str != NULL ? hr_json_mem_dumps(str, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(str);
    if (d == NULL)
        return HR_ENOMEM;
    *out = d;
    *out_len = strlen(d);
    return 0;
}

static bool listed(const hr_pub_item *it, const char *name)
{
    for (size_t i = 0; i < it->n_channels; i++)
        if (strcmp(it->channels[i], name) == 0)
            return true;
    return false;
}

/* Adds the Herald name of Pusher name v (a json string) to it. */
static int add_channel(hr_pub_item *it, json_t *v, size_t idx, char *errbuf, size_t errcap)
{
    char h[HR_CHANNEL_MAX + 1];
    if (!json_is_string(v) ||
        hr_pusher_channel_to_herald(json_string_value(v), json_string_length(v), h) < 0)
        return fail(errbuf, errcap, "channel %zu is not a channel name Herald can carry", idx);
    if (listed(it, h))
        return 0;
    it->channels[it->n_channels] = hr_strndup(h, strlen(h));
    if (it->channels[it->n_channels] == NULL)
        return HR_ENOMEM;
    it->n_channels++;
    return 0;
}

static int read_channels(json_t *ev, hr_pub_item *it, char *errbuf, size_t errcap)
{
    json_t *one = json_object_get(ev, "channel"), *many = json_object_get(ev, "channels");
    if ((one == NULL) == (many == NULL))
        return fail(errbuf, errcap, "give either \"channel\" or \"channels\"");
    const size_t n = many != NULL ? json_array_size(many) : 1;
    if (many != NULL && (!json_is_array(many) || n == 0 || n > HR_PUSHER_API_MAX_CHANNELS))
        return fail(errbuf, errcap, "\"channels\" must list 1 to %d channels",
                    HR_PUSHER_API_MAX_CHANNELS);
    it->channels = hr_calloc(n, sizeof *it->channels);
    if (it->channels == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const int rc =
            add_channel(it, many != NULL ? json_array_get(many, i) : one, i, errbuf, errcap);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Fills it (zeroed) from one event object; *exclude gets its socket_id. */
static int read_event(json_t *ev, hr_pub_item *it, char **exclude, char *errbuf, size_t errcap)
{
    if (!json_is_object(ev))
        return fail(errbuf, errcap, "an event must be a JSON object");
    json_t *name = json_object_get(ev, "name"), *data = json_object_get(ev, "data");
    json_t *sid = json_object_get(ev, "socket_id");
    if (!json_is_string(name) ||
        !hr_event_name_is_valid(json_string_value(name), json_string_length(name)))
        return fail(errbuf, errcap, "\"name\" must be an event name of 1 to %d bytes",
                    HR_PUBLISH_EVENT_MAX);
    if (!json_is_string(data))
        return fail(errbuf, errcap, "\"data\" must be a string");
    if (sid != NULL &&
        (!json_is_string(sid) ||
         !hr_pusher_socket_id_is_valid(json_string_value(sid), json_string_length(sid))))
        return fail(errbuf, errcap, "\"socket_id\" must match ^\\d+\\.\\d+$");
    int rc = read_channels(ev, it, errbuf, errcap);
    if (rc != 0)
        return rc;
    rc = hr_pusher_api_data(json_string_value(data), json_string_length(data), &it->data,
                            &it->data_len);
    if (rc == HR_EINVAL)
        return fail(errbuf, errcap, "\"data\" must be text without NUL bytes");
    it->event_len = json_string_length(name);
    it->event = rc == 0 ? hr_strndup(json_string_value(name), it->event_len) : NULL;
    if (rc == 0 && sid != NULL)
        *exclude = hr_strndup(json_string_value(sid), json_string_length(sid));
    if (rc == 0 && (it->event == NULL || (sid != NULL && *exclude == NULL)))
        rc = HR_ENOMEM;
    return rc;
}

static int read_body(json_t *root, bool batch, hr_pub_batch *out, char **excl, char *errbuf,
                     size_t errcap)
{
    json_t *list = batch ? json_object_get(root, "batch") : NULL;
    if (!json_is_object(root) || (batch && (!json_is_array(list) || json_array_size(list) == 0 ||
                                            json_array_size(list) > HR_PUSHER_API_MAX_BATCH)))
        return fail(errbuf, errcap,
                    batch ? "the body must be {\"batch\":[1 to 10 events]}"
                          : "the body must be a JSON object");
    const size_t n = batch ? json_array_size(list) : 1;
    out->items = hr_calloc(n, sizeof *out->items);
    if (out->items == NULL)
        return HR_ENOMEM;
    out->is_batch = batch;
    for (size_t i = 0; i < n; i++) {
        out->n_items++;
        const int rc = read_event(batch ? json_array_get(list, i) : root, &out->items[i], &excl[i],
                                  errbuf, errcap);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void hr_pusher_api_exclude_free(char **exclude, size_t n)
{
    if (exclude == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        hr_free(exclude[i]);
    hr_free(exclude);
}

int hr_pusher_api_parse_events(const uint8_t *body, size_t len, bool batch, hr_pub_batch *out,
                               char ***exclude, char *errbuf, size_t errcap)
{
    memset(out, 0, sizeof *out);
    *exclude = NULL;
    if (errcap > 0)
        errbuf[0] = '\0';
    if (len > 0 && memchr(body, '\0', len) != NULL)
        return fail(errbuf, errcap, "invalid JSON");
    bool oom;
    json_t *root = hr_json_mem_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL, &oom);
    if (root == NULL)
        return oom ? HR_ENOMEM : fail(errbuf, errcap, "invalid JSON");
    char **excl = hr_calloc(HR_PUSHER_API_MAX_BATCH, sizeof *excl);
    int rc = excl != NULL ? read_body(root, batch, out, excl, errbuf, errcap) : HR_ENOMEM;
    json_decref(root);
    if (rc != 0) {
        hr_pusher_api_exclude_free(excl, HR_PUSHER_API_MAX_BATCH);
        hr_publish_batch_deinit(out);
        return rc;
    }
    *exclude = excl;
    return 0;
}

/* ---- replies ---- */

static int refuse(char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    return HR_EINVAL;
}

static bool count(json_t *o, const char *key, size_t n)
{
    return json_object_set_new(o, key, json_integer((json_int_t)n)) == 0;
}

int hr_pusher_api_write_channels(const hr_pusher_channel_info *chs, size_t n, bool with_user_count,
                                 char **out, size_t *out_len)
{
    for (size_t i = 0; i < n; i++)
        if (chs[i].name == NULL || !hr_pusher_channel_is_valid(chs[i].name, strlen(chs[i].name)))
            return refuse(out, out_len);
    json_t *o = json_object(), *map = json_object();
    bool ok = o != NULL && map != NULL && json_object_set(o, "channels", map) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *one = json_object();
        const bool presence =
            hr_pusher_channel_kind(chs[i].name, strlen(chs[i].name)) == HR_PUSHER_PRESENCE;
        ok = one != NULL &&
             (!with_user_count || !presence || count(one, "user_count", chs[i].user_count));
        ok = json_object_set_new(map, chs[i].name, one) == 0 && ok;
    }
    json_decref(map);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_pusher_api_write_channel(const hr_pusher_channel_info *ch, bool with_subscriptions,
                                bool with_users, char **out, size_t *out_len)
{
    if (ch == NULL || ch->name == NULL || !hr_pusher_channel_is_valid(ch->name, strlen(ch->name)))
        return refuse(out, out_len);
    json_t *o = json_object();
    bool ok = o != NULL &&
              json_object_set_new(o, "occupied", json_boolean(ch->subscription_count > 0 || ch->user_count > 0)) == 0;
    if (ok && with_subscriptions)
        ok = count(o, "subscription_count", ch->subscription_count);
    if (ok && with_users)
        ok = count(o, "user_count", ch->user_count);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_pusher_api_write_users(const char *const *ids, size_t n, char **out, size_t *out_len)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == NULL || !hr_utf8_valid((const uint8_t *)ids[i], strlen(ids[i])))
            return refuse(out, out_len);
    json_t *o = json_object(), *arr = json_array();
    bool ok = o != NULL && arr != NULL && json_object_set(o, "users", arr) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *u = json_object();
        ok = u != NULL && json_object_set_new(u, "id", json_string(ids[i])) == 0;
        ok = json_array_append_new(arr, u) == 0 && ok;
    }
    json_decref(arr);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

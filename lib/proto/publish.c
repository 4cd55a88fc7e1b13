/* POST /publish bodies (SPEC §3). The body is decoded once with jansson and
 * checked completely before anything is returned: one bad item rejects the
 * whole request, so a batch is published all-or-nothing. Each item's "data"
 * is re-serialised here as compact JSON, which is the text the event message
 * embeds verbatim for every subscriber (hr_cproto_write_event). The reply
 * bodies ({"id"}, {"ids"}, {"error","message"}) are built here too, so the
 * HTTP handler only moves bytes. */
#include "publish.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "core/err.h"
#include "cproto.h"

/* Where a failure message goes: the caller's buffer plus the item prefix. */
typedef struct perr {
    char *buf;
    size_t cap;
    bool batch;
    size_t index;
} perr;

static int fail(perr *e, int code, const char *fmt, ...)
{
    if (e->buf == NULL || e->cap == 0)
        return code;
    int n = 0;
    if (e->batch)
        n = snprintf(e->buf, e->cap, "item %zu: ", e->index);
    if (n < 0 || (size_t)n >= e->cap)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + n, e->cap - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

static char *dup_str(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static void item_deinit(hr_pub_item *it)
{
    if (it->channels != NULL)
        for (size_t i = 0; i < it->n_channels; i++)
            free(it->channels[i]);
    free(it->channels);
    free(it->data);
    memset(it, 0, sizeof *it);
}

static int add_channel(hr_pub_item *it, json_t *name)
{
    const char *s = json_string_value(name);
    for (size_t i = 0; i < it->n_channels; i++)
        if (strcmp(it->channels[i], s) == 0)
            return 0;
    it->channels[it->n_channels] = dup_str(s, json_string_length(name));
    if (it->channels[it->n_channels] == NULL)
        return HR_ENOMEM;
    it->n_channels++;
    return 0;
}

static bool is_channel(json_t *v)
{
    return json_is_string(v) && hr_channel_is_valid(json_string_value(v), json_string_length(v));
}

/* Validates the channel fields of obj; on success returns the names as an
 * array (a new reference in *names). */
static int check_channels(json_t *obj, perr *e, json_t **names)
{
    json_t *one = json_object_get(obj, "channel");
    json_t *many = json_object_get(obj, "channels");
    if (one != NULL && many != NULL)
        return fail(e, HR_EINVAL, "give either \"channel\" or \"channels\", not both");
    if (one == NULL && many == NULL)
        return fail(e, HR_EINVAL, "missing \"channel\" or \"channels\"");
    if (one != NULL) {
        if (!is_channel(one))
            return fail(e, HR_EINVAL, "\"channel\" is not a valid channel name");
        *names = json_pack("[O]", one);
        return *names == NULL ? HR_ENOMEM : 0;
    }
    const size_t n = json_array_size(many);
    if (!json_is_array(many) || n == 0)
        return fail(e, HR_EINVAL, "\"channels\" must be a non-empty array of channel names");
    if (n > HR_PUBLISH_MAX_CHANNELS)
        return fail(e, HR_EINVAL, "more than %d channels", HR_PUBLISH_MAX_CHANNELS);
    for (size_t i = 0; i < n; i++)
        if (!is_channel(json_array_get(many, i)))
            return fail(e, HR_EINVAL, "channels[%zu] is not a valid channel name", i);
    *names = json_incref(many);
    return 0;
}

static int fill_item(json_t *names, json_t *data, hr_pub_item *it)
{
    it->channels = calloc(json_array_size(names), sizeof *it->channels);
    if (it->channels == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < json_array_size(names); i++)
        if (add_channel(it, json_array_get(names, i)) < 0)
            return HR_ENOMEM;
    it->data = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (it->data == NULL)
        return HR_ENOMEM;
    it->data_len = strlen(it->data);
    return 0;
}

static int parse_item(json_t *obj, perr *e, hr_pub_item *it)
{
    if (!json_is_object(obj))
        return fail(e, HR_EINVAL, "must be a JSON object");
    json_t *names = NULL;
    int rc = check_channels(obj, e, &names);
    if (rc < 0)
        return rc;
    json_t *data = json_object_get(obj, "data");
    if (data == NULL)
        rc = fail(e, HR_EINVAL, "missing \"data\"");
    else
        rc = fill_item(names, data, it);
    json_decref(names);
    if (rc < 0)
        item_deinit(it);
    return rc;
}

static int parse_root(json_t *root, size_t max_items, perr *e, hr_pub_batch *out)
{
    out->is_batch = json_is_array(root);
    e->batch = out->is_batch;
    const size_t n = out->is_batch ? json_array_size(root) : 1;
    if (n == 0)
        return fail(e, HR_EINVAL, "empty batch");
    if (n > max_items)
        return fail(e, HR_ETOOBIG, "more than %zu items in one request", max_items);
    out->items = calloc(n, sizeof *out->items);
    if (out->items == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        e->index = i;
        const int rc =
            parse_item(out->is_batch ? json_array_get(root, i) : root, e, &out->items[i]);
        if (rc < 0)
            return rc;
        out->n_items++;
    }
    return 0;
}

int hr_publish_parse(const uint8_t *body, size_t len, size_t max_items, hr_pub_batch *out,
                     char *errbuf, size_t errcap)
{
    memset(out, 0, sizeof *out);
    perr e = {.buf = errbuf, .cap = errcap};
    if (errbuf != NULL && errcap > 0)
        errbuf[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return fail(&e, HR_EINVAL, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
    const int rc = parse_root(root, max_items, &e, out);
    json_decref(root);
    if (rc < 0)
        hr_publish_batch_deinit(out);
    return rc;
}

void hr_publish_batch_deinit(hr_pub_batch *b)
{
    if (b == NULL)
        return;
    if (b->items != NULL)
        for (size_t i = 0; i < b->n_items; i++)
            item_deinit(&b->items[i]);
    free(b->items);
    memset(b, 0, sizeof *b);
}

/* ---- reply bodies ---- */

static int finish(json_t *obj, bool ok, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (obj == NULL)
        return HR_ENOMEM;
    char *s = ok ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!ok)
        return HR_EINVAL;
    if (s == NULL)
        return HR_ENOMEM;
    *out = s;
    *out_len = strlen(s);
    return 0;
}

static bool id_ok(const char *id)
{
    return id != NULL && hr_cproto_id_is_valid(id, strlen(id));
}

int hr_publish_write_id(const char *id, char **out, size_t *out_len)
{
    json_t *o = json_object();
    const bool ok = o != NULL && id_ok(id) && json_object_set_new(o, "id", json_string(id)) == 0;
    return finish(o, ok, out, out_len);
}

int hr_publish_write_ids(const char *const *ids, size_t n, char **out, size_t *out_len)
{
    json_t *arr = json_array();
    bool ok = arr != NULL && (ids != NULL || n == 0);
    for (size_t i = 0; ok && i < n; i++)
        ok = id_ok(ids[i]) && json_array_append_new(arr, json_string(ids[i])) == 0;
    if (!ok) {
        json_decref(arr);
        *out = NULL;
        *out_len = 0;
        return arr == NULL ? HR_ENOMEM : HR_EINVAL;
    }
    json_t *o = json_object();
    /* json_object_set_new consumes arr even when it fails. */
    ok = o != NULL ? json_object_set_new(o, "ids", arr) == 0 : (json_decref(arr), false);
    return finish(o, ok, out, out_len);
}

int hr_publish_write_error(const char *code, const char *message, char **out, size_t *out_len)
{
    json_t *o = json_object();
    bool ok = o != NULL && code != NULL && message != NULL;
    ok = ok && json_object_set_new(o, "error", json_string(code)) == 0;
    ok = ok && json_object_set_new(o, "message", json_string(message)) == 0;
    return finish(o, ok, out, out_len);
}

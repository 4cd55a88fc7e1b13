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
#include "core/alloc.h"
#include "core/err.h"
#include "json_mem.h"
#include "cproto.h"
#include "utf8.h"

/* Where a failure message goes: the caller's buffer plus the item prefix. */
typedef struct perr {
    char *buf;
    size_t cap;
    bool batch;
    size_t index;
} perr;

__attribute__((format(printf, 3, 4))) static int fail(perr *e, int code, const char *fmt, ...)
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
    (void)vsnprintf(e->buf + n, e->cap - (size_t)n, fmt, ap); /* truncation is fine */
    va_end(ap);
    return code;
}

/* ---- raw spans ----
 * "data" is passed on as the publisher wrote it (numbers keep their digits:
 * 0.1 stays 0.1, where a jansson round trip would print 0.10000000000000001),
 * with insignificant whitespace removed. These scanners run only over text
 * that jansson has already accepted, so they trust its structure but still
 * never read past len; if they disagree with jansson we fall back to
 * json_dumps. A position of len means "not found". */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

/* i is at an opening quote; returns the index after the closing one. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Returns the index just after the value starting at i. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (s[i] == '"')
        return skip_string(s, len, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < len && !is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < len) {
        if (s[i] == '"') {
            i = skip_string(s, len, i);
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return len;
}

/* Value of the 4 hex digits at p (validated by jansson already), or -1. */
static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = p[i];
        const int d = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* True when the raw key s[a..b) (quotes included) decodes to "data": each
 * letter literal or as a \uXXXX escape (no other escape yields a letter).
 * Decoded by hand: no allocation, and no jansson load, whose lexer aborts
 * on allocation failure (akheron/jansson#362). */
static bool key_is_data(const char *s, size_t a, size_t b)
{
    static const char want[] = "data";
    if (b - a < 2)
        return false;
    const size_t end = b - 1; /* the closing quote */
    size_t i = a + 1;
    for (size_t k = 0; k < 4; k++) {
        if (i < end && s[i] == want[k]) {
            i++;
            continue;
        }
        if (end - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2) != want[k])
            return false;
        i += 6;
    }
    return i == end;
}

/* Finds the "data" member of the object at i; stores its value span. */
static bool find_data(const char *s, size_t len, size_t i, size_t *vs, size_t *ve)
{
    i = skip_ws(s, len, i);
    if (i >= len || s[i] != '{')
        return false;
    for (i = skip_ws(s, len, i + 1); i < len && s[i] == '"';) {
        const size_t ks = i;
        const size_t ke = skip_string(s, len, i);
        i = skip_ws(s, len, ke);
        if (i >= len || s[i] != ':')
            return false;
        i = skip_ws(s, len, i + 1);
        const size_t v_end = skip_value(s, len, i);
        if (key_is_data(s, ks, ke)) {
            *vs = i;
            *ve = v_end;
            return v_end > i;
        }
        i = skip_ws(s, len, v_end);
        if (i < len && s[i] == ',')
            i = skip_ws(s, len, i + 1);
    }
    return false;
}

/* Copies s[a..b) without whitespace outside strings; NUL-terminated. */
static char *compact_copy(const char *s, size_t a, size_t b, size_t *out_len)
{
    char *d = hr_malloc(b - a + 1);
    if (d == NULL)
        return NULL;
    size_t n = 0;
    bool in_str = false;
    for (size_t i = a; i < b; i++) {
        const char c = s[i];
        if (in_str && c == '\\' && i + 1 < b) {
            d[n++] = c;
            d[n++] = s[++i];
            continue;
        }
        if (c == '"')
            in_str = !in_str;
        if (in_str || !is_ws(c))
            d[n++] = c;
    }
    d[n] = '\0';
    *out_len = n;
    return d;
}

/* A cursor over the raw body: pos is where the current item starts. */
typedef struct raw {
    const char *s;
    size_t len;
    size_t pos;
} raw;

static void raw_start(raw *r, bool is_batch)
{
    r->pos = skip_ws(r->s, r->len, 0);
    if (is_batch && r->pos < r->len)
        r->pos = skip_ws(r->s, r->len, r->pos + 1);
}

static void raw_next(raw *r)
{
    r->pos = skip_ws(r->s, r->len, skip_value(r->s, r->len, r->pos));
    if (r->pos < r->len && r->s[r->pos] == ',')
        r->pos = skip_ws(r->s, r->len, r->pos + 1);
}

/* The item's data text: the publisher's bytes compacted, or jansson's. */
static char *data_text(const raw *r, json_t *data, size_t *out_len)
{
    size_t vs = 0, ve = 0;
    const unsigned long failures = hr_alloc_failures();
    if (find_data(r->s, r->len, r->pos, &vs, &ve))
        return compact_copy(r->s, vs, ve, out_len);
    if (hr_alloc_failures() != failures)
        return NULL; /* decoding an escaped key ran out of memory: no fallback */
    char *d = hr_json_mem_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (d != NULL)
        *out_len = strlen(d);
    return d;
}

static void item_deinit(hr_pub_item *it)
{
    if (it->channels != NULL)
        for (size_t i = 0; i < it->n_channels; i++)
            hr_free(it->channels[i]);
    hr_free(it->channels);
    hr_free(it->data);
    hr_free(it->event);
    hr_free(it->exclude);
    memset(it, 0, sizeof *it);
}

/* Duplicate channel names are found with a pairwise scan for short lists
 * and an open-addressing set over the names (in the parsed JSON) for long
 * ones: a pairwise scan of HR_PUBLISH_MAX_CHANNELS names per item made a
 * 1 MiB body cost a third of a second of the event loop. */
#define SHORT_LIST 16
#define SET_SLOTS ((size_t)2 * HR_PUBLISH_MAX_CHANNELS) /* a power of two, load <= 1/2 */

/* True when name was not in the set yet (it is now). */
static bool set_insert(const char **slots, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = name; *c != '\0'; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    for (size_t i = h & (SET_SLOTS - 1);; i = (i + 1) & (SET_SLOTS - 1)) {
        if (slots[i] == NULL) {
            slots[i] = name;
            return true;
        }
        if (strcmp(slots[i], name) == 0)
            return false;
    }
}

static bool listed(const hr_pub_item *it, const char *name)
{
    for (size_t i = 0; i < it->n_channels; i++)
        if (strcmp(it->channels[i], name) == 0)
            return true;
    return false;
}

/* Copies the distinct names of the array (valid, at most
 * HR_PUBLISH_MAX_CHANNELS) into it->channels, first occurrences in order. */
static int add_channels(hr_pub_item *it, json_t *names)
{
    const size_t n = json_array_size(names);
    const char **slots = NULL;
    if (n > SHORT_LIST) {
        slots = hr_calloc(SET_SLOTS, sizeof *slots);
        if (slots == NULL)
            return HR_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *name = json_array_get(names, i);
        const char *s = json_string_value(name);
        if (slots != NULL ? !set_insert(slots, s) : listed(it, s))
            continue;
        it->channels[it->n_channels] = hr_strndup(s, json_string_length(name));
        if (it->channels[it->n_channels] == NULL)
            rc = HR_ENOMEM;
        else
            it->n_channels++;
    }
    hr_free(slots);
    return rc;
}

/* Checks one channel value; on failure writes why into e, naming it what
 * ("\"channel\"", "channels[2]"). */
static int check_channel(json_t *v, const char *what, perr *e)
{
    if (!json_is_string(v))
        return fail(e, HR_EINVAL, "%s is not a string (names match %s)", what, HR_CHANNEL_RULE);
    if (hr_channel_is_valid(json_string_value(v), json_string_length(v)))
        return 0;
    char why[HR_CHANNEL_EXPLAIN_CAP];
    hr_channel_explain(json_string_value(v), json_string_length(v), why, sizeof why);
    return fail(e, HR_EINVAL, "%s is not a valid channel name: %s", what, why);
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
        if (check_channel(one, "\"channel\"", e) != 0)
            return HR_EINVAL;
        *names = json_pack("[O]", one);
        return *names == NULL ? HR_ENOMEM : 0;
    }
    const size_t n = json_array_size(many);
    if (!json_is_array(many) || n == 0)
        return fail(e, HR_EINVAL, "\"channels\" must be a non-empty array of channel names");
    if (n > HR_PUBLISH_MAX_CHANNELS)
        return fail(e, HR_EINVAL, "more than %d channels", HR_PUBLISH_MAX_CHANNELS);
    for (size_t i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "channels[%zu]", i);
        if (check_channel(json_array_get(many, i), what, e) != 0)
            return HR_EINVAL;
    }
    *names = json_incref(many);
    return 0;
}

static int fill_item(json_t *names, json_t *data, const raw *r, hr_pub_item *it)
{
    it->channels = hr_calloc(json_array_size(names), sizeof *it->channels);
    if (it->channels == NULL)
        return HR_ENOMEM;
    if (add_channels(it, names) < 0)
        return HR_ENOMEM;
    it->data = data_text(r, data, &it->data_len);
    return it->data == NULL ? HR_ENOMEM : 0;
}

static int parse_item(json_t *obj, const raw *r, perr *e, hr_pub_item *it)
{
    if (!json_is_object(obj))
        return fail(e, HR_EINVAL, "must be a JSON object");
    json_t *names = NULL;
    int rc = check_channels(obj, e, &names);
    if (rc < 0)
        return rc;
    json_t *data = json_object_get(obj, "data");
    json_t *event = json_object_get(obj, "event");
    if (data == NULL)
        rc = fail(e, HR_EINVAL, "missing \"data\"");
    else if (event != NULL &&
             (!json_is_string(event) ||
              !hr_event_name_is_valid(json_string_value(event), json_string_length(event))))
        rc = fail(e, HR_EINVAL,
                  "\"event\" must be a string of 1 to %d bytes without control "
                  "characters",
                  HR_PUBLISH_EVENT_MAX);
    else
        rc = fill_item(names, data, r, it);
    if (rc == 0 && event != NULL) {
        it->event_len = json_string_length(event);
        it->event = hr_strndup(json_string_value(event), it->event_len);
        rc = it->event == NULL ? HR_ENOMEM : 0;
    }
    json_decref(names);
    if (rc < 0)
        item_deinit(it);
    return rc;
}

static int parse_root(json_t *root, raw *r, size_t max_items, perr *e, hr_pub_batch *out)
{
    out->is_batch = json_is_array(root);
    const size_t n = out->is_batch ? json_array_size(root) : 1;
    if (n == 0)
        return fail(e, HR_EINVAL, "empty batch");
    if (n > max_items)
        return fail(e, HR_ETOOBIG, "too many items: at most %zu per request", max_items);
    e->batch = out->is_batch;
    out->items = hr_calloc(n, sizeof *out->items);
    if (out->items == NULL)
        return HR_ENOMEM;
    raw_start(r, out->is_batch);
    for (size_t i = 0; i < n; i++, raw_next(r)) {
        e->index = i;
        const int rc =
            parse_item(out->is_batch ? json_array_get(root, i) : root, r, e, &out->items[i]);
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
    /* RFC 8259 has no raw NUL anywhere; jansson lets one slip after a number. */
    if (len > 0 && memchr(body, '\0', len) != NULL)
        return fail(&e, HR_EINVAL, "invalid JSON: NUL byte");
    json_error_t jerr;
    bool oom;
    /* Integers beyond 64 bits are accepted: data is passed on verbatim. */
    /* JSON_ALLOW_NUL: "\u0000" is a valid escape (RFC 8259); strings are
     * checked by length, never as C strings, and data passes on verbatim. */
    json_t *root = hr_json_mem_loadb(
        (const char *)body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
        &jerr, &oom);
    if (root == NULL && oom)
        return HR_ENOMEM;
    if (root == NULL)
        return fail(&e, HR_EINVAL, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
    raw r = {.s = (const char *)body, .len = len};
    const int rc = parse_root(root, &r, max_items, &e, out);
    json_decref(root);
    if (rc < 0)
        hr_publish_batch_deinit(out);
    return rc;
}

int hr_publish_normalize_data(const char *text, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (text == NULL || len == 0 || memchr(text, '\0', len) != NULL)
        return HR_EINVAL;
    bool oom;
    json_t *v = hr_json_mem_loadb(
        text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL, &oom);
    if (v == NULL)
        return oom ? HR_ENOMEM : HR_EINVAL;
    json_decref(v);
    size_t end = len;
    while (end > 0 && is_ws(text[end - 1]))
        end--;
    *out = compact_copy(text, skip_ws(text, len, 0), end, out_len);
    return *out == NULL ? HR_ENOMEM : 0;
}

void hr_publish_batch_deinit(hr_pub_batch *b)
{
    if (b == NULL)
        return;
    if (b->items != NULL)
        for (size_t i = 0; i < b->n_items; i++)
            item_deinit(&b->items[i]);
    hr_free(b->items);
    memset(b, 0, sizeof *b);
}

/* ---- reply bodies ----
 * Inputs are validated before anything is built, so that a failure while
 * building can only mean that memory ran out. */

static int refuse(char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    return HR_EINVAL;
}

static bool id_ok(const char *id)
{
    return id != NULL && hr_cproto_id_is_valid(id, strlen(id));
}

static bool utf8_ok(const char *s)
{
    return s != NULL && hr_utf8_valid((const uint8_t *)s, strlen(s));
}

int hr_publish_write_id(const char *id, char **out, size_t *out_len)
{
    if (!id_ok(id))
        return refuse(out, out_len);
    json_t *o = json_object();
    const bool ok = o != NULL && json_object_set_new(o, "id", json_string(id)) == 0;
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_publish_write_ids(const char *const *ids, size_t n, char **out, size_t *out_len)
{
    if (ids == NULL && n > 0)
        return refuse(out, out_len);
    for (size_t i = 0; i < n; i++)
        if (!id_ok(ids[i]))
            return refuse(out, out_len);
    json_t *o = json_object();
    json_t *arr = json_array();
    /* json_object_set_new consumes arr even when it fails. */
    bool ok = o != NULL && arr != NULL && json_object_set_new(o, "ids", json_incref(arr)) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_array_append_new(arr, json_string(ids[i])) == 0;
    json_decref(arr);
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

int hr_publish_write_error(const char *code, const char *message, char **out, size_t *out_len)
{
    if (!utf8_ok(code) || !utf8_ok(message))
        return refuse(out, out_len);
    json_t *o = json_object();
    bool ok = o != NULL;
    ok = ok && json_object_set_new(o, "error", json_string(code)) == 0;
    ok = ok && json_object_set_new(o, "message", json_string(message)) == 0;
    return hr_json_mem_dump_reply(o, ok, out, out_len);
}

bool hr_publish_exclude_is_valid(const char *s, size_t len)
{
    if (s == NULL || len < 3 || len > HR_PUBLISH_EXCLUDE_MAX)
        return false;
    size_t dots = 0, at = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            dots++;
            at = i;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return dots == 1 && at > 0 && at < len - 1;
}

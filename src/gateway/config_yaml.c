/* The schema walker: typed reads of libyaml nodes with one diagnostic
 * format. Nothing here knows the gateway's keys; config.c holds the schema.
 * Positions come from libyaml's start marks (0-based) and are printed
 * 1-based, the column last so "file:line: path:" stays greppable. */
#include "config_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int vfail(gw_yaml *y, gw_yaml_mark at, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int vfail(gw_yaml *y, gw_yaml_mark at, const char *path, const char *fmt, va_list ap)
{
    char what[320];
    vsnprintf(what, sizeof what, fmt, ap);
    const int line = at.line > 0 ? at.line : 1;
    char col[32] = "";
    if (at.col > 0)
        snprintf(col, sizeof col, " (column %d)", at.col);
    if (path != NULL && path[0] != '\0')
        snprintf(y->msg, y->msg_cap, "%s:%d: %s: %s%s", y->file, line, path, what, col);
    else
        snprintf(y->msg, y->msg_cap, "%s:%d: %s%s", y->file, line, what, col);
    return HR_EINVAL;
}

int gw_yaml_fail_at(gw_yaml *y, gw_yaml_mark at, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int rc = vfail(y, at, path, fmt, ap);
    va_end(ap);
    return rc;
}

int gw_yaml_fail(gw_yaml *y, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int rc = vfail(y, gw_yaml_mark_of(n), path, fmt, ap);
    va_end(ap);
    return rc;
}

int gw_yaml_oom(gw_yaml *y)
{
    y->nomem = true;
    snprintf(y->msg, y->msg_cap, "%s: out of memory", y->file);
    return HR_ENOMEM;
}

gw_yaml_mark gw_yaml_mark_of(const yaml_node_t *n)
{
    if (n == NULL)
        return (gw_yaml_mark){0, 0};
    return (gw_yaml_mark){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
}

yaml_node_t *gw_yaml_item(gw_yaml *y, const yaml_node_t *seq, size_t i)
{
    return yaml_document_get_node(y->doc, seq->data.sequence.items.start[i]);
}

size_t gw_yaml_len(const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (n->type == YAML_MAPPING_NODE)
        return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    return 0;
}

void gw_yaml_join(char *out, const char *parent, const char *key)
{
    size_t o = strnlen(parent, GW_YAML_PATH_CAP - 1);
    memmove(out, parent, o);
    if (o > 0 && o < GW_YAML_PATH_CAP - 1)
        out[o++] = '.';
    const size_t kl = strnlen(key, GW_YAML_PATH_CAP - 1 - o);
    memcpy(out + o, key, kl);
    out[o + kl] = '\0';
}

void gw_yaml_index(char *out, const char *parent, size_t i)
{
    snprintf(out, GW_YAML_PATH_CAP, "%.*s[%zu]", GW_YAML_PATH_CAP - 24, parent, i);
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "empty";
    }
}

/* ---- scalars ------------------------------------------------------------ */

bool gw_yaml_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static bool is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (n->data.scalar.length == 0 || gw_yaml_is(n, "null") || gw_yaml_is(n, "~"));
}

int gw_yaml_scalar(gw_yaml *y, const yaml_node_t *n, const char *path)
{
    if (n->type != YAML_SCALAR_NODE)
        return gw_yaml_fail(y, n, path, "expected a scalar, got %s", type_name(n));
    return 0;
}

int gw_yaml_str(gw_yaml *y, const yaml_node_t *n, const char *path, char **out)
{
    int rc = gw_yaml_scalar(y, n, path);
    if (rc != 0)
        return rc;
    const size_t len = n->data.scalar.length;
    if (len == 0 || is_null(n))
        return gw_yaml_fail(y, n, path, "expected a non-empty string");
    if (len > GW_YAML_MAX_TEXT)
        return gw_yaml_fail(y, n, path, "string longer than %d bytes", GW_YAML_MAX_TEXT);
    if (memchr(n->data.scalar.value, '\0', len) != NULL)
        return gw_yaml_fail(y, n, path, "string contains a NUL byte");
    char *s = malloc(len + 1);
    if (s == NULL)
        return gw_yaml_oom(y);
    memcpy(s, n->data.scalar.value, len);
    s[len] = '\0';
    free(*out);
    *out = s;
    return 0;
}

int gw_yaml_bool(gw_yaml *y, const yaml_node_t *n, const char *path, bool *out)
{
    int rc = gw_yaml_scalar(y, n, path);
    if (rc != 0)
        return rc;
    static const char *const yes[] = {"true", "yes", "on", "True", "TRUE", "Yes", "On"};
    static const char *const no[] = {"false", "no", "off", "False", "FALSE", "No", "Off"};
    for (size_t i = 0; i < HR_ARRAY_LEN(yes); i++) {
        if (gw_yaml_is(n, yes[i])) {
            *out = true;
            return 0;
        }
        if (gw_yaml_is(n, no[i])) {
            *out = false;
            return 0;
        }
    }
    return gw_yaml_fail(y, n, path, "expected true or false");
}

int gw_yaml_uint(gw_yaml *y, const yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
                 uint64_t *out)
{
    int rc = gw_yaml_scalar(y, n, path);
    if (rc != 0)
        return rc;
    const unsigned char *s = n->data.scalar.value;
    const size_t len = n->data.scalar.length;
    if (len == 0 || len > 20)
        return gw_yaml_fail(y, n, path, "expected an integer");
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return gw_yaml_fail(y, n, path, "expected an integer");
        const uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return gw_yaml_fail(y, n, path, "integer out of range");
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return gw_yaml_fail(y, n, path, "must be between %llu and %llu", (unsigned long long)min,
                            (unsigned long long)max);
    *out = v;
    return 0;
}

int gw_yaml_u32(gw_yaml *y, const yaml_node_t *n, const char *path, uint32_t min, uint32_t max,
                uint32_t *out)
{
    uint64_t v = 0;
    int rc = gw_yaml_uint(y, n, path, min, max, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

int gw_yaml_enum(gw_yaml *y, const yaml_node_t *n, const char *path, const char *const *names,
                 size_t n_names, const char *what, size_t *out)
{
    int rc = gw_yaml_scalar(y, n, path);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n_names; i++) {
        if (gw_yaml_is(n, names[i])) {
            *out = i;
            return 0;
        }
    }
    return gw_yaml_fail(y, n, path, "expected %s", what);
}

/* ---- collections -------------------------------------------------------- */

/* Copies a mapping key into key[cap], or fails on it. */
static int key_text(gw_yaml *y, const yaml_node_t *k, const yaml_node_t *map, const char *path,
                    char *key, size_t cap)
{
    if (k == NULL || k->type != YAML_SCALAR_NODE)
        return gw_yaml_fail(y, k != NULL ? k : map, path, "keys must be scalars");
    const size_t kl = k->data.scalar.length;
    if (kl == 0 || kl >= cap || memchr(k->data.scalar.value, '\0', kl) != NULL)
        return gw_yaml_fail(y, k, path, "bad key");
    memcpy(key, k->data.scalar.value, kl);
    key[kl] = '\0';
    return 0;
}

static bool is_known(const char *const *keys, const char *key)
{
    if (keys == NULL)
        return true;
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(keys[i], key) == 0)
            return true;
    return false;
}

int gw_yaml_map(gw_yaml *y, yaml_node_t *map, const char *path, const char *const *keys,
                gw_yaml_visit_fn visit, void *arg)
{
    if (map->type != YAML_MAPPING_NODE)
        return gw_yaml_fail(y, map, path, "expected a mapping, got %s", type_name(map));
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, a->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, a->value);
        char key[96];
        int rc = key_text(y, k, map, path, key, sizeof key);
        if (rc != 0)
            return rc;
        if (v == NULL)
            return gw_yaml_fail(y, k, path, "bad value");
        if (!is_known(keys, key))
            return gw_yaml_fail(y, k, path, "unknown key '%s'", key);
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *k2 = yaml_document_get_node(y->doc, b->key);
            if (k2 != NULL && gw_yaml_is(k2, key))
                return gw_yaml_fail(y, k, path, "duplicate key '%s'", key);
        }
        char sub[GW_YAML_PATH_CAP];
        gw_yaml_join(sub, path, key);
        rc = visit(y, key, v, sub, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int gw_yaml_seq(gw_yaml *y, const yaml_node_t *n, const char *path, size_t max, size_t *count)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return gw_yaml_fail(y, n, path, "expected a list, got %s", type_name(n));
    *count = gw_yaml_len(n);
    if (*count > max)
        return gw_yaml_fail(y, n, path, "more than %zu entries", max);
    return 0;
}

int gw_yaml_str_list(gw_yaml *y, yaml_node_t *n, const char *path, size_t max, char ***out,
                     size_t *n_out)
{
    size_t count = 0;
    int rc = gw_yaml_seq(y, n, path, max, &count);
    if (rc != 0)
        return rc;
    char **v = calloc(count ? count : 1, sizeof *v);
    if (v == NULL)
        return gw_yaml_oom(y);
    *out = v;
    *n_out = 0;
    for (size_t i = 0; i < count; i++) {
        char sub[GW_YAML_PATH_CAP];
        gw_yaml_index(sub, path, i);
        rc = gw_yaml_str(y, gw_yaml_item(y, n, i), sub, &v[i]);
        if (rc != 0)
            return rc;
        *n_out = i + 1;
    }
    return 0;
}

/* ---- documents ---------------------------------------------------------- */

/* After the first document: anything but the end of the stream is refused. */
static int only_one(gw_yaml *y, yaml_parser_t *parser)
{
    yaml_document_t extra;
    if (!yaml_parser_load(parser, &extra))
        return 0; /* a syntax error after a valid document: as before, ignored */
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&extra);
    if (root != NULL)
        rc = gw_yaml_fail(y, root, NULL, "only one YAML document is allowed");
    yaml_document_delete(&extra);
    return rc;
}

static int load_doc(gw_yaml *y, yaml_parser_t *parser, gw_yaml_root_fn root_fn)
{
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc)) {
        if (parser->error == YAML_MEMORY_ERROR)
            return gw_yaml_oom(y);
        const gw_yaml_mark at = {(int)parser->problem_mark.line + 1,
                                 (int)parser->problem_mark.column + 1};
        return gw_yaml_fail_at(y, at, NULL, "YAML syntax: %s",
                               parser->problem ? parser->problem : "error");
    }
    y->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root == NULL ? gw_yaml_fail(y, NULL, NULL, "empty configuration") : root_fn(y, root);
    if (rc == 0)
        rc = only_one(y, parser);
    yaml_document_delete(&doc);
    y->doc = NULL;
    return rc;
}

int gw_yaml_load(gw_yaml *y, const char *text, size_t len, gw_yaml_root_fn root)
{
    y->nomem = false;
    if (y->msg_cap > 0)
        y->msg[0] = '\0';
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return gw_yaml_oom(y);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    const int rc = load_doc(y, &parser, root);
    yaml_parser_delete(&parser);
    return y->nomem ? HR_ENOMEM : rc;
}

/* gw_yaml: a schema walker over a libyaml document. libyaml composes the
 * text into a node tree (aliases resolved); a schema (config.c) then walks
 * that tree with these helpers, so the depth of the walk is fixed by the
 * schema and never by the input. Every mapping is checked for unknown and
 * duplicate keys, every scalar for its type and range; the first error
 * stops the walk and is written once as
 *
 *     file:line: key.path: problem (column N)
 *
 * where line and column are those of the offending node (a value, or the
 * key for key errors, or the mapping when something is missing from it).
 * Knows nothing about the gateway: no gw_config type appears here. */
#ifndef GW_CONFIG_YAML_H
#define GW_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define GW_YAML_PATH_CAP 160   /* longest key path kept ("routes[3].limits.x") */
#define GW_YAML_MAX_TEXT 4096  /* longest string value */

/* Where a node starts in the text, both 1-based; {0, 0} means "nowhere"
 * (the message then names line 1 and no column). */
typedef struct gw_yaml_mark {
    int line;
    int col;
} gw_yaml_mark;

/* One walk. The caller fills file, msg and msg_cap, and user for its own
 * state; doc is set by gw_yaml_load for the duration of the root callback.
 * nomem is set when an error was an allocation failure. */
typedef struct gw_yaml {
    yaml_document_t *doc;
    const char *file;
    char *msg;
    size_t msg_cap;
    bool nomem;
    void *user;
} gw_yaml;

/* Called with the root node of the one document (never NULL). */
typedef int (*gw_yaml_root_fn)(gw_yaml *y, yaml_node_t *root);

/* Parses text[0..len) as exactly one YAML document and calls root on it.
 * Returns root's result, 0, HR_EINVAL (msg says why: syntax, empty text, a
 * second document) or HR_ENOMEM. The node tree dies when this returns. */
int gw_yaml_load(gw_yaml *y, const char *text, size_t len, gw_yaml_root_fn root);

/* Writes the diagnostic for node n (or the mark at) and returns HR_EINVAL.
 * path may be NULL or "" for none. */
int gw_yaml_fail(gw_yaml *y, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gw_yaml_fail_at(gw_yaml *y, gw_yaml_mark at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Notes an allocation failure ("file: out of memory") and returns HR_ENOMEM. */
int gw_yaml_oom(gw_yaml *y);

gw_yaml_mark gw_yaml_mark_of(const yaml_node_t *n);
/* The i-th item of a sequence node (i below its length). */
yaml_node_t *gw_yaml_item(gw_yaml *y, const yaml_node_t *seq, size_t i);
size_t gw_yaml_len(const yaml_node_t *n); /* items or pairs; 0 for scalars */
/* out = parent + "." + key (or key alone), truncated to GW_YAML_PATH_CAP - 1. */
void gw_yaml_join(char *out, const char *parent, const char *key);
/* out = parent + "[i]". */
void gw_yaml_index(char *out, const char *parent, size_t i);

/* True when n is a scalar equal to s. */
bool gw_yaml_is(const yaml_node_t *n, const char *s);

/* Typed scalars. Each returns 0 and stores the value, or fails on n. */
int gw_yaml_scalar(gw_yaml *y, const yaml_node_t *n, const char *path);
/* A non-empty string without NUL bytes, at most GW_YAML_MAX_TEXT bytes; *out
 * (freed first when set) becomes a new heap copy owned by the caller. */
int gw_yaml_str(gw_yaml *y, const yaml_node_t *n, const char *path, char **out);
int gw_yaml_bool(gw_yaml *y, const yaml_node_t *n, const char *path, bool *out);
int gw_yaml_uint(gw_yaml *y, const yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
                 uint64_t *out);
int gw_yaml_u32(gw_yaml *y, const yaml_node_t *n, const char *path, uint32_t min, uint32_t max,
                uint32_t *out);
/* Matches n against names[0..n_names): stores the index, or fails with
 * "expected <what>". */
int gw_yaml_enum(gw_yaml *y, const yaml_node_t *n, const char *path, const char *const *names,
                 size_t n_names, const char *what, size_t *out);

/* Calls visit(y, key, value, path, arg) for each pair of a mapping after
 * checking that the key is a known, non-duplicate scalar. keys is
 * NULL-terminated; NULL keys means any key (a map of named entries). */
typedef int (*gw_yaml_visit_fn)(gw_yaml *y, const char *key, yaml_node_t *val, const char *path,
                                void *arg);
int gw_yaml_map(gw_yaml *y, yaml_node_t *map, const char *path, const char *const *keys,
                gw_yaml_visit_fn visit, void *arg);
/* Checks that n is a sequence of at most max items; stores the count. */
int gw_yaml_seq(gw_yaml *y, const yaml_node_t *n, const char *path, size_t max, size_t *count);
/* A sequence of strings: *out is a new array of *n_out heap strings owned by
 * the caller, also when an item fails (the first *n_out are set). */
int gw_yaml_str_list(gw_yaml *y, yaml_node_t *n, const char *path, size_t max, char ***out,
                     size_t *n_out);

#endif

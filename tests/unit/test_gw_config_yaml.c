/* Unit tests for the schema walker (src/gateway/config_yaml.c), apart from
 * any gateway schema: a tiny schema {name: str, port: 1..65535, on: bool,
 * tags: [str], mode: a|b, sub: {any: uint}} is walked over texts, and each
 * error is checked for its file, line, column and path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "gateway/config_yaml.h"

typedef struct toy {
    char *name;
    uint64_t port;
    bool on;
    char **tags;
    size_t n_tags;
    size_t mode;
    uint64_t sub_sum;
    size_t n_sub;
} toy;

static const char *const toy_keys[] = {"name", "port", "on", "tags", "mode", "sub", NULL};
static const char *const modes[] = {"a", "b"};

static int visit_sub(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    (void)key;
    toy *t = arg;
    uint64_t n = 0;
    int rc = gw_yaml_uint(y, v, path, 0, 1000, &n);
    t->sub_sum += n;
    t->n_sub++;
    return rc;
}

static int visit_toy(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    toy *t = arg;
    if (strcmp(key, "name") == 0)
        return gw_yaml_str(y, v, path, &t->name);
    if (strcmp(key, "port") == 0)
        return gw_yaml_uint(y, v, path, 1, 65535, &t->port);
    if (strcmp(key, "on") == 0)
        return gw_yaml_bool(y, v, path, &t->on);
    if (strcmp(key, "tags") == 0)
        return gw_yaml_str_list(y, v, path, 3, &t->tags, &t->n_tags);
    if (strcmp(key, "mode") == 0)
        return gw_yaml_enum(y, v, path, modes, 2, "a or b", &t->mode);
    return gw_yaml_map(y, v, path, NULL, visit_sub, t);
}

static int root_toy(gw_yaml *y, yaml_node_t *root)
{
    return gw_yaml_map(y, root, "", toy_keys, visit_toy, y->user);
}

static void toy_free(toy *t)
{
    free(t->name);
    for (size_t i = 0; i < t->n_tags; i++)
        free(t->tags[i]);
    free(t->tags);
    memset(t, 0, sizeof *t);
}

static char msg[512];

/* Walks an exactly sized heap copy so ASan sees any over-read. */
static int walk(const char *text, toy *t)
{
    memset(t, 0, sizeof *t);
    const size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, text, n);
    gw_yaml y = {.file = "t.yaml", .msg = msg, .msg_cap = sizeof msg, .user = t};
    const int rc = gw_yaml_load(&y, copy, n, root_toy);
    free(copy);
    return rc;
}

static void expect(const char *text, const char *want)
{
    toy t;
    const int rc = walk(text, &t);
    toy_free(&t);
    if (rc != HR_EINVAL || strcmp(msg, want) != 0)
        fail_msg("want \"%s\", got rc=%d \"%s\"", want, rc, msg);
}

static void test_walk_ok(void **state)
{
    (void)state;
    toy t;
    assert_int_equal(walk("name: x\nport: 80\non: yes\ntags: [p, q]\nmode: b\nsub: {u: 1, v: 2}\n",
                          &t),
                     0);
    assert_string_equal(t.name, "x");
    assert_int_equal(t.port, 80);
    assert_true(t.on);
    assert_int_equal(t.n_tags, 2);
    assert_string_equal(t.tags[1], "q");
    assert_int_equal(t.mode, 1);
    assert_int_equal(t.n_sub, 2);
    assert_int_equal(t.sub_sum, 3);
    assert_string_equal(msg, "");
    toy_free(&t);
}

static void test_walk_keys(void **state)
{
    (void)state;
    expect("name: x\ncolour: red\n", "t.yaml:2: unknown key 'colour' (column 1)");
    expect("name: x\nname: y\n", "t.yaml:2: duplicate key 'name' (column 1)");
    expect("sub: {a: 1, a: 2}\n", "t.yaml:1: sub: duplicate key 'a' (column 13)");
    expect("? [a]\n: 1\n", "t.yaml:1: keys must be scalars (column 3)");
    expect("- 1\n", "t.yaml:1: expected a mapping, got a list (column 1)");
}

static void test_walk_scalars(void **state)
{
    (void)state;
    expect("port: 0\n", "t.yaml:1: port: must be between 1 and 65535 (column 7)");
    expect("port: 8x\n", "t.yaml:1: port: expected an integer (column 7)");
    expect("port: -1\n", "t.yaml:1: port: expected an integer (column 7)");
    expect("port: 18446744073709551616\n", "t.yaml:1: port: integer out of range (column 7)");
    expect("port: [1]\n", "t.yaml:1: port: expected a scalar, got a list (column 7)");
    expect("on: maybe\n", "t.yaml:1: on: expected true or false (column 5)");
    expect("name: ''\n", "t.yaml:1: name: expected a non-empty string (column 7)");
    expect("name: ~\n", "t.yaml:1: name: expected a non-empty string (column 7)");
    expect("name: \"a\\0b\"\n", "t.yaml:1: name: string contains a NUL byte (column 7)");
    expect("mode:\n  c\n", "t.yaml:2: mode: expected a or b (column 3)");
}

static void test_walk_long_string(void **state)
{
    (void)state;
    char *text = malloc(GW_YAML_MAX_TEXT + 16);
    assert_non_null(text);
    memcpy(text, "name: ", 6);
    memset(text + 6, 'a', GW_YAML_MAX_TEXT + 1);
    text[6 + GW_YAML_MAX_TEXT + 1] = '\0';
    expect(text, "t.yaml:1: name: string longer than 4096 bytes (column 7)");
    free(text);
}

static void test_walk_lists(void **state)
{
    (void)state;
    expect("tags: x\n", "t.yaml:1: tags: expected a list, got a scalar (column 7)");
    expect("tags: [a, b, c, d]\n", "t.yaml:1: tags: more than 3 entries (column 7)");
    expect("tags:\n  - a\n  - {b: 1}\n", "t.yaml:3: tags[1]: expected a scalar, got a mapping "
                                          "(column 5)");
    toy t;
    assert_int_equal(walk("tags: [a, '']\n", &t), HR_EINVAL);
    assert_int_equal(t.n_tags, 1); /* the items read so far are owned and freed */
    toy_free(&t);
}

static void test_walk_documents(void **state)
{
    (void)state;
    expect("", "t.yaml:1: empty configuration");
    expect("name: [\n", "t.yaml:2: YAML syntax: did not find expected node content (column 1)");
    expect("name: x\n---\nname: y\n", "t.yaml:3: only one YAML document is allowed (column 1)");
    /* self-referencing aliases end: the walk follows the schema */
    expect("sub: &s {a: *s}\n", "t.yaml:1: sub.a: expected a scalar, got a mapping (column 6)");
}

static void test_walk_paths(void **state)
{
    (void)state;
    char out[GW_YAML_PATH_CAP];
    gw_yaml_join(out, "", "a");
    assert_string_equal(out, "a");
    gw_yaml_join(out, "a", "b");
    assert_string_equal(out, "a.b");
    gw_yaml_index(out, "a.b", 12);
    assert_string_equal(out, "a.b[12]");
    char longp[GW_YAML_PATH_CAP + 40];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    gw_yaml_join(out, longp, "key");
    assert_int_equal(strlen(out), GW_YAML_PATH_CAP - 1);
    gw_yaml_index(out, longp, 7);
    assert_true(strlen(out) < GW_YAML_PATH_CAP);
    assert_non_null(strstr(out, "[7]"));
}

static void test_walk_fail_at(void **state)
{
    (void)state;
    gw_yaml y = {.file = "f.yaml", .msg = msg, .msg_cap = sizeof msg};
    assert_int_equal(gw_yaml_fail_at(&y, (gw_yaml_mark){7, 3}, "a.b", "bad %d", 1), HR_EINVAL);
    assert_string_equal(msg, "f.yaml:7: a.b: bad 1 (column 3)");
    gw_yaml_fail_at(&y, (gw_yaml_mark){0, 0}, NULL, "nowhere");
    assert_string_equal(msg, "f.yaml:1: nowhere");
    assert_int_equal(gw_yaml_oom(&y), HR_ENOMEM);
    assert_true(y.nomem);
    assert_string_equal(msg, "f.yaml: out of memory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_ok),        cmocka_unit_test(test_walk_keys),
        cmocka_unit_test(test_walk_scalars),   cmocka_unit_test(test_walk_long_string),
        cmocka_unit_test(test_walk_lists),     cmocka_unit_test(test_walk_documents),
        cmocka_unit_test(test_walk_paths),     cmocka_unit_test(test_walk_fail_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* --script-test: the script engine (lib/script) driven by JSON lines, with
 * the same hook conventions the gateway applies, and the event message
 * built by the same encoder the notifier uses, so what this prints is what
 * a route's clients would receive. */
#include "script_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/cproto.h"
#include "script/script.h"
#include "script/script_hooks.h"

/* Largest script file read. */
#define SCRIPT_FILE_MAX (4u << 20)
/* Distinct conn ids kept (their conn.state persists between lines). */
#define CONNS_MAX 256

typedef struct conn_slot {
    char *id;
    hr_script_conn conn;
} conn_slot;

typedef struct tester {
    hr_script_vm *vm;
    hr_script *s;
    conn_slot conns[CONNS_MAX];
    size_t n_conns;
    FILE *err;
} tester;

static void on_log(void *ctx, const char *script, const char *level, const char *text, size_t len)
{
    tester *t = ctx;
    fprintf(t->err, "%s: log %s: %.*s\n", script, level, (int)len, text);
}

static char *read_file(const char *path, size_t *len, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SCRIPT_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, SCRIPT_FILE_MAX + 1, f) : 0;
    const bool bad = buf == NULL || ferror(f) || n > SCRIPT_FILE_MAX;
    fclose(f);
    if (bad) {
        fprintf(err, "%s: cannot read (larger than %u bytes?)\n", path, SCRIPT_FILE_MAX);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The conn for info (by its "id"; a new one per line without an id). */
static hr_script_conn *conn_for(tester *t, json_t *info, hr_script_conn *scratch)
{
    if (!json_is_object(info))
        info = NULL;
    json_t *empty = json_object();
    const char *id = json_string_value(json_object_get(info, "id"));
    for (size_t i = 0; id != NULL && i < t->n_conns; i++)
        if (strcmp(t->conns[i].id, id) == 0) {
            json_decref(empty);
            return &t->conns[i].conn;
        }
    hr_script_conn *c = scratch;
    if (id != NULL && t->n_conns < CONNS_MAX) {
        t->conns[t->n_conns].id = strdup(id);
        if (t->conns[t->n_conns].id != NULL)
            c = &t->conns[t->n_conns++].conn;
    }
    const hr_script_status st = hr_script_hooks_conn_init(t->vm, info ? info : empty, c);
    json_decref(empty);
    if (st != HR_SCRIPT_OK && c != scratch)
        free(t->conns[--t->n_conns].id);
    return st == HR_SCRIPT_OK ? c : NULL;
}

static void put_status(json_t *o, hr_script_status st, const tester *t)
{
    json_object_set_new(o, "result", json_string(hr_script_status_name(st)));
    if (st != HR_SCRIPT_OK)
        json_object_set_new(o, "error", json_string(hr_script_vm_error(t->vm)));
}

/* Bytes as a JSON string (lossy for invalid UTF-8: binary is for tests). */
static json_t *bytes(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    return s != NULL ? s : json_string("<not UTF-8>");
}

static void run_connect(tester *t, json_t *line, json_t *o)
{
    json_t *req = json_object_get(line, "req");
    json_t *empty = json_object();
    hr_script_connect r;
    const hr_script_status st = hr_script_hooks_on_connect(t->s, req ? req : empty, &r);
    json_decref(empty);
    put_status(o, st, t);
    if (st != HR_SCRIPT_OK)
        return;
    json_object_set_new(o, "accept", json_boolean(r.accept));
    if (!r.accept) {
        json_object_set_new(o, "http_status", json_integer(r.status));
        if (r.text != NULL)
            json_object_set_new(o, "text", json_string(r.text));
    }
    if (r.headers != NULL)
        json_object_set(o, "headers", r.headers);
    hr_script_connect_deinit(&r);
}

static const char *ACTIONS[] = {"forward", "drop", "reply", "close"};

static int message_in(json_t *msg, hr_script_msg *m, char **owned)
{
    *owned = NULL;
    json_t *text = json_object_get(msg, "text"), *bin = json_object_get(msg, "binary");
    json_t *data = json_object_get(msg, "data");
    if (json_is_string(text) || json_is_string(bin)) {
        json_t *s = json_is_string(text) ? text : bin;
        *m = (hr_script_msg){!json_is_string(text), json_string_value(s), json_string_length(s)};
        return 0;
    }
    if (data == NULL)
        return HR_EINVAL;
    *owned = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*owned == NULL)
        return HR_ENOMEM;
    *m = (hr_script_msg){false, *owned, strlen(*owned)};
    return 0;
}

static void run_message(tester *t, const char *hook, json_t *line, json_t *o)
{
    hr_script_msg m;
    char *owned = NULL;
    if (message_in(json_object_get(line, "msg"), &m, &owned) != 0) {
        json_object_set_new(o, "error", json_string("msg needs text, binary or data"));
        return;
    }
    hr_script_conn scratch = {0}, *c = conn_for(t, json_object_get(line, "conn"), &scratch);
    hr_script_verdict v;
    const hr_script_status st =
        c != NULL ? hr_script_hooks_on_message(t->s, hook, c, &m, &v) : HR_SCRIPT_MEMORY;
    put_status(o, st, t);
    if (st == HR_SCRIPT_OK) {
        json_object_set_new(o, "action", json_string(ACTIONS[v.action]));
        if (v.action == HR_SCRIPT_FORWARD)
            json_object_set_new(o, "changed", json_boolean(v.changed));
        if (v.action == HR_SCRIPT_FORWARD || v.action == HR_SCRIPT_REPLY) {
            const bool changed = v.action == HR_SCRIPT_REPLY || v.changed;
            const bool bin = changed ? v.binary : m.binary;
            json_object_set_new(o, bin ? "binary" : "text",
                                changed ? bytes(v.p, v.len) : bytes(m.p, m.len));
        }
        if (v.action == HR_SCRIPT_CLOSE) {
            json_object_set_new(o, "code", json_integer(v.close_code));
            json_object_set_new(o, "reason", json_string(v.reason));
        }
        hr_script_verdict_deinit(&v);
    }
    hr_script_hooks_conn_deinit(&scratch);
    free(owned);
}

static void run_view_key(tester *t, json_t *line, json_t *o)
{
    hr_script_conn scratch = {0}, *c = conn_for(t, json_object_get(line, "conn"), &scratch);
    char key[HR_SCRIPT_VIEW_KEY_MAX + 1];
    size_t len = 0;
    const hr_script_status st =
        c != NULL ? hr_script_hooks_view_key(t->s, c, key, &len) : HR_SCRIPT_MEMORY;
    put_status(o, st, t);
    if (st == HR_SCRIPT_OK)
        json_object_set_new(o, "key", bytes(key, len));
    hr_script_hooks_conn_deinit(&scratch);
}

/* The view key of an on_event line: "key", else view_key(conn), else "". */
static hr_script_status event_key(tester *t, json_t *line, char *key, size_t *len)
{
    json_t *k = json_object_get(line, "key");
    *len = 0;
    key[0] = '\0';
    if (json_is_string(k) && json_string_length(k) <= HR_SCRIPT_VIEW_KEY_MAX) {
        *len = json_string_length(k);
        memcpy(key, json_string_value(k), *len + 1);
        return HR_SCRIPT_OK;
    }
    if (json_object_get(line, "conn") == NULL)
        return HR_SCRIPT_OK;
    hr_script_conn scratch = {0}, *c = conn_for(t, json_object_get(line, "conn"), &scratch);
    const hr_script_status st =
        c != NULL ? hr_script_hooks_view_key(t->s, c, key, len) : HR_SCRIPT_MEMORY;
    hr_script_hooks_conn_deinit(&scratch);
    return st;
}

/* The event message clients receive: the notifier's encoder. */
static json_t *event_message(const char *ch, const char *id, const char *data, size_t dlen)
{
    const int need = hr_cproto_write_event(NULL, 0, ch, strlen(ch), id, strlen(id), data, dlen);
    if (need < 0)
        return NULL;
    char *buf = malloc((size_t)need);
    if (buf == NULL)
        return NULL;
    hr_cproto_write_event(buf, (size_t)need, ch, strlen(ch), id, strlen(id), data, dlen);
    json_t *v = json_loadb(buf, (size_t)need, 0, NULL);
    free(buf);
    return v;
}

static void run_event(tester *t, json_t *line, json_t *o)
{
    json_t *ev = json_object_get(line, "event");
    const char *ch = json_string_value(json_object_get(ev, "channel"));
    const char *id = json_string_value(json_object_get(ev, "id"));
    json_t *data = json_object_get(ev, "data");
    char *dtext = data != NULL ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *orig = ch != NULL && id != NULL && dtext != NULL
                       ? event_message(ch, id, dtext, strlen(dtext))
                       : NULL;
    if (orig == NULL) {
        json_object_set_new(o, "error", json_string("event needs a valid channel, id and data"));
        free(dtext);
        return;
    }
    char key[HR_SCRIPT_VIEW_KEY_MAX + 1];
    size_t klen = 0;
    hr_script_status st = event_key(t, line, key, &klen);
    hr_script_event_out out = {0};
    if (st == HR_SCRIPT_OK)
        st = hr_script_hooks_on_event(t->s, ch, strlen(ch), id, strlen(id), dtext, strlen(dtext),
                                      key, klen, &out);
    put_status(o, st, t);
    if (st == HR_SCRIPT_OK) {
        json_object_set_new(o, "key", bytes(key, klen));
        json_object_set_new(o, "action", json_string(out.drop ? "drop" : "deliver"));
        json_object_set_new(o, "changed", json_boolean(out.changed));
        if (!out.drop)
            json_object_set_new(o, "event",
                                out.changed ? event_message(ch, id, out.data, out.data_len)
                                            : json_incref(orig));
        hr_script_event_out_deinit(&out);
    }
    json_decref(orig);
    free(dtext);
}

static void run_line(tester *t, json_t *line, json_t *o)
{
    const char *hook = json_string_value(json_object_get(line, "hook"));
    json_object_set_new(o, "hook", json_string(hook != NULL ? hook : ""));
    if (hook == NULL)
        json_object_set_new(o, "error", json_string("no \"hook\""));
    else if (strcmp(hook, "on_connect") == 0)
        run_connect(t, line, o);
    else if (strcmp(hook, "on_client_message") == 0 || strcmp(hook, "on_server_message") == 0)
        run_message(t, hook, line, o);
    else if (strcmp(hook, "view_key") == 0)
        run_view_key(t, line, o);
    else if (strcmp(hook, "on_event") == 0)
        run_event(t, line, o);
    else
        json_object_set_new(o, "error", json_string("unknown hook"));
}

static bool blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}

static int run_lines(tester *t, FILE *in, FILE *out)
{
    char *buf = NULL;
    size_t cap = 0;
    int status = 0;
    unsigned long n = 0;
    while (getline(&buf, &cap, in) >= 0) {
        n++;
        if (blank(buf))
            continue;
        json_error_t jerr;
        json_t *line = json_loads(buf, 0, &jerr);
        json_t *o = json_object();
        if (!json_is_object(line)) {
            json_object_set_new(o, "line", json_integer((json_int_t)n));
            json_object_set_new(o, "error",
                                json_string(line == NULL ? jerr.text : "a line must be an object"));
            status = 1;
        } else {
            run_line(t, line, o);
            if (json_object_get(o, "result") == NULL)
                status = 1;
        }
        char *text = json_dumps(o, JSON_COMPACT);
        fprintf(out, "%s\n", text != NULL ? text : "{\"error\":\"out of memory\"}");
        free(text);
        json_decref(o);
        json_decref(line);
    }
    free(buf);
    return status;
}

int gw_script_test_main(const char *path, FILE *in, FILE *out, FILE *err)
{
    size_t len = 0;
    char *text = read_file(path, &len, err);
    if (text == NULL)
        return 2;
    tester t = {.err = err};
    hr_script_config cfg = {.log = on_log, .log_ctx = &t};
    t.vm = hr_script_vm_new(&cfg);
    char msg[HR_SCRIPT_ERROR_CAP];
    int status = 2;
    if (t.vm == NULL)
        fprintf(err, "%s: out of memory\n", path);
    else if (hr_script_load(t.vm, path, text, len, &t.s, msg, sizeof msg) != 0)
        fprintf(err, "%s\n", msg);
    else
        status = run_lines(&t, in, out);
    for (size_t i = 0; i < t.n_conns; i++) {
        hr_script_hooks_conn_deinit(&t.conns[i].conn);
        free(t.conns[i].id);
    }
    hr_script_free(t.s);
    hr_script_vm_free(t.vm);
    free(text);
    return status;
}

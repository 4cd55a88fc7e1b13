/* The transformation layer of one gateway worker. Scripts are compiled into
 * the worker's single Lua state (lib/script) and found by route (host and
 * path): a gw_tconn remembers which generation it resolved its script in
 * and looks again after a reload, so a new script takes over a live
 * connection from its next message, and its view key is asked again.
 *
 * Events on their way down are parsed once per gw_upmsg (kept in m->ext)
 * and transformed once per (route, channel, id, view) in the views cache:
 * on_event runs once per event per view, however many connections and
 * frames. An unchanged result sends the original frame (GW_T_PASS), so an
 * identity script costs one call per view and no copy. */
#include "transform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/cproto.h"
#include "proto/percent.h"
#include "proto/ws_frame.h"
#include "script/script.h"
#include "script/script_hooks.h"
#include "views.h"

/* Cache shape: an event's copies reach a worker within seconds of each
 * other (other links, other proxied connections at their own pace); entries
 * live that long, bounded by count (views.h). */
#define VIEWS_CAPACITY 65536
#define VIEWS_AGE_MS 10000

enum { H_CONNECT, H_CLIENT, H_SERVER, H_VIEW, H_EVENT };

typedef struct tscript {
    char *key; /* "host|path" of its route */
    hr_script *s;
    gw_script_on_error on_error;
    size_t route; /* position in the loaded configuration (metrics) */
    bool has[GW_SCRIPT_HOOKS];
} tscript;

struct gw_transform {
    uv_check_t check;
    unsigned refs; /* the handle's (until closed) + one per gw_tconn */
    hr_script_vm *vm;
    tscript *scripts;
    size_t n_scripts;
    uint64_t gen;
    gw_views *views;
    gw_script_metrics *m;
    hr_ws_deflater *deflater;
};

struct gw_tconn {
    gw_transform *t;
    char *key;
    size_t idx;
    uint64_t gen;
    hr_script_conn conn;
    bool have_view;
    size_t vlen;
    char view[HR_SCRIPT_VIEW_KEY_MAX + 1];
};

/* ---- scripts and generations ---- */

static char *route_key(const gw_route_cfg *r)
{
    const size_t n = strlen(r->host ? r->host : "") + r->path_len + 2;
    char *k = malloc(n);
    if (k != NULL)
        snprintf(k, n, "%s|%s", r->host ? r->host : "", r->path);
    return k;
}

static void free_scripts(tscript *ts, size_t n)
{
    for (size_t i = 0; ts != NULL && i < n; i++) {
        hr_script_free(ts[i].s);
        free(ts[i].key);
    }
    free(ts);
}

static void release(gw_transform *t)
{
    if (--t->refs > 0)
        return;
    free_scripts(t->scripts, t->n_scripts);
    gw_views_free(t->views);
    hr_script_vm_free(t->vm);
    free(t);
}

static void on_check(uv_check_t *h)
{
    gw_transform *t = h->data;
    if (t->views != NULL)
        gw_views_end_turn(t->views, uv_now(h->loop));
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

static void script_log(void *ctx, const char *script, const char *level, const char *text,
                       size_t len)
{
    (void)ctx;
    char esc[HR_SCRIPT_LOG_MAX * 4 + 1];
    hr_log_escape(esc, sizeof esc, text, len);
    const hr_log_level lv = strcmp(level, "error") == 0   ? HR_LOG_ERROR
                            : strcmp(level, "warn") == 0  ? HR_LOG_WARN
                            : strcmp(level, "debug") == 0 ? HR_LOG_DEBUG
                                                          : HR_LOG_INFO;
    hr_log(lv, "script", "%s script=%s", esc, script);
}

gw_transform *gw_transform_new(uv_loop_t *loop, gw_script_metrics *m, hr_ws_deflater *d)
{
    gw_transform *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    hr_script_config cfg = {.log = script_log};
    t->vm = hr_script_vm_new(&cfg);
    t->views = gw_views_new(VIEWS_CAPACITY, VIEWS_AGE_MS);
    if (t->vm == NULL || t->views == NULL) {
        gw_views_free(t->views);
        hr_script_vm_free(t->vm);
        free(t);
        return NULL;
    }
    t->m = m;
    t->deflater = d;
    t->refs = 1;
    uv_check_init(loop, &t->check);
    t->check.data = t;
    uv_check_start(&t->check, on_check);
    uv_unref((uv_handle_t *)&t->check);
    return t;
}

void gw_transform_close(gw_transform *t)
{
    if (t == NULL)
        return;
    uv_check_stop(&t->check);
    uv_close((uv_handle_t *)&t->check, on_closed);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    const size_t cap = (size_t)4 << 20;
    char *buf = malloc(cap);
    size_t n = buf != NULL ? fread(buf, 1, cap, f) : 0;
    const bool bad = buf == NULL || ferror(f) || n == cap;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Compiles route r's script into vm as ts. */
static int compile(hr_script_vm *vm, const gw_route_cfg *r, size_t pos, tscript *ts, char *diag,
                   size_t cap)
{
    size_t len = 0;
    char *text = read_all(r->script, &len);
    if (text == NULL) {
        snprintf(diag, cap, "%s: cannot read the script (or larger than 4 MiB)", r->script);
        return HR_EINVAL;
    }
    const int rc = hr_script_load(vm, r->script, text, len, &ts->s, diag, cap);
    free(text);
    if (rc != 0)
        return rc;
    ts->key = route_key(r);
    ts->on_error = r->script_on_error;
    ts->route = pos;
    for (int h = 0; h < GW_SCRIPT_HOOKS; h++)
        ts->has[h] = hr_script_has_hook(ts->s, gw_transform_hooks[h]);
    return ts->key != NULL ? 0 : HR_ENOMEM;
}

static int compile_all(hr_script_vm *vm, const gw_config *cfg, tscript **out, size_t *n_out,
                       char *diag, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_routes; i++)
        n += cfg->routes[i].script != NULL;
    tscript *ts = calloc(n > 0 ? n : 1, sizeof *ts);
    if (ts == NULL)
        return HR_ENOMEM;
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cfg->n_routes; i++)
        if (cfg->routes[i].script != NULL)
            rc = compile(vm, &cfg->routes[i], i, &ts[k++], diag, cap);
    if (rc != 0) {
        free_scripts(ts, k);
        return rc;
    }
    *out = ts;
    *n_out = n;
    return 0;
}

int gw_transform_load(gw_transform *t, const gw_config *cfg, char *diag, size_t cap)
{
    hr_script_vm_set_limits(t->vm, (size_t)cfg->limits.script_memory_mb << 20,
                            cfg->limits.script_timeout_ms * 1000000u);
    tscript *ts = NULL;
    size_t n = 0;
    const int rc = compile_all(t->vm, cfg, &ts, &n, diag, cap);
    if (rc != 0)
        return rc;
    gw_views *fresh = gw_views_new(VIEWS_CAPACITY, VIEWS_AGE_MS);
    if (fresh == NULL) {
        free_scripts(ts, n);
        return HR_ENOMEM;
    }
    gw_views_end_turn(fresh, uv_now(t->check.loop)); /* entries are born now */
    free_scripts(t->scripts, t->n_scripts);
    gw_views_free(t->views);
    t->scripts = ts;
    t->n_scripts = n;
    t->views = fresh;
    t->gen++;
    return 0;
}

int gw_transform_check(const gw_config *cfg, gw_diag *diag)
{
    int rc = 0;
    for (size_t i = 0; i < cfg->n_routes && rc == 0; i++)
        rc = cfg->routes[i].script != NULL;
    if (rc == 0)
        return 0;
    hr_script_vm *vm = hr_script_vm_new(NULL);
    if (vm == NULL)
        return HR_ENOMEM;
    tscript *ts = NULL;
    size_t n = 0;
    rc = compile_all(vm, cfg, &ts, &n, diag->msg, sizeof diag->msg);
    free_scripts(ts, n);
    hr_script_vm_free(vm);
    return rc;
}

static tscript *resolve(gw_tconn *c)
{
    gw_transform *t = c->t;
    if (c->gen != t->gen) {
        c->gen = t->gen;
        c->have_view = false;
        c->idx = SIZE_MAX;
        for (size_t i = 0; i < t->n_scripts; i++)
            if (strcmp(t->scripts[i].key, c->key) == 0)
                c->idx = i;
    }
    return c->idx < t->n_scripts ? &t->scripts[c->idx] : NULL;
}

/* ---- metrics ---- */

static void account(gw_transform *t, const tscript *ts, int hook, hr_script_status st, uint64_t t0)
{
    if (ts->route >= GW_SCRIPT_ROUTES || t->m == NULL)
        return;
    const double ms = (double)(uv_hrtime() - t0) / 1e6;
    gw_script_metrics *m = t->m;
    m->calls[ts->route][hook]++;
    m->lat_sum_ms[ts->route][hook] += ms;
    size_t b = 0;
    while (b < GW_SCRIPT_LAT_BUCKETS && ms > gw_transform_lat_bounds_ms[b])
        b++;
    m->lat[ts->route][hook][b]++;
    if (st != HR_SCRIPT_OK)
        m->errors[ts->route][hook][st - 1]++;
}

static void count_drop(gw_transform *t, const tscript *ts, int hook)
{
    if (ts->route < GW_SCRIPT_ROUTES && t->m != NULL)
        t->m->drops[ts->route][hook]++;
}

static void log_failure(gw_transform *t, const tscript *ts, int hook, hr_script_status st)
{
    hr_log(HR_LOG_WARN, "script", "hook failed script=%s hook=%s kind=%s error=\"%.200s\"",
           hr_script_name(ts->s), gw_transform_hooks[hook], hr_script_status_name(st),
           hr_script_vm_error(t->vm));
}

/* ---- connections ---- */

/* query string -> object of decoded names and values (the last one wins). */
static json_t *query_object(const char *q, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && q != NULL && i < n;) {
        const char *amp = memchr(q + i, '&', n - i);
        const size_t end = amp != NULL ? (size_t)(amp - q) : n;
        const char *eq = memchr(q + i, '=', end - i);
        const size_t kend = eq != NULL ? (size_t)(eq - q) : end;
        char k[256], v[1024];
        size_t kl = 0, vl = 0;
        if (kend > i && hr_percent_decode(q + i, kend - i, true, k, sizeof k, &kl) == 0 &&
            (eq == NULL || hr_percent_decode(eq + 1, end - kend - 1, true, v, sizeof v, &vl) == 0))
            json_object_setn_new(o, k, kl, json_stringn(v, eq != NULL ? vl : 0));
        i = end + 1;
    }
    return o;
}

/* The conn fields: id, user, claims, ip, path, query. */
static json_t *conn_info(const gw_treq *req)
{
    json_t *o = json_object(), *chans = json_array();
    for (size_t i = 0; chans != NULL && i < req->n_channels; i++)
        json_array_append_new(chans, json_string(req->channels[i]));
    json_object_set_new(o, "id", json_string(req->id != NULL ? req->id : ""));
    json_object_set_new(o, "user", req->user != NULL ? json_string(req->user) : json_null());
    json_object_set_new(o, "claims", json_pack("{s:o}", "channels", chans));
    json_object_set_new(o, "ip", json_string(req->ip != NULL ? req->ip : ""));
    json_object_set_new(o, "path", json_stringn(req->path, req->path_len));
    json_object_set_new(o, "query", query_object(req->query, req->query_len));
    return o;
}

static json_t *request_info(const gw_treq *req)
{
    json_t *o = conn_info(req), *h = json_object();
    for (size_t i = 0; h != NULL && i < req->n_headers; i++) {
        const hr_http_header *hd = &req->headers[i];
        char name[128];
        const size_t n = hd->name_len < sizeof name ? hd->name_len : sizeof name - 1;
        for (size_t k = 0; k < n; k++) {
            const char ch = hd->name[k];
            name[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        json_object_setn_new(h, name, n, json_stringn(hd->value, hd->value_len));
    }
    json_object_set_new(o, "headers", h);
    return o;
}

/* {name: value} -> "Name: value\r\n" lines. */
static char *header_lines(json_t *headers)
{
    size_t n = 1;
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v) n += strlen(k) + json_string_length(v) + 4;
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    size_t w = 0;
    out[0] = '\0';
    json_object_foreach(headers, k, v)
    {
        const int m = snprintf(out + w, n - w, "%s: %s\r\n", k, json_string_value(v));
        if (m > 0)
            w += (size_t)m;
    }
    return out;
}

static void apply_connect(const hr_script_connect *r, gw_tconnect *v)
{
    if (!r->accept) {
        v->refuse = true;
        v->status = r->status;
        snprintf(v->text, sizeof v->text, "%s\n", r->text != NULL ? r->text : "refused");
    } else if (r->headers != NULL && json_object_size(r->headers) > 0) {
        v->headers = header_lines(r->headers);
    }
}

static int run_connect(gw_transform *t, tscript *ts, const gw_treq *req, gw_tconnect *v)
{
    json_t *info = request_info(req);
    if (info == NULL)
        return HR_ENOMEM;
    hr_script_connect r;
    const uint64_t t0 = uv_hrtime();
    const hr_script_status st = hr_script_hooks_on_connect(ts->s, info, &r);
    json_decref(info);
    account(t, ts, H_CONNECT, st, t0);
    if (st != HR_SCRIPT_OK) {
        log_failure(t, ts, H_CONNECT, st);
        if (ts->on_error != GW_SCRIPT_ON_ERROR_PASS) {
            v->refuse = true;
            v->status = 503;
            snprintf(v->text, sizeof v->text, "script error\n");
        }
        return 0;
    }
    if (!r.accept)
        count_drop(t, ts, H_CONNECT);
    apply_connect(&r, v);
    hr_script_connect_deinit(&r);
    return 0;
}

int gw_transform_connect(gw_transform *t, const gw_route_cfg *r, const gw_treq *req, gw_tconn **out,
                         gw_tconnect *v)
{
    memset(v, 0, sizeof *v);
    *out = NULL;
    if (r->script == NULL || t == NULL)
        return 0;
    gw_tconn *c = calloc(1, sizeof *c);
    if (c == NULL || (c->key = route_key(r)) == NULL) {
        free(c);
        return HR_ENOMEM;
    }
    c->t = t;
    c->gen = t->gen - 1; /* resolve now */
    t->refs++;
    tscript *ts = resolve(c);
    int rc = 0;
    if (ts != NULL && ts->has[H_CONNECT])
        rc = run_connect(t, ts, req, v);
    json_t *info = conn_info(req);
    if (rc == 0 && !v->refuse &&
        (info == NULL || hr_script_hooks_conn_init(t->vm, info, &c->conn) != HR_SCRIPT_OK))
        rc = HR_ENOMEM;
    json_decref(info);
    if (rc != 0 || v->refuse) {
        free(v->headers);
        v->headers = NULL;
        gw_tconn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void gw_tconn_free(gw_tconn *c)
{
    if (c == NULL)
        return;
    hr_script_hooks_conn_deinit(&c->conn);
    free(c->key);
    release(c->t);
    free(c);
}

/* ---- messages ---- */

/* script_on_error for a message: PASS, DONE (dropped) or CLOSED (4003). */
static gw_tdo on_error(gw_transform *t, tscript *ts, int hook, hr_script_status st, hr_conn *client)
{
    log_failure(t, ts, hook, st);
    if (ts->on_error == GW_SCRIPT_ON_ERROR_PASS)
        return GW_T_PASS;
    if (ts->on_error == GW_SCRIPT_ON_ERROR_CLOSE) {
        hr_conn_close(client, 4003, "script error");
        return GW_T_CLOSED;
    }
    count_drop(t, ts, hook);
    return GW_T_DONE;
}

static gw_tdo sent(int rc)
{
    return rc == 0 ? GW_T_DONE : GW_T_CLOSED;
}

/* on_client_message (toward upstream) or on_server_message (toward client). */
static gw_tdo message(gw_tconn *c, tscript *ts, int hook, hr_conn *client, int opcode,
                      const uint8_t *p, size_t len, gw_tout *out)
{
    gw_transform *t = c->t;
    const hr_script_msg in = {opcode == HR_WS_OP_BINARY, (const char *)p, len};
    hr_script_verdict v;
    const uint64_t t0 = uv_hrtime();
    const hr_script_status st =
        hr_script_hooks_on_message(ts->s, gw_transform_hooks[hook], &c->conn, &in, &v);
    account(t, ts, hook, st, t0);
    if (st != HR_SCRIPT_OK)
        return on_error(t, ts, hook, st, client);
    gw_tdo r = GW_T_DONE;
    const int op = v.binary ? HR_WS_OP_BINARY : HR_WS_OP_TEXT;
    switch (v.action) {
    case HR_SCRIPT_FORWARD:
        if (!v.changed)
            r = GW_T_PASS;
        else if (hook == H_SERVER)
            r = sent(hr_conn_send(client, op, v.p, v.len));
        else
            r = GW_T_SEND;
        break;
    case HR_SCRIPT_DROP:
        count_drop(t, ts, hook);
        break;
    case HR_SCRIPT_REPLY:
        r = hook == H_SERVER ? GW_T_SEND : sent(hr_conn_send(client, op, v.p, v.len));
        break;
    case HR_SCRIPT_CLOSE:
        hr_conn_close(client, v.close_code, v.reason);
        r = GW_T_CLOSED;
        break;
    }
    if (r == GW_T_SEND) {
        *out = (gw_tout){op, v.p, v.len};
        v.p = NULL;
    }
    hr_script_verdict_deinit(&v);
    return r;
}

gw_tdo gw_transform_up(gw_tconn *c, hr_conn *client, int opcode, const uint8_t *p, size_t len,
                       gw_tout *out)
{
    tscript *ts = resolve(c);
    if (ts == NULL || !ts->has[H_CLIENT])
        return GW_T_PASS;
    return message(c, ts, H_CLIENT, client, opcode, p, len, out);
}

/* ---- events ---- */

typedef struct parsed {
    int rc; /* hr_cproto_parse_event's */
    hr_cproto_event ev;
} parsed;

/* The event in m, parsed once per gw_upmsg; NULL when m is no event. */
static const hr_cproto_event *event_of(gw_upmsg *m)
{
    if (m->ext == NULL && m->opcode == HR_WS_OP_TEXT) {
        parsed *p = malloc(sizeof *p);
        if (p == NULL)
            return NULL;
        p->rc = hr_cproto_parse_event(m->data, m->len, &p->ev);
        m->ext = p;
        m->ext_free = free;
    }
    const parsed *p = m->ext;
    return p != NULL && p->rc == 1 ? &p->ev : NULL;
}

/* The connection's view key, asked once per script generation. false: the
 * client is being closed. */
static bool ensure_view(gw_tconn *c, tscript *ts, hr_conn *client)
{
    if (c->have_view)
        return true;
    c->have_view = true;
    c->vlen = 0;
    c->view[0] = '\0';
    if (!ts->has[H_VIEW])
        return true;
    const uint64_t t0 = uv_hrtime();
    const hr_script_status st = hr_script_hooks_view_key(ts->s, &c->conn, c->view, &c->vlen);
    account(c->t, ts, H_VIEW, st, t0);
    if (st == HR_SCRIPT_OK)
        return true;
    log_failure(c->t, ts, H_VIEW, st);
    if (ts->on_error == GW_SCRIPT_ON_ERROR_CLOSE) {
        hr_conn_close(client, 4003, "script error");
        return false;
    }
    return true; /* the default view */
}

/* Runs on_event for this view and stores what it gave. */
static gw_view_frames *transform_event(gw_tconn *c, tscript *ts, const hr_cproto_event *ev,
                                       const gw_view_key *k)
{
    gw_transform *t = c->t;
    hr_script_event_out out;
    const uint64_t t0 = uv_hrtime();
    const hr_script_status st =
        hr_script_hooks_on_event(ts->s, ev->channel, ev->channel_len, ev->id, ev->id_len, ev->data,
                                 ev->data_len, c->view, c->vlen, &out);
    account(t, ts, H_EVENT, st, t0);
    if (st != HR_SCRIPT_OK) {
        log_failure(t, ts, H_EVENT, st);
        if (ts->on_error != GW_SCRIPT_ON_ERROR_PASS)
            count_drop(t, ts, H_EVENT);
        gw_view_frames *f =
            gw_views_put(t->views, k, NULL, ts->on_error != GW_SCRIPT_ON_ERROR_PASS);
        if (f != NULL)
            f->close = ts->on_error == GW_SCRIPT_ON_ERROR_CLOSE;
        return f;
    }
    if (out.drop)
        count_drop(t, ts, H_EVENT);
    hr_msg *plain = NULL;
    if (!out.drop && out.changed) {
        const int need = hr_cproto_write_event(NULL, 0, ev->channel, ev->channel_len, ev->id,
                                               ev->id_len, out.data, out.data_len);
        char *buf = need > 0 ? malloc((size_t)need) : NULL;
        if (buf != NULL) {
            hr_cproto_write_event(buf, (size_t)need, ev->channel, ev->channel_len, ev->id,
                                  ev->id_len, out.data, out.data_len);
            plain = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, buf, (size_t)need);
            free(buf);
        }
        if (plain == NULL) { /* out of memory: this view gets nothing this time */
            hr_script_event_out_deinit(&out);
            return NULL;
        }
    }
    const bool drop = out.drop;
    hr_script_event_out_deinit(&out);
    gw_view_frames *f = gw_views_put(t->views, k, plain, drop);
    hr_msg_unref(plain);
    return f;
}

/* Sends the view's frames; unchanged -> PASS. */
static gw_tdo send_view(gw_tconn *c, gw_view_frames *f, hr_conn *client)
{
    if (f->close) {
        hr_conn_close(client, 4003, "script error");
        return GW_T_CLOSED;
    }
    if (f->drop)
        return GW_T_DONE;
    if (f->plain == NULL)
        return GW_T_PASS;
    if (hr_conn_has_deflate(client) && f->deflated == NULL) {
        const hr_msg *p = f->plain;
        size_t hl = 2;
        hl += (p->data[1] & 0x7f) == 126 ? 2 : (p->data[1] & 0x7f) == 127 ? 8 : 0;
        hr_msg *d =
            hr_ws_deflate_frame_new(c->t->deflater, HR_WS_OP_TEXT, p->data + hl, p->len - hl);
        gw_views_set_deflated(f, d);
        hr_msg_unref(d);
    }
    return sent(
        hr_conn_send_event(client, f->plain, hr_conn_has_deflate(client) ? f->deflated : NULL));
}

gw_tdo gw_transform_down(gw_tconn *c, hr_conn *client, gw_upmsg *m, gw_tout *out)
{
    tscript *ts = resolve(c);
    if (ts == NULL || (!ts->has[H_EVENT] && !ts->has[H_SERVER]))
        return GW_T_PASS;
    const hr_cproto_event *ev = event_of(m);
    if (ev == NULL)
        return ts->has[H_SERVER] ? message(c, ts, H_SERVER, client, m->opcode, m->data, m->len, out)
                                 : GW_T_PASS;
    if (!ts->has[H_EVENT])
        return GW_T_PASS;
    if (!ensure_view(c, ts, client))
        return GW_T_CLOSED;
    const gw_view_key k = {(uint32_t)c->idx, ev->channel, ev->channel_len, ev->id,
                           ev->id_len,       c->view,     c->vlen};
    gw_view_frames *f = gw_views_find(c->t->views, &k);
    if (f == NULL)
        f = transform_event(c, ts, ev, &k);
    return f != NULL ? send_view(c, f, client) : GW_T_DONE;
}

/* ---- upstream headers ---- */

/* True when the header line at l (up to its CRLF) is named in extra. */
static bool named_in(const char *l, size_t llen, const char *extra)
{
    const char *colon = memchr(l, ':', llen);
    if (colon == NULL)
        return false;
    const size_t n = (size_t)(colon - l);
    for (const char *e = extra; *e != '\0';) {
        const char *ec = strchr(e, ':'), *eol = strstr(e, "\r\n");
        if (ec == NULL || eol == NULL)
            return false;
        if ((size_t)(ec - e) == n && strncasecmp(e, l, n) == 0)
            return true;
        e = eol + 2;
    }
    return false;
}

char *gw_transform_merge_headers(const char *block, const char *extra)
{
    const size_t bl = strlen(block), el = strlen(extra);
    char *out = malloc(bl + el + 1);
    if (out == NULL)
        return NULL;
    size_t w = 0;
    for (const char *l = block; *l != '\0';) {
        const char *eol = strstr(l, "\r\n");
        const size_t len = eol != NULL ? (size_t)(eol - l) + 2 : strlen(l);
        if (!named_in(l, len, extra)) {
            memcpy(out + w, l, len);
            w += len;
        }
        l += len;
    }
    memcpy(out + w, extra, el + 1);
    return out;
}

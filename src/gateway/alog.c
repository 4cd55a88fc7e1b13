/* Access log lines, built with jansson so that every client-supplied string
 * is escaped correctly (jansson refuses invalid UTF-8, so paths are cleaned to
 * ASCII first: bytes outside printable ASCII become '?'). Written to stdout,
 * which operators redirect; diagnostics stay on stderr. */
#include "alog.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static json_t *ascii(const char *s, size_t len)
{
    char buf[512];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    return json_stringn(buf, len);
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, key, ascii(v, strlen(v)));
}

static void set_time(json_t *o)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    const size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    json_object_set_new(o, "ts", json_string(ts));
}

size_t gw_alog_format(const gw_alog_rec *r, char *out, size_t cap)
{
    json_t *o = cap >= 3 ? json_object() : NULL;
    if (o == NULL)
        return 0;
    set_time(o);
    set_str(o, "kind", r->kind);
    set_str(o, "client", r->client);
    set_str(o, "method", r->method);
    if (r->path != NULL)
        json_object_set_new(o, "path", ascii(r->path, r->path_len));
    set_str(o, "route", r->route);
    set_str(o, "upstream", r->upstream);
    set_str(o, "server", r->server);
    json_object_set_new(o, "status", json_integer(r->status));
    if (r->close_code != 0)
        json_object_set_new(o, "close", json_integer(r->close_code));
    json_object_set_new(o, "duration_ms",
                        json_real((double)(int64_t)(r->duration_ms * 1000) / 1000));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)r->bytes_in));
    json_object_set_new(o, "bytes_out", json_integer((json_int_t)r->bytes_out));
    set_str(o, "request_id", r->request_id);
    set_str(o, "user", r->user);
    if (r->error != NULL) {
        size_t n = r->error_len;
        while (n > 0 && (r->error[n - 1] == '\n' || r->error[n - 1] == '\r'))
            n--;
        json_object_set_new(o, "error", ascii(r->error, n));
    }
    const size_t n = json_dumpb(o, out, cap - 2, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (n == 0 || n > cap - 2)
        return 0;
    out[n] = '\n';
    out[n + 1] = '\0';
    return n + 1;
}

void gw_alog_write(const gw_alog_rec *r)
{
    char line[2048];
    const size_t n = gw_alog_format(r, line, sizeof line);
    if (n == 0)
        return;
    fwrite(line, 1, n, stdout);
    fflush(stdout);
}

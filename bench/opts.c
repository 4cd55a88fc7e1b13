/* Flags of herald-bench and their checks. Everything numeric is bounded so
 * that a run is bounded: clients, events, sizes and every phase's duration. */
#include "opts.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/flags.h"
#include "phases.h"

#define PROG "herald-bench"

static const hr_flag_spec spec[] = {
    {"url", HR_FLAG_STRING, "ws://127.0.0.1:7070/ws?channels={ch}", "ws://IP:PORT/PATH",
     "client URL (http:// for the sse protocols); {ch} is replaced by the client's channel", 0, 0},
    {"protocol", HR_FLAG_STRING, "herald", "herald|none|sse|sse-none|pusher",
     "herald: WebSocket, ready at 'subscribed'; none: a peer, ready at the 101; sse: GET with "
     "Accept: text/event-stream, ready at the 'subscribed' comment; sse-none: a peer's event "
     "stream, ready at the 200; pusher: Pusher protocol 7 (URL /app/KEY?protocol=7), "
     "pusher:subscribe to the channel, ready at subscription_succeeded",
     0, 0},
    {"clients", HR_FLAG_INT, "100", "N", "WebSocket clients", 1, 1000000},
    {"connect-rate", HR_FLAG_INT, "2000", "N", "new connections per second (all workers)", 1,
     1000000},
    {"workers", HR_FLAG_INT, "0", "N", "worker processes (0: one per 15000 clients)", 0,
     BENCH_MAX_WORKERS},
    {"sources", HR_FLAG_INT, "200", "N", "source addresses 127.0.0.10 and up", 1,
     BENCH_MAX_SOURCES - 10},
    {"channel", HR_FLAG_STRING, "bench", "NAME", "channel name (with --channels > 1: NAME-i)", 0,
     0},
    {"channels", HR_FLAG_INT, "1", "N", "channels; client i is on channel i % N", 1, 1000000},
    {"publish", HR_FLAG_STRING, "http://127.0.0.1:7070/publish", "URL",
     "http://IP:PORT/path, redis://IP:PORT[?stream=S], nats://IP:PORT or none", 0, 0},
    {"publish-raw", HR_FLAG_BOOL, "false", NULL,
     "HTTP body is the event data itself (a peer such as nchan)", 0, 0},
    {"api-key", HR_FLAG_STRING, NULL, "KEY", "Bearer key for the notifier's /publish", 0, 0},
    {"events", HR_FLAG_INT, "10", "K", "broadcasts per channel", 0, BENCH_MAX_EVENTS},
    {"rate", HR_FLAG_INT, "0", "R", "broadcasts per second (0: each after the last is acked)", 0,
     1000000},
    {"phases", HR_FLAG_STRING, "", "K@R,K@max,K@burst,...",
     "publish phases in order on the same clients (replaces --events/--rate; see phases.h)", 0, 0},
    {"gap", HR_FLAG_STRING, "1", "SECONDS", "pause between phases, after each one's drain", 0, 0},
    {"size", HR_FLAG_INT, "100", "BYTES", "bytes of event data", 1, 65536},
    {"idle", HR_FLAG_STRING, "0", "SECONDS", "hold after every client is ready", 0, 0},
    {"drain", HR_FLAG_STRING, "10", "SECONDS", "wait for deliveries after the last publish", 0, 0},
    {"timeout", HR_FLAG_STRING, "300", "SECONDS", "hard bound on the whole run", 0, 0},
    {"churn", HR_FLAG_STRING, "0", "SECONDS",
     "churn mode: each client connects, becomes ready, closes, repeats", 0, 0},
    {"pids", HR_FLAG_STRING, "", "NAME=PID,...", "server processes to sample (RSS, CPU)", 0, 0},
    {"label", HR_FLAG_STRING, "run", "TEXT", "name of this run in the report", 0, 0},
    {"json", HR_FLAG_STRING, "", "FILE", "append the JSON line to FILE too", 0, 0},
    {"progress", HR_FLAG_BOOL, "true", NULL, "progress line when stderr is a terminal", 0, 0},
};

void bench_opts_write_help(FILE *out)
{
    hr_flags_write_help(out, PROG,
                        "Load generator: N WebSocket clients, publish load, latency percentiles,\n"
                        "fan-out completion time. Prints a report and one JSON line.",
                        spec, HR_ARRAY_LEN(spec));
}

static int copy(char *dst, size_t cap, const char *src, const char *what, char *err, size_t ecap)
{
    if (src == NULL)
        src = "";
    if (strlen(src) >= cap) {
        snprintf(err, ecap, PROG ": --%s: too long", what);
        return HR_EINVAL;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int seconds(const hr_flags *f, const char *name, double *out, char *err, size_t cap)
{
    const char *s = hr_flags_str(f, name);
    char *end;
    *out = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(*out) || *out < 0 || *out > 3600) {
        snprintf(err, cap, PROG ": --%s: expected seconds 0..3600, got '%s'", name, s);
        return HR_EINVAL;
    }
    return 0;
}

static bool is_label(const char *s)
{
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-+", *s))
            return false;
    return true;
}

static int parse_url(bench_opts *o, const char *url, char *err, size_t cap)
{
    const bool sse = bench_proto_is_sse(o->proto);
    const char *scheme = sse ? "http://" : "ws://";
    const char *p = strncmp(url, scheme, strlen(scheme)) == 0 ? url + strlen(scheme) : NULL;
    const char *colon = p ? strchr(p, ':') : NULL;
    const char *slash = colon ? strchr(colon, '/') : NULL;
    char *end = NULL;
    const long port = colon ? strtol(colon + 1, &end, 10) : 0;
    struct in_addr a;
    if (slash == NULL || end != slash || port <= 0 || port > 65535 ||
        (size_t)(colon - p) >= sizeof o->host || strlen(slash) >= sizeof o->target) {
        snprintf(err, cap, PROG ": --url: expected %sIPv4:PORT/PATH", scheme);
        return HR_EINVAL;
    }
    memcpy(o->host, p, (size_t)(colon - p));
    o->host[colon - p] = '\0';
    if (inet_pton(AF_INET, o->host, &a) != 1) {
        snprintf(err, cap, PROG ": --url: the host must be an IPv4 address");
        return HR_EINVAL;
    }
    o->port = (int)port;
    memcpy(o->target, slash, strlen(slash) + 1);
    return 0;
}

static int fill(bench_opts *o, const hr_flags *f, char *err, size_t cap)
{
    static const char *const protos[] = {"herald", "none", "sse", "sse-none", "pusher"};
    const char *proto = hr_flags_str(f, "protocol");
    size_t pi = 0;
    while (pi < HR_ARRAY_LEN(protos) && strcmp(proto, protos[pi]) != 0)
        pi++;
    if (pi == HR_ARRAY_LEN(protos)) {
        snprintf(err, cap, PROG ": --protocol: expected herald, none, sse, sse-none or pusher");
        return HR_EINVAL;
    }
    o->proto = (bench_proto)pi; /* protos[] is in bench_proto's order */
    o->clients = (uint32_t)hr_flags_num(f, "clients");
    o->connect_rate = (uint32_t)hr_flags_num(f, "connect-rate");
    o->workers = (uint32_t)hr_flags_num(f, "workers");
    if (o->workers == 0)
        o->workers = (o->clients + 14999) / 15000;
    if (o->workers > o->clients)
        o->workers = o->clients;
    o->sources = (uint32_t)hr_flags_num(f, "sources");
    o->channels = (uint32_t)hr_flags_num(f, "channels");
    o->publish_raw = hr_flags_bool(f, "publish-raw");
    o->events = (uint32_t)hr_flags_num(f, "events");
    o->rate = (uint32_t)hr_flags_num(f, "rate");
    o->size = (uint32_t)hr_flags_num(f, "size");
    o->progress = hr_flags_bool(f, "progress") && isatty(2);
    if (!is_label(hr_flags_str(f, "label")) || !is_label(hr_flags_str(f, "channel"))) {
        snprintf(err, cap, PROG ": --label/--channel: use [A-Za-z0-9_.:+-] only");
        return HR_EINVAL;
    }
    int rc = parse_url(o, hr_flags_str(f, "url"), err, cap);
    if (rc == 0)
        rc = copy(o->channel, sizeof o->channel, hr_flags_str(f, "channel"), "channel", err, cap);
    if (rc == 0)
        rc = copy(o->publish, sizeof o->publish, hr_flags_str(f, "publish"), "publish", err, cap);
    if (rc == 0)
        rc = copy(o->api_key, sizeof o->api_key, hr_flags_str(f, "api-key"), "api-key", err, cap);
    if (rc == 0)
        rc = copy(o->label, sizeof o->label, hr_flags_str(f, "label"), "label", err, cap);
    if (rc == 0)
        rc = copy(o->json_path, sizeof o->json_path, hr_flags_str(f, "json"), "json", err, cap);
    if (rc == 0)
        rc = copy(o->pids, sizeof o->pids, hr_flags_str(f, "pids"), "pids", err, cap);
    if (rc == 0)
        rc = seconds(f, "idle", &o->idle_s, err, cap);
    if (rc == 0)
        rc = seconds(f, "drain", &o->drain_s, err, cap);
    if (rc == 0)
        rc = seconds(f, "timeout", &o->timeout_s, err, cap);
    if (rc == 0)
        rc = seconds(f, "churn", &o->churn_s, err, cap);
    if (rc == 0)
        rc = seconds(f, "gap", &o->gap_s, err, cap);
    o->phases[0] = (bench_phase){.events = o->events, .rate = o->rate, .pace = BENCH_PACE_ACKED};
    o->nphases = 1;
    const char *phases = hr_flags_str(f, "phases");
    if (rc == 0 && phases != NULL && phases[0] != '\0' && bench_phases_parse(o, phases) != 0) {
        snprintf(err, cap, PROG ": --phases: expected K@RATE, K@max or K@burst, comma-separated");
        rc = HR_EINVAL;
    }
    return rc;
}

int bench_opts_parse(bench_opts *o, int argc, char **argv, char **envp, char *err, size_t cap)
{
    hr_flags f = {0};
    memset(o, 0, sizeof *o);
    int rc = hr_flags_parse(&f, PROG, spec, HR_ARRAY_LEN(spec), argc, argv, envp, err, cap);
    if (rc == HR_FLAGS_RUN)
        rc = fill(o, &f, err, cap);
    hr_flags_deinit(&f);
    return rc;
}

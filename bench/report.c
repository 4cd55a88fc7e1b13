/* Rendering of a bench_summary. Derived numbers (rates, bytes per
 * connection) are computed here, once, for both renderings. */
#include "report.h"

#include <string.h>

#include "phases.h"

typedef struct derived {
    uint64_t ready;
    double connect_rate, delivered_per_s, churn_per_s;
    double user_per_conn;   /* sum over named processes, idle - before */
    double kernel_per_conn; /* TCP buffers + slab growth, whole host */
} derived;

static double per_conn(uint64_t after, uint64_t before, uint64_t n)
{
    return n == 0 ? 0 : ((double)after - (double)before) / (double)n;
}

static derived derive(const bench_summary *s)
{
    derived d = {.ready = s->total.ready_conns};
    const bench_result *t = &s->total;
    d.connect_rate = s->connect_s > 0 ? (double)d.ready / s->connect_s : 0;
    d.delivered_per_s = s->deliver_s > 0 ? (double)t->rec.delivered / s->deliver_s : 0;
    d.churn_per_s = s->o->churn_s > 0 ? (double)t->rec.cycles / s->o->churn_s : 0;
    for (size_t i = 0; i < s->idle.n; i++)
        d.user_per_conn += per_conn(s->idle.procs[i].rss, s->before.procs[i].rss, d.ready);
    d.kernel_per_conn = per_conn(s->idle.tcp_mem + s->idle.slab,
                                 s->before.tcp_mem + s->before.slab, d.ready);
    return d;
}

static double q(const bench_hist *h, double quantile)
{
    return (double)bench_hist_quantile(h, quantile) / 1000.0; /* ms */
}

/* Phase i: first publish to last delivery, and first publish to last
 * acknowledgement (a burst's publisher is done long before its deliveries). */
static double phase_deliver_s(const bench_summary *s, uint32_t i)
{
    const uint64_t a = s->phase_first_send_ns[i], b = s->phase_last_ns[i];
    return a != 0 && b > a ? (double)(b - a) / 1e9 : 0;
}

static double phase_publish_s(const bench_summary *s, uint32_t i)
{
    const uint64_t a = s->phase_first_send_ns[i], b = s->phase_last_ack_ns[i];
    return a != 0 && b > a ? (double)(b - a) / 1e9 : 0;
}

/* The --pids servers' CPU seconds over phase i, summed. */
static double phase_server_cpu_s(const bench_summary *s, uint32_t i)
{
    double sum = 0;
    for (size_t k = 0; k < s->before.n; k++)
        sum += s->phase_proc_cpu_s[i][k];
    return sum;
}

static void text_phases(FILE *out, const bench_summary *s)
{
    for (uint32_t i = 0; s->o->nphases > 1 && i < s->o->nphases; i++) {
        const bench_hist *l = &s->total.phase_latency[i], *f = &s->phase_fanout[i];
        const double d = phase_deliver_s(s, i);
        char name[32];
        bench_phase_name(&s->o->phases[i], name, sizeof name);
        fprintf(out,
                "  phase %u %-6s %u events: delivered %llu in %.3f s (%.0f/s)  latency ms p50 %.3f"
                "  p90 %.3f  p99 %.3f  max %.3f  first->last p50 %.3f  max %.3f"
                "  cpu s servers %.2f clients %.2f\n",
                i, name, s->o->phases[i].events, (unsigned long long)l->count, d,
                d > 0 ? (double)l->count / d : 0, q(l, .5), q(l, .9), q(l, .99), q(l, 1), q(f, .5),
                q(f, 1), phase_server_cpu_s(s, i), s->phase_client_cpu_s[i]);
    }
}

static void json_phases(FILE *out, const bench_summary *s)
{
    static const char *const paces[] = {"acked", "open", "burst"};
    fputs("\"phases\":[", out);
    for (uint32_t i = 0; i < s->o->nphases; i++) {
        const bench_phase *ph = &s->o->phases[i];
        const bench_hist *l = &s->total.phase_latency[i], *f = &s->phase_fanout[i];
        const double d = phase_deliver_s(s, i);
        char name[32];
        bench_phase_name(ph, name, sizeof name);
        fprintf(out,
                "%s{\"name\":\"%s\",\"events\":%u,\"rate\":%u,\"pace\":\"%s\","
                "\"delivered\":%llu,\"deliver_s\":%.4f,\"publish_s\":%.4f,"
                "\"delivered_per_s\":%.0f,\"lat_p50_ms\":%.3f,\"lat_p90_ms\":%.3f,"
                "\"lat_p99_ms\":%.3f,\"lat_p999_ms\":%.3f,\"lat_max_ms\":%.3f,"
                "\"fanout_p50_ms\":%.3f,\"fanout_p90_ms\":%.3f,\"fanout_p99_ms\":%.3f,"
                "\"fanout_max_ms\":%.3f,\"server_cpu_s\":%.3f,\"client_cpu_s\":%.3f,"
                "\"server_cpu_by_proc\":{",
                i ? "," : "", name, ph->events, ph->rate, paces[ph->pace],
                (unsigned long long)l->count, d, phase_publish_s(s, i),
                d > 0 ? (double)l->count / d : 0, q(l, .5), q(l, .9), q(l, .99), q(l, .999),
                q(l, 1), q(f, .5), q(f, .9), q(f, .99), q(f, 1), phase_server_cpu_s(s, i),
                s->phase_client_cpu_s[i]);
        for (size_t k = 0; k < s->before.n; k++)
            fprintf(out, "%s\"%s\":%.3f", k ? "," : "", s->before.procs[k].name,
                    s->phase_proc_cpu_s[i][k]);
        fputs("}}", out);
    }
    fputs("],", out);
}

void bench_report_text(FILE *out, const bench_summary *s)
{
    const derived d = derive(s);
    const bench_result *t = &s->total;
    fprintf(out, "herald-bench %s  clients=%u workers=%u events=%u channels=%u size=%u rate=%u\n",
            s->o->label, s->o->clients, s->workers, s->o->events, s->o->channels, s->o->size,
            s->o->rate);
    fprintf(out, "  connections  ready %llu  failed %llu  closed-by-server %llu  in %.2f s (%.0f/s)\n",
            (unsigned long long)d.ready, (unsigned long long)t->rec.failed,
            (unsigned long long)t->rec.closed, s->connect_s, d.connect_rate);
    fprintf(out, "  handshake    p50 %.2f ms  p99 %.2f ms\n", q(&t->handshake, .5),
            q(&t->handshake, .99));
    fprintf(out, "  events       published %llu (errors %llu)  delivered %llu / expected %llu"
                 "  lossy conns %u  per-conn min %llu max %llu  dup %llu\n",
            (unsigned long long)s->published, (unsigned long long)s->publish_errors,
            (unsigned long long)t->rec.delivered, (unsigned long long)s->expected,
            t->lossy_conns, (unsigned long long)t->min_per_conn,
            (unsigned long long)t->max_per_conn, (unsigned long long)t->duplicates);
    fprintf(out, "  throughput   %.0f delivered events/s over %.3f s\n", d.delivered_per_s,
            s->deliver_s);
    fprintf(out, "  latency ms   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
            q(&t->latency, .5), q(&t->latency, .9), q(&t->latency, .99), q(&t->latency, .999),
            q(&t->latency, 1));
    fprintf(out, "  fan-out ms   per broadcast first->last: p50 %.3f  p99 %.3f  max %.3f\n",
            q(&s->fanout, .5), q(&s->fanout, .99), q(&s->fanout, 1));
    text_phases(out, s);
    if (s->o->churn_s > 0)
        fprintf(out, "  churn        %llu cycles, %.0f/s\n", (unsigned long long)t->rec.cycles,
                d.churn_per_s);
    for (size_t i = 0; i < s->idle.n; i++)
        fprintf(out, "  %-12s rss %.1f MB idle (%.0f B/conn)  %.1f MB end  cpu %.2f s\n",
                s->idle.procs[i].name, (double)s->idle.procs[i].rss / 1048576.0,
                per_conn(s->idle.procs[i].rss, s->before.procs[i].rss, d.ready),
                (double)s->end.procs[i].rss / 1048576.0,
                s->end.procs[i].cpu_s - s->before.procs[i].cpu_s);
    fprintf(out, "  memory/conn  user %.0f B (named processes)  kernel %.0f B (both socket ends)\n",
            d.user_per_conn, d.kernel_per_conn);
}

static void json_procs(FILE *out, const bench_summary *s, uint64_t ready)
{
    fputs("\"procs\":{", out);
    for (size_t i = 0; i < s->idle.n; i++)
        fprintf(out,
                "%s\"%s\":{\"pid\":%d,\"rss_before\":%llu,\"rss_idle\":%llu,\"rss_end\":%llu,"
                "\"bytes_per_conn\":%.0f,\"cpu_s\":%.3f}",
                i ? "," : "", s->idle.procs[i].name, s->idle.procs[i].pid,
                (unsigned long long)s->before.procs[i].rss,
                (unsigned long long)s->idle.procs[i].rss, (unsigned long long)s->end.procs[i].rss,
                per_conn(s->idle.procs[i].rss, s->before.procs[i].rss, ready),
                s->end.procs[i].cpu_s - s->before.procs[i].cpu_s);
    fputs("}", out);
}

void bench_report_json(FILE *out, const bench_summary *s)
{
    const derived d = derive(s);
    const bench_result *t = &s->total;
    const bench_opts *o = s->o;
    fprintf(out,
            "{\"label\":\"%s\",\"clients\":%u,\"workers\":%u,\"events\":%u,\"channels\":%u,"
            "\"size\":%u,\"rate\":%u,\"connected\":%llu,\"ready\":%llu,\"failed\":%llu,"
            "\"closed\":%llu,\"connect_s\":%.3f,\"connect_rate\":%.0f,"
            "\"handshake_p50_ms\":%.3f,\"handshake_p99_ms\":%.3f,",
            o->label, o->clients, s->workers, o->events, o->channels, o->size, o->rate,
            (unsigned long long)t->rec.connected, (unsigned long long)d.ready,
            (unsigned long long)t->rec.failed, (unsigned long long)t->rec.closed, s->connect_s,
            d.connect_rate, q(&t->handshake, .5), q(&t->handshake, .99));
    fprintf(out,
            "\"published\":%llu,\"publish_errors\":%llu,\"expected\":%llu,\"delivered\":%llu,"
            "\"lossy_conns\":%u,\"min_per_conn\":%llu,\"max_per_conn\":%llu,\"duplicates\":%llu,"
            "\"delivered_per_s\":%.0f,\"deliver_s\":%.3f,",
            (unsigned long long)s->published, (unsigned long long)s->publish_errors,
            (unsigned long long)s->expected, (unsigned long long)t->rec.delivered, t->lossy_conns,
            (unsigned long long)t->min_per_conn, (unsigned long long)t->max_per_conn,
            (unsigned long long)t->duplicates, d.delivered_per_s, s->deliver_s);
    fprintf(out,
            "\"lat_p50_ms\":%.3f,\"lat_p90_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_p999_ms\":%.3f,"
            "\"lat_max_ms\":%.3f,\"fanout_p50_ms\":%.3f,\"fanout_p99_ms\":%.3f,"
            "\"fanout_max_ms\":%.3f,\"churn_cycles\":%llu,\"churn_per_s\":%.0f,"
            "\"user_bytes_per_conn\":%.0f,\"kernel_bytes_per_conn\":%.0f,\"run_s\":%.3f,",
            q(&t->latency, .5), q(&t->latency, .9), q(&t->latency, .99), q(&t->latency, .999),
            q(&t->latency, 1), q(&s->fanout, .5), q(&s->fanout, .99), q(&s->fanout, 1),
            (unsigned long long)t->rec.cycles, d.churn_per_s, d.user_per_conn, d.kernel_per_conn,
            s->run_s);
    json_phases(out, s);
    json_procs(out, s, d.ready);
    fputs("}\n", out);
}

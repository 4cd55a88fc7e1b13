/* Resource samples of named server processes and of the kernel, from /proc:
 * resident memory (VmRSS) and CPU seconds (utime + stime) of each PID, and
 * the kernel's TCP buffer pages (/proc/net/sockstat "mem") and slab bytes
 * (/proc/meminfo Slab), whose growth per connection is the kernel's share. */
#ifndef BENCH_PROCSTAT_H
#define BENCH_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_PIDS 32 /* a gateway supervisor, its workers and notifiers */

typedef struct bench_proc {
    char name[32];
    int pid;
    uint64_t rss;    /* bytes */
    double cpu_s;    /* user + system seconds since the process started */
} bench_proc;

typedef struct bench_sample {
    bench_proc procs[BENCH_MAX_PIDS];
    size_t n;
    uint64_t tcp_mem;  /* bytes of TCP buffers, whole host */
    uint64_t slab;     /* bytes of kernel slab, whole host */
} bench_sample;

/* Parses "name=pid,name=pid" into s->procs (values zero). Returns 0, or -1
 * for a malformed list or more than BENCH_MAX_PIDS entries. */
int bench_procstat_parse(const char *spec, bench_sample *s);

/* Fills the values of every named PID (a vanished one reads 0) and the
 * kernel counters. */
void bench_procstat_take(bench_sample *s);

/* User + system CPU seconds of pid since it started (clock ticks, 10 ms
 * here), 0 when it is gone. */
double bench_proc_cpu_s(int pid);

#endif

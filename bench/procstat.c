/* /proc readers for herald-bench. Everything here is read at phase edges
 * (before connecting, after the idle hold, at the end), never in a loop. */
#include "procstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_procstat_parse(const char *spec, bench_sample *s)
{
    memset(s, 0, sizeof *s);
    const char *p = spec;
    while (p != NULL && *p != '\0') {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (eq == NULL || (comma != NULL && comma < eq) || s->n == BENCH_MAX_PIDS ||
            (size_t)(eq - p) >= sizeof s->procs[0].name || eq == p)
            return -1;
        bench_proc *pr = &s->procs[s->n++];
        memcpy(pr->name, p, (size_t)(eq - p));
        char *end;
        const long pid = strtol(eq + 1, &end, 10);
        if (pid <= 0 || (*end != ',' && *end != '\0'))
            return -1;
        pr->pid = (int)pid;
        p = comma != NULL ? comma + 1 : NULL;
    }
    return 0;
}

/* The number after "key" on its line of the /proc file at path (status,
 * meminfo: "VmRSS:   1234 kB"), or 0. */
static uint64_t keyed_number(const char *path, const char *key)
{
    char line[256];
    FILE *f = fopen(path, "r");
    uint64_t v = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtoull(line + strlen(key), NULL, 10);
    fclose(f);
    return v;
}

static uint64_t status_kb(int pid, const char *key)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    return keyed_number(path, key);
}

double bench_proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t sockstat_tcp_mem(void)
{
    FILE *f = fopen("/proc/net/sockstat", "r");
    char line[256];
    uint64_t pages = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *m = strncmp(line, "TCP:", 4) == 0 ? strstr(line, " mem ") : NULL;
        if (m != NULL)
            pages = strtoull(m + 5, NULL, 10);
    }
    fclose(f);
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t meminfo_kb(const char *key)
{
    return keyed_number("/proc/meminfo", key);
}

void bench_procstat_take(bench_sample *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s->procs[i].rss = status_kb(s->procs[i].pid, "VmRSS:") * 1024;
        s->procs[i].cpu_s = bench_proc_cpu_s(s->procs[i].pid);
    }
    s->tcp_mem = sockstat_tcp_mem();
    s->slab = meminfo_kb("Slab:") * 1024;
}

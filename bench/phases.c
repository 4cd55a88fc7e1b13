/* The publish plan of a run: one phase (--events at --rate), or the phases
 * of --phases, run in order on the same connections. Round numbers count
 * over all phases, so a delivery's "s" says which phase it belongs to. */
#include "phases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t bench_phase_of(const bench_opts *o, uint64_t s)
{
    uint64_t end = 0;
    for (uint32_t i = 0; i < o->nphases; i++) {
        end += o->phases[i].events;
        if (s < end)
            return i;
    }
    return o->nphases ? o->nphases - 1 : 0;
}

uint64_t bench_phase_first(const bench_opts *o, uint32_t i)
{
    uint64_t first = 0;
    for (uint32_t k = 0; k < i && k < o->nphases; k++)
        first += o->phases[k].events;
    return first;
}

/* One "K@R", "K@max" or "K@burst" item of len bytes. */
static int parse_one(const char *s, size_t len, bench_phase *out)
{
    char item[64], *end;
    if (len == 0 || len >= sizeof item)
        return -1;
    memcpy(item, s, len);
    item[len] = '\0';
    const char *at = strchr(item, '@');
    const long k = strtol(item, &end, 10);
    if (at == NULL || end != at || k < 1 || k > BENCH_MAX_EVENTS)
        return -1;
    if (strcmp(at + 1, "max") == 0) {
        *out = (bench_phase){.events = (uint32_t)k, .rate = 0, .pace = BENCH_PACE_ACKED};
        return 0;
    }
    if (strcmp(at + 1, "burst") == 0) {
        *out = (bench_phase){.events = (uint32_t)k, .rate = 0, .pace = BENCH_PACE_BURST};
        return 0;
    }
    const long r = strtol(at + 1, &end, 10);
    if (end == at + 1 || *end != '\0' || r < 1 || r > 1000000)
        return -1;
    *out = (bench_phase){.events = (uint32_t)k, .rate = (uint32_t)r, .pace = BENCH_PACE_OPEN};
    return 0;
}

int bench_phases_parse(bench_opts *o, const char *spec)
{
    uint64_t total = 0;
    o->nphases = 0;
    for (const char *p = spec; *p;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (o->nphases == BENCH_MAX_PHASES || parse_one(p, len, &o->phases[o->nphases]) != 0)
            return -1;
        total += o->phases[o->nphases++].events;
        p += len + (comma ? 1 : 0);
        if (comma && *p == '\0')
            return -1;
    }
    if (o->nphases == 0 || total > BENCH_MAX_EVENTS)
        return -1;
    o->events = (uint32_t)total;
    return 0;
}

void bench_phase_name(const bench_phase *ph, char *out, size_t cap)
{
    if (ph->pace == BENCH_PACE_BURST)
        snprintf(out, cap, "burst");
    else if (ph->rate == 0)
        snprintf(out, cap, "max");
    else
        snprintf(out, cap, "%u/s", ph->rate);
}

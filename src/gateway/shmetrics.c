/* Gateway metrics shared across worker processes: one gw_metrics slot per
 * worker in an anonymous shared mapping made before fork(). Every slot has a
 * single writer (its worker), the admin worker reads all of them and sums.
 * gw_metrics is plain uint64_t fields plus one double, so summing walks the
 * fields by name rather than by memory layout. */
#include "shmetrics.h"

#include <string.h>
#include <sys/mman.h>

gw_metrics *gw_shmetrics_new(size_t n)
{
    if (n == 0 || n > SIZE_MAX / sizeof(gw_metrics))
        return NULL;
    void *p = mmap(NULL, n * sizeof(gw_metrics), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0, n * sizeof(gw_metrics)); /* already zero; explicit for clarity */
    return p;
}

void gw_shmetrics_free(gw_metrics *slots, size_t n)
{
    if (slots != NULL)
        munmap(slots, n * sizeof(gw_metrics));
}

/* A new gw_metrics field must be added to add_one() too (the labelled
 * arrays are summed by position in labels.c instead). */
_Static_assert(sizeof(gw_metrics) ==
                   (1249 + 2 + 2 * GW_LBL_ROUTES + 2 * GW_LBL_SERVERS) * sizeof(uint64_t) +
                       sizeof(gw_script_metrics),
               "update add_one() for new fields");

static void add_array(uint64_t *dst, const volatile uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static void add_one(gw_metrics *o, const volatile gw_metrics *s)
{
    add_array(o->status, s->status, 600);
    add_array(o->hs_status, s->hs_status, 600);
    add_array(o->closes, s->closes, GW_CLOSE_CODES + 1);
    add_array(o->lat_buckets, s->lat_buckets, GW_LAT_BUCKETS + 1);
    o->frames_up += s->frames_up;
    o->frames_down += s->frames_down;
    o->bytes_up += s->bytes_up;
    o->bytes_down += s->bytes_down;
    o->ws_total += s->ws_total;
    o->ws_active += s->ws_active;
    o->sse_active += s->sse_active;
    o->http_requests += s->http_requests;
    o->upstream_connect_failures += s->upstream_connect_failures;
    o->lat_sum_ms += s->lat_sum_ms;
    o->lat_count += s->lat_count;
    /* Every worker reloads on the same SIGHUP: one reload, not N. */
    o->reloads = s->reloads > o->reloads ? s->reloads : o->reloads;
    o->reload_failures =
        s->reload_failures > o->reload_failures ? s->reload_failures : o->reload_failures;
    o->links_open += s->links_open;
    o->listening += s->listening;
    o->link_io.writes += s->link_io.writes;
    o->link_frames_out += s->link_frames_out;
    o->link_io.bytes_out += s->link_io.bytes_out;
    o->link_io.bytes_in += s->link_io.bytes_in;
    o->link_bcasts_in += s->link_bcasts_in;
    o->ws_claimed += s->ws_claimed;
    gw_transform_metrics_add(&o->script, &s->script);
}

void gw_shmetrics_sum(const gw_metrics *slots, size_t n, gw_metrics *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        add_one(out, &slots[i]);
}

void gw_shmetrics_reset_gauges(gw_metrics *slot)
{
    slot->ws_active = 0;
    slot->sse_active = 0;
    slot->links_open = 0;
    slot->listening = 0;
    slot->ws_claimed = 0;
    memset(slot->route_ws, 0, sizeof slot->route_ws);
    memset(slot->server_conns, 0, sizeof slot->server_conns);
    for (size_t i = 0; i < GW_LBL_SERVERS; i++)
        slot->server_up[i] = 1; /* a dead worker's health view no longer counts */
}

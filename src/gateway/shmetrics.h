/* gw_shmetrics: the gateway's metrics blocks shared by all worker processes.
 * The supervisor maps one anonymous MAP_SHARED segment holding one gw_metrics
 * slot per worker before it forks; each worker writes only its own slot
 * (plain stores, no locks: one writer per slot) and the worker serving the
 * admin listener sums every slot at scrape time, so /metrics covers the
 * whole gateway. A restarted worker keeps its slot: counters stay monotonic;
 * the supervisor zeroes the slot's gauges when the worker dies. */
#ifndef GW_SHMETRICS_H
#define GW_SHMETRICS_H

#include <stddef.h>

#include "app.h"

/* Maps n zeroed slots shared with future children (MAP_SHARED|MAP_ANONYMOUS).
 * Returns the first slot or NULL (mmap failed). Free with gw_shmetrics_free. */
gw_metrics *gw_shmetrics_new(size_t n);

/* Unmaps slots from gw_shmetrics_new(n) (NULL is a no-op). */
void gw_shmetrics_free(gw_metrics *slots, size_t n);

/* Writes into *out the field-by-field sum of slots[0..n). Readers may race
 * with writers in other processes: each value is read once, so a sum can be
 * a few increments behind, never torn on the 64-bit targets we build for. */
void gw_shmetrics_sum(const gw_metrics *slots, size_t n, gw_metrics *out);

/* Clears the gauges of one slot (open WebSockets, links): called for a worker that
 * died, whose connections died with it. Counters are kept. */
void gw_shmetrics_reset_gauges(gw_metrics *slot);

#endif

/* nf_history: one channel's retained events, oldest first, for resume.
 *
 * A ring of entries (id, plain frame, deflated twin, arrival time) bounded by
 * a count (--history) and an age (--history-ttl). Entries hold their own
 * references on the frames, which are the very hr_msg blocks sent to live
 * subscribers, so retaining an event costs one entry, not a copy.
 *
 *   ring: [ . . e3 e4 e5 e6 . . ]      head -> e3 (oldest), len = 4
 *
 * Ids are appended in increasing order (the broker's order), so "everything
 * after since" is a binary search. The newest id ever evicted is kept:
 * a resume from since is complete ("recovered") only if nothing after since
 * was evicted. The ring grows by doubling up to the count bound, so quiet
 * channels stay small. */
#ifndef NF_HISTORY_H
#define NF_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/event.h"
#include "core/msg.h"

typedef struct nf_hist_entry {
    hr_event_id id;
    hr_msg *plain;    /* complete text frame; one reference held */
    hr_msg *deflated; /* RSV1 twin, made lazily; NULL or one reference held */
    uint64_t ts_ms;   /* arrival time, loop clock */
} nf_hist_entry;

typedef struct nf_history {
    nf_hist_entry *ring;
    uint32_t cap;        /* allocated entries (power of two or 0) */
    uint32_t head;       /* index of the oldest entry */
    uint32_t len;        /* entries held */
    hr_event_id evicted; /* newest id evicted so far; zero when none */
} nf_history;

/* Initialises an empty history in caller storage (no allocation). */
void nf_history_init(nf_history *h);

/* Drops every entry's references and frees the ring. Reusable afterwards
 * (empty, evicted kept). */
void nf_history_deinit(nf_history *h);

/* Appends an event: takes a new reference on plain (the caller keeps its
 * own). id must be newer than every id appended or evicted before. When the
 * history holds max_count entries the oldest is evicted first; max_count 0
 * keeps nothing (the id counts as evicted). Returns 0, HR_EINVAL (id not
 * newer: nothing changes) or HR_ENOMEM (nothing appended; the id counts as
 * evicted so resume reports recovered:false). */
int nf_history_append(nf_history *h, hr_event_id id, hr_msg *plain, uint64_t ts_ms,
                      uint32_t max_count);

/* Evicts entries that arrived before cutoff_ms (ts_ms < cutoff_ms). Returns
 * the number evicted. */
size_t nf_history_expire(nf_history *h, uint64_t cutoff_ms);

/* Index (0 = oldest) of the first entry with an id newer than since, or
 * h->len when there is none. */
uint32_t nf_history_first_after(const nf_history *h, hr_event_id since);

/* Entry i (0 = oldest, i < h->len). Valid until the next append, expire or
 * deinit. The caller may set entry->deflated (handing over one reference)
 * when it is NULL. */
nf_hist_entry *nf_history_at(const nf_history *h, uint32_t i);

/* True when everything after since is still held: no id newer than since
 * has been evicted. */
bool nf_history_covers(const nf_history *h, hr_event_id since);

/* Number of entries held. */
static inline uint32_t nf_history_len(const nf_history *h)
{
    return h->len;
}

#endif

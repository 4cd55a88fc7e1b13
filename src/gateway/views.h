/* The per-view frame cache of the transformation layer (SPEC §7, per-view
 * fan-out): for one gateway worker, (route, channel, event id, view key) ->
 * the transformed frame and its deflated twin, so that on_event runs once
 * per event per distinct view, however many connections share the view and
 * however many frames bring the event to this worker.
 *
 * Keyed by the event, not by the frame that carried it: one event reaches a
 * worker as several frames (two links per server, BCASTs capped at 4,096
 * ids, DATA for single sessions) and, with plain proxying, once per client
 * connection, each stream at its own pace: many loop turns may pass between
 * the first and the last copy of one event. So an entry lives by age, not by
 * turns: gw_views_end_turn (called at the end of each loop turn) evicts the
 * entries older than max_age_ms, and at most `capacity` entries are kept,
 * the oldest evicted first. Frames are therefore not held long after the
 * event has gone by, and never more than capacity of them.
 *
 * Pure data structure: no libuv, no Lua; time is passed in. One small
 * allocation per entry (its key).
 * Not thread-safe: one per worker loop. */
#ifndef GW_VIEWS_H
#define GW_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Longest parts of a key (bytes); longer keys are not cached. */
#define GW_VIEWS_CHANNEL_MAX 128
#define GW_VIEWS_ID_MAX 128
#define GW_VIEWS_VIEW_MAX 256

typedef struct gw_views gw_views;

/* What one view of one event looks like. drop: on_event dropped the event
 * for this view (plain and deflated are NULL). plain NULL without drop: the
 * event goes out unchanged. deflated may be NULL until
 * first needed (gw_views_set_deflated). The entry holds one reference to
 * each frame. */
typedef struct gw_view_frames {
    hr_msg *plain;
    hr_msg *deflated;
    bool drop;
    bool close; /* the caller's mark (the transform: close this view's clients); put clears it */
} gw_view_frames;

/* The key; the strings need not be NUL-terminated and are copied by put. */
typedef struct gw_view_key {
    uint32_t route;
    const char *channel;
    size_t clen;
    const char *id;
    size_t idlen;
    const char *view;
    size_t vlen;
} gw_view_key;

/* A cache of at most capacity entries (>= 1) that keeps an entry until a
 * gw_views_end_turn at least max_age_ms after it was put (0: the next).
 * NULL when out of memory or capacity is 0. */
gw_views *gw_views_new(size_t capacity, uint64_t max_age_ms);

/* Drops every entry's references and frees the cache. NULL is a no-op. */
void gw_views_free(gw_views *v);

/* True when every part of k fits the limits above (only such keys are
 * cached). */
bool gw_views_key_fits(const gw_view_key *k);

/* The frames stored for k, or NULL. Borrowed: valid until the next put,
 * end_turn or free. */
gw_view_frames *gw_views_find(gw_views *v, const gw_view_key *k);

/* Stores k -> plain (a reference is taken; NULL with drop) and returns the
 * entry's frames (borrowed, as above), replacing an entry with the same
 * key. Evicts the oldest entry when full. The entry is born at the time of
 * the last gw_views_end_turn. Returns NULL when k does not fit or memory
 * runs out. */
gw_view_frames *gw_views_put(gw_views *v, const gw_view_key *k, hr_msg *plain, bool drop);

/* Stores the deflated twin (a reference is taken), replacing any. */
void gw_views_set_deflated(gw_view_frames *f, hr_msg *deflated);

/* The end of a loop turn at now_ms (monotonic): evicts the entries born
 * max_age_ms or longer before. */
void gw_views_end_turn(gw_views *v, uint64_t now_ms);

/* Entries held now. */
size_t gw_views_count(const gw_views *v);

#endif

/* gw_credits: the window a gateway owes back over one herald-link, kept
 * per link and returned once per loop turn (docs/link.md, flow control).
 * Pure: no libuv, no sockets; the link calls gw_credits_write from its
 * flush hook.
 *
 *   wsproxy relayed_down ─▶ gw_usess_credit(s, n) ─▶ gw_credits_add (per link)
 *   end of loop turn     ─▶ gw_credits_write ─▶ one CREDITS frame for every
 *                           (session, bytes) pair owed (peer >= v3), or one
 *                           CREDIT per pair (older peers)
 *
 * A session credited several times in a turn has one pair (the bytes add
 * up). A write that fails (the link's batch is over its bound) leaves every
 * pair it did not write owed, for the next turn: window is never lost
 * (review O1). A session that ends drops its owed bytes (gw_credits_forget);
 * a pair already handed to a failed write may still go out later for a
 * session the notifier no longer knows, which it ignores (ids carry a
 * generation, so they never name a newer session).
 *
 * Pairs carry at most UINT32_MAX bytes; more owed by one session becomes a
 * second pair. */
#ifndef GW_CREDITS_H
#define GW_CREDITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "proto/link.h"

/* One (session, bytes) pair; bytes 0: forgotten, skipped. The CREDITS
 * writer's own pair type (link v3), so a run of pairs is written as is. */
typedef hr_link_credit gw_credit;

typedef struct gw_credits {
    gw_credit *v;
    size_t n, cap;
    uint32_t gen; /* changes whenever indexes move: older refs are stale */
} gw_credits;

/* Where a session's pair of the current turn is (kept by the session);
 * zero-initialised means "none". */
typedef struct gw_credit_ref {
    uint32_t gen;
    uint32_t ix; /* index + 1 */
} gw_credit_ref;

void gw_credits_init(gw_credits *c);
void gw_credits_deinit(gw_credits *c);

/* Adds n bytes owed to session (n > 0, session != 0), to its pair of this
 * turn when ref names one. Returns 0 or HR_ENOMEM (then nothing changed:
 * the caller keeps the bytes owed and adds them again later). */
int gw_credits_add(gw_credits *c, gw_credit_ref *ref, uint32_t session, uint32_t n);

/* The session ended: its pair (if ref names one) is dropped. */
void gw_credits_forget(gw_credits *c, gw_credit_ref *ref);

/* Pairs owed (forgotten ones included until the next write). */
static inline size_t gw_credits_pending(const gw_credits *c)
{
    return c->n;
}

/* Appends frames for every owed pair to out, in order: CREDITS frames of
 * at most max_pairs pairs (and no more than fit in out's free room) when
 * multi (the peer speaks link v3), else one CREDIT frame per pair. Stops at the first frame out refuses (HR_ETOOBIG:
 * over its bound, or HR_ENOMEM) and keeps that pair and the rest owed.
 * Stores the number of frames written in *frames (may be NULL). Returns 0
 * when nothing is owed any more, else the error. */
int gw_credits_write(gw_credits *c, hr_buf *out, bool multi, size_t max_pairs, size_t *frames);

#endif

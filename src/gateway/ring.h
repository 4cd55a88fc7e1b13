/* gw_ring: a consistent-hash ring with virtual nodes, used by the hash_user
 * balance so that a user's connections share one upstream and adding or
 * removing a server moves only about 1/N of the users. Pure data structure:
 * no I/O, no clock. */
#ifndef GW_RING_H
#define GW_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_RING_VNODES 160 /* points per server */

typedef struct gw_ring_point {
    uint64_t hash;
    uint32_t server;
} gw_ring_point;

typedef struct gw_ring {
    gw_ring_point *points; /* sorted by hash */
    size_t n_points;
} gw_ring;

/* 64-bit hash of p[0..len) (FNV-1a followed by a murmur3 finaliser). */
uint64_t gw_ring_hash(const void *p, size_t len);

/* Builds the ring for n servers named names[0..n) (e.g. "127.0.0.1:7070";
 * a server's points depend only on its name, which is what keeps movement
 * small). r is caller storage. Returns 0 or HR_ENOMEM (r is then empty). */
int gw_ring_init(gw_ring *r, const char *const *names, size_t n);

/* Frees the points. */
void gw_ring_deinit(gw_ring *r);

/* Walks the ring clockwise from hash(key) and returns the first server for
 * which usable(server, arg) is true (usable NULL: any), or -1 when none is. */
int gw_ring_lookup(const gw_ring *r, const void *key, size_t len,
                   bool (*usable)(uint32_t server, void *arg), void *arg);

#endif

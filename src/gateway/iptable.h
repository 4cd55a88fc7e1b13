/* gw_iptable: per-client-IP accounting for the edge limits of SPEC §4:
 * open connections per IP (503 past max_connections_per_ip) and the
 * handshake rate per IP (429 past handshakes_per_ip_per_s, a token bucket
 * refilled continuously). Pure: the caller passes the time. Entries live in
 * an open-addressing hash table that is bounded (max_entries); the periodic
 * sweep forgets IPs that hold no connection and a full bucket. */
#ifndef GW_IPTABLE_H
#define GW_IPTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct gw_ip_entry {
    uint8_t key[17]; /* family byte + 16 address bytes; key[0] == 0: empty slot */
    uint32_t conns;
    double tokens;
    uint64_t last_ms;
} gw_ip_entry;

typedef struct gw_iptable {
    gw_ip_entry *slots;
    size_t cap; /* power of two */
    size_t used;
    size_t max_entries;
} gw_iptable;

/* Initialises t for up to max_entries distinct IPs. Returns 0 or HR_ENOMEM. */
int gw_iptable_init(gw_iptable *t, size_t max_entries);

/* Frees the table. */
void gw_iptable_deinit(gw_iptable *t);

/* Takes one handshake token for addr at now_ms with a bucket of rate_per_s
 * tokens (capacity rate_per_s, refilled at rate_per_s per second). Returns 0,
 * HR_ELIMIT (rate exceeded: 429) or HR_ENOMEM (table full: treat as 503). */
int gw_iptable_handshake(gw_iptable *t, const struct sockaddr *addr, uint64_t now_ms,
                         uint64_t rate_per_s);

/* Counts a new connection for addr unless it already holds max. Returns 0,
 * HR_ELIMIT (at max: 503) or HR_ENOMEM. */
int gw_iptable_conn_open(gw_iptable *t, const struct sockaddr *addr, uint64_t max);

/* Releases a connection counted by gw_iptable_conn_open. */
void gw_iptable_conn_close(gw_iptable *t, const struct sockaddr *addr);

/* Forgets entries with no connection whose bucket has refilled (call about
 * once a second with the same rate as gw_iptable_handshake). Returns 0 or
 * HR_ENOMEM (the table is left unchanged). */
int gw_iptable_sweep(gw_iptable *t, uint64_t now_ms, uint64_t rate_per_s);

/* Number of IPs currently tracked. */
static inline size_t gw_iptable_size(const gw_iptable *t)
{
    return t->used;
}

/* Open connections currently counted for addr. */
uint32_t gw_iptable_conns(const gw_iptable *t, const struct sockaddr *addr);

#endif

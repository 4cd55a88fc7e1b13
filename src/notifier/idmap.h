/* nf_idmap: a map from a 32-bit id to a pointer (a link's session ids to
 * its sessions), open addressing with linear probing, grown at 3/4 load.
 * Removal leaves a tombstone so probes run on; the table is rebuilt without
 * them when it grows. No memory until the first put. Pure: no loop, no I/O.
 *
 * Iterate with
 *   for (size_t i = 0; i < m->cap; i++)
 *       if ((v = nf_idmap_slot(m, i)) != NULL) ...
 * and remove during the walk with nf_idmap_clear_slot(m, i). */
#ifndef NF_IDMAP_H
#define NF_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct nf_idmap_entry {
    uint32_t id;
    void *v; /* NULL: empty; the tombstone: removed */
} nf_idmap_entry;

typedef struct nf_idmap {
    nf_idmap_entry *e;
    size_t cap;  /* a power of two, or 0 */
    size_t used; /* slots taken, tombstones included */
    size_t live; /* entries */
} nf_idmap;

/* An empty map in caller storage. */
void nf_idmap_init(nf_idmap *m);

/* Frees the table (the values are the caller's). */
void nf_idmap_deinit(nf_idmap *m);

/* The value stored for id, or NULL. */
void *nf_idmap_get(const nf_idmap *m, uint32_t id);

/* Stores v (not NULL) for id, which must not be present. Returns 0 or
 * HR_ENOMEM (nothing stored). */
int nf_idmap_put(nf_idmap *m, uint32_t id, void *v);

/* Removes the entry of id if it holds exactly v (an id reused after v was
 * replaced keeps its new value). */
void nf_idmap_del(nf_idmap *m, uint32_t id, const void *v);

/* The value in slot i (i < cap), or NULL for an empty or removed slot. */
void *nf_idmap_slot(const nf_idmap *m, size_t i);

/* Removes whatever slot i holds (for walks that end every entry). */
void nf_idmap_clear_slot(nf_idmap *m, size_t i);

#endif

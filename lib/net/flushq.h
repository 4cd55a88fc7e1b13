/* hr_flushq: the server's list of connections with bytes to write, as an
 * intrusive FIFO (a node lives inside each hr_conn; the queue allocates
 * nothing). The flush pass takes connections from the front a bounded
 * number per loop turn (server.c), so the loop polls between chunks of a
 * long fan-out: a publish read there is answered without waiting for the
 * whole pass, and its frames join the queues of the connections not yet
 * written, which then send both in one writev. A connection queued again
 * after its write goes to the back (every connection gets its turn); an
 * answer to a request goes to the front (its peer is waiting for it).
 * Sans-I/O: tests/unit/test_net_flushq.c. */
#ifndef HR_NET_FLUSHQ_H
#define HR_NET_FLUSHQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hr_flushq_node {
    struct hr_flushq_node *next, *prev;
} hr_flushq_node;

typedef struct hr_flushq {
    hr_flushq_node *head, *tail;
    size_t len;
} hr_flushq;

/* An empty queue. Nodes start zeroed (not queued). */
void hr_flushq_init(hr_flushq *q);

/* Appends n (not queued) at the back / puts it at the front. */
void hr_flushq_push_back(hr_flushq *q, hr_flushq_node *n);
void hr_flushq_push_front(hr_flushq *q, hr_flushq_node *n);

/* Takes the front node, or NULL when empty. */
hr_flushq_node *hr_flushq_pop(hr_flushq *q);

/* Removes n wherever it is (a connection closed while queued); false when n
 * is not queued. O(1): every close calls it, and a wave of closes (slow
 * readers cut off with 1013, a restart) must not walk a long queue each. */
bool hr_flushq_remove(hr_flushq *q, hr_flushq_node *n);

static inline bool hr_flushq_empty(const hr_flushq *q)
{
    return q->head == NULL;
}

#endif

/* nf_cpub: client publish (docs/protocol.md "Client publish"): one
 * command's event handed to the loop's broker, and the answer given to its
 * owner (a session) when the broker confirms. The broker completes later
 * (Redis, NATS, RabbitMQ) or before nf_cpub_start returns (memory); an
 * owner that goes away first is forgotten (nf_cpub_forget), and the
 * request is freed when the broker completes or is freed. A shard loop
 * (loops.h) has no broker: its requests wait here for the primary's
 * answer, which comes back through the shard's inbox. */
#ifndef NF_CPUB_H
#define NF_CPUB_H

#include <stddef.h>

#include "app.h"

/* The broker's answer: status 0 with the event's id (text), or an HR_E*
 * code with id NULL. tag and ref are nf_cpub_start's (ref NULL when the
 * command had none). */
typedef void (*nf_cpub_done)(void *owner, void *tag, int status, const char *id, const char *ref);

/* Publishes data[0..len) (compact JSON) on channel through l's broker for
 * owner; on a shard (no broker), through l->forward_publish to the
 * primary. Returns 0 when taken (done follows exactly once, possibly
 * before this returns, unless forgotten), HR_EBROKER when the broker is not
 * connected or there is no way to one, HR_ELIMIT when the way to the
 * primary is full, HR_ENOMEM. */
int nf_cpub_start(nf_loop *l, void *owner, nf_cpub_done done, void *tag, const char *channel,
                  const char *data, size_t len, const char *ref);

/* A shard: the primary answered the publish forwarded with tag (see
 * nf_loop.forward_publish). */
void nf_cpub_complete(nf_loop *l, void *tag, int status, const char *id);

/* The owner is gone: its pending publishes answer nobody. */
void nf_cpub_forget(nf_loop *l, void *owner);

/* Frees what the broker never completed (call after it was freed). */
void nf_cpub_free_pending(nf_loop *l);

#endif

/* The in-process memory broker (--broker memory): publishing through the
 * notifier's HTTP API delivers the events straight to on_event. Event ids are
 * "<start ms>-<counter>" with start ms the wall-clock time the broker was
 * created, so ids keep increasing across restarts: a client resuming with an
 * id from a previous process holds an id older than everything retained and
 * correctly gets recovered:false. One instance only (nothing is shared). */
#ifndef HR_MEMORY_H
#define HR_MEMORY_H

#include <stdint.h>

#include "broker/broker.h"

/* Creates a memory broker whose ids start at (start_ms, 1). start_ms must be
 * > 0 (so ids always use the "ms-seq" form). Returns NULL when out of memory.
 * Prefer hr_broker_new(loop, "memory", ...), which uses the current time. */
hr_broker *hr_memory_new(uv_loop_t *loop, uint64_t start_ms, const hr_broker_callbacks *cb,
                         void *app);

#endif

/* The memory broker (see memory.h). Publishing assigns the next id to each
 * item, delivers every event to on_event in order, then completes the
 * publish, all before hr_broker_publish returns: there is no queue, so there
 * is nothing to bound and nothing to lose. It is always ready once started. */
#include "broker/memory.h"

#include <stdlib.h>

#include "core/err.h"

typedef struct memory_broker {
    hr_broker base;
    uint64_t start_ms;
    uint64_t next_seq;
    hr_event_id *ids; /* scratch for completions, grown to the largest batch */
    size_t ids_cap;
} memory_broker;

static int memory_start(hr_broker *b)
{
    b->ready = true;
    if (b->cb.on_state != NULL)
        b->cb.on_state(b->app, true, "memory broker ready");
    return 0;
}

static int reserve_ids(memory_broker *m, size_t n)
{
    if (n <= m->ids_cap)
        return 0;
    if (n > SIZE_MAX / sizeof *m->ids)
        return HR_ENOMEM;
    hr_event_id *ids = realloc(m->ids, n * sizeof *ids);
    if (ids == NULL)
        return HR_ENOMEM;
    m->ids = ids;
    m->ids_cap = n;
    return 0;
}

static int memory_publish(hr_broker *b, const hr_pub_item *items, size_t n, hr_broker_publish_cb cb,
                          void *arg)
{
    memory_broker *m = (memory_broker *)b;
    const int rc = reserve_ids(m, n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const hr_event ev = {
            .id = {m->start_ms, m->next_seq++},
            .channels = (const char *const *)items[i].channels,
            .n_channels = items[i].n_channels,
            .data = items[i].data,
            .data_len = items[i].data_len,
            .event = items[i].event,
            .event_len = items[i].event_len,
            .exclude = items[i].exclude,
            .exclude_len = items[i].exclude_len,
        };
        m->ids[i] = ev.id;
        if (b->cb.on_event != NULL)
            b->cb.on_event(b->app, &ev);
    }
    cb(arg, 0, m->ids, n);
    return 0;
}

static void memory_free(hr_broker *b)
{
    memory_broker *m = (memory_broker *)b;
    free(m->ids);
    free(m);
}

static const hr_broker_ops memory_ops = {
    .name = "memory",
    .start = memory_start,
    .publish = memory_publish,
    .free = memory_free,
};

hr_broker *hr_memory_new(uv_loop_t *loop, uint64_t start_ms, const hr_broker_callbacks *cb,
                         void *app)
{
    HR_ASSERT(start_ms > 0);
    memory_broker *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->base.ops = &memory_ops;
    m->base.loop = loop;
    m->base.cb = *cb;
    m->base.app = app;
    m->start_ms = start_ms;
    m->base.origin = (hr_event_id){start_ms, 0};
    m->next_seq = 1;
    return &m->base;
}

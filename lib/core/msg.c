/* Refcounted immutable byte blocks shared across send queues and history. */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

hr_msg *hr_msg_new(size_t len)
{
    if (len > HR_MSG_MAX)
        return NULL;
    hr_msg *m = hr_malloc(sizeof *m + len);
    if (m == NULL)
        return NULL;
    atomic_init(&m->refs, 1);
    m->len = (uint32_t)len;
    m->head_len = 0;
    return m;
}

hr_msg *hr_msg_new_copy(const void *p, size_t len)
{
    hr_msg *m = hr_msg_new(len);
    if (m != NULL && len > 0)
        memcpy(m->data, p, len);
    return m;
}

hr_msg *hr_msg_ref(hr_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void hr_msg_unref(hr_msg *m)
{
    if (m == NULL)
        return;
    const unsigned prev = atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel);
    HR_ASSERT(prev > 0);
    if (prev == 1)
        hr_free(m);
}

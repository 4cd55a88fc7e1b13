/* The thread-to-loop hand-off (see handoff.h): producers append under a
 * mutex and send one uv_async; the loop takes the whole list in one lock,
 * wakes producers waiting for room, and hands the items out unlocked, so a
 * slow on_item never holds up a producer for longer than a pointer swap. */
#include "broker/handoff.h"

#include "core/err.h"

void hr_handoff_post(hr_handoff *h, hr_handoff_item *item)
{
    uv_mutex_lock(&h->mu);
    item->next = NULL;
    if (h->tail != NULL)
        h->tail->next = item;
    else
        h->head = item;
    h->tail = item;
    h->n++;
    uv_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
}

bool hr_handoff_wait_space(hr_handoff *h)
{
    uv_mutex_lock(&h->mu);
    while (h->n >= h->max && !h->stopped)
        uv_cond_wait(&h->space, &h->mu);
    const bool ok = !h->stopped;
    uv_mutex_unlock(&h->mu);
    return ok;
}

void hr_handoff_stop(hr_handoff *h)
{
    uv_mutex_lock(&h->mu);
    h->stopped = true;
    uv_cond_broadcast(&h->space);
    uv_mutex_unlock(&h->mu);
}

static hr_handoff_item *take_all(hr_handoff *h)
{
    uv_mutex_lock(&h->mu);
    hr_handoff_item *list = h->head;
    h->head = h->tail = NULL;
    h->n = 0;
    uv_cond_broadcast(&h->space);
    uv_mutex_unlock(&h->mu);
    return list;
}

static void give_all(hr_handoff *h, hr_handoff_item *list, hr_handoff_item_cb cb)
{
    while (list != NULL) {
        hr_handoff_item *next = list->next;
        cb(h, list);
        list = next;
    }
}

static void on_async(uv_async_t *a)
{
    hr_handoff *h = a->data;
    give_all(h, take_all(h), h->on_item);
}

static void on_async_closed(uv_handle_t *handle)
{
    hr_handoff *h = handle->data;
    give_all(h, take_all(h), h->on_drop); /* nothing may call back now */
    uv_cond_destroy(&h->space);
    uv_mutex_destroy(&h->mu);
    h->on_closed(h);
}

int hr_handoff_init(hr_handoff *h, uv_loop_t *loop, size_t max, hr_handoff_item_cb on_item,
                    void *data)
{
    *h = (hr_handoff){.data = data, .max = max, .on_item = on_item};
    if (uv_mutex_init(&h->mu) != 0)
        return HR_EINTERNAL;
    if (uv_cond_init(&h->space) != 0)
        goto fail_cond;
    if (uv_async_init(loop, &h->async, on_async) != 0)
        goto fail_async;
    h->async.data = h;
    return 0;
fail_async:
    uv_cond_destroy(&h->space);
fail_cond:
    uv_mutex_destroy(&h->mu);
    return HR_EINTERNAL;
}

void hr_handoff_close(hr_handoff *h, hr_handoff_item_cb on_drop, hr_handoff_closed_cb on_closed)
{
    h->on_drop = on_drop;
    h->on_closed = on_closed;
    uv_close((uv_handle_t *)&h->async, on_async_closed);
}

/* Client publish through the broker (cpub.h). Requests wait in the loop's
 * list so a freed broker (whose callbacks are dropped) leaks nothing. */
#include "cpub.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct nf_cpub {
    nf_loop *loop;
    void *owner; /* NULL once forgotten */
    nf_cpub_done done;
    void *tag;
    char *ref;
    nf_cpub *prev, *next; /* in loop->cpubs */
};

static void unlink_pub(nf_cpub *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        p->loop->cpubs = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
}

static void pub_free(nf_cpub *p)
{
    free(p->ref);
    free(p);
}

static void finish(nf_cpub *p, int status, const char *id)
{
    unlink_pub(p);
    if (p->owner != NULL)
        p->done(p->owner, p->tag, status, status == 0 ? id : NULL, p->ref);
    pub_free(p);
}

static void on_done(void *arg, int status, const hr_event_id *ids, size_t n)
{
    char id[HR_EVENT_ID_CAP];
    if (status == 0 && n == 1)
        hr_event_id_format(ids[0], id, sizeof id);
    else if (status == 0)
        status = HR_EBROKER;
    finish(arg, status, id);
}

void nf_cpub_complete(nf_loop *l, void *tag, int status, const char *id)
{
    (void)l;
    finish(tag, status, id);
}

int nf_cpub_start(nf_loop *l, void *owner, nf_cpub_done done, void *tag, const char *channel,
                  const char *data, size_t len, const char *ref)
{
    if (l->broker == NULL ? l->forward_publish == NULL : !hr_broker_is_ready(l->broker))
        return HR_EBROKER;
    nf_cpub *p = calloc(1, sizeof *p);
    if (p == NULL || (ref != NULL && (p->ref = strdup(ref)) == NULL)) {
        free(p);
        return HR_ENOMEM;
    }
    p->loop = l;
    p->owner = owner;
    p->done = done;
    p->tag = tag;
    p->next = l->cpubs;
    if (l->cpubs != NULL)
        l->cpubs->prev = p;
    l->cpubs = p;
    char *names[1] = {(char *)channel};
    const hr_pub_item item = {
        .channels = names, .n_channels = 1, .data = (char *)data, .data_len = len};
    const int rc = l->broker != NULL ? hr_broker_publish(l->broker, &item, 1, on_done, p)
                                     : l->forward_publish(l->forward_arg, channel, data, len, p);
    if (rc != 0) {
        unlink_pub(p);
        pub_free(p);
    }
    return rc;
}

void nf_cpub_forget(nf_loop *l, void *owner)
{
    for (nf_cpub *p = l->cpubs; p != NULL; p = p->next)
        if (p->owner == owner)
            p->owner = NULL;
}

void nf_cpub_free_pending(nf_loop *l)
{
    while (l->cpubs != NULL) {
        nf_cpub *p = l->cpubs;
        unlink_pub(p);
        pub_free(p);
    }
}

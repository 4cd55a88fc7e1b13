/* The flush queue (flushq.h): a doubly linked FIFO with a tail pointer. */
#include "flushq.h"

void hr_flushq_init(hr_flushq *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
}

void hr_flushq_push_back(hr_flushq *q, hr_flushq_node *n)
{
    n->next = NULL;
    n->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->len++;
}

void hr_flushq_push_front(hr_flushq *q, hr_flushq_node *n)
{
    n->prev = NULL;
    n->next = q->head;
    if (q->head != NULL)
        q->head->prev = n;
    else
        q->tail = n;
    q->head = n;
    q->len++;
}

/* A node is queued when it has a neighbour before it or is the head (a
 * node taken out has both links cleared). */
static bool queued(const hr_flushq *q, const hr_flushq_node *n)
{
    return n->prev != NULL || q->head == n;
}

bool hr_flushq_remove(hr_flushq *q, hr_flushq_node *n)
{
    if (!queued(q, n))
        return false;
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    n->next = n->prev = NULL;
    q->len--;
    return true;
}

hr_flushq_node *hr_flushq_pop(hr_flushq *q)
{
    hr_flushq_node *n = q->head;
    if (n != NULL)
        hr_flushq_remove(q, n);
    return n;
}

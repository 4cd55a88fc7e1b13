/* The flush queue (flushq.h): a singly linked FIFO with a tail pointer. */
#include "flushq.h"

void hr_flushq_init(hr_flushq *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
}

void hr_flushq_push_back(hr_flushq *q, hr_flushq_node *n)
{
    n->next = NULL;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->len++;
}

void hr_flushq_push_front(hr_flushq *q, hr_flushq_node *n)
{
    n->next = q->head;
    q->head = n;
    if (q->tail == NULL)
        q->tail = n;
    q->len++;
}

hr_flushq_node *hr_flushq_pop(hr_flushq *q)
{
    hr_flushq_node *n = q->head;
    if (n == NULL)
        return NULL;
    q->head = n->next;
    if (q->head == NULL)
        q->tail = NULL;
    n->next = NULL;
    q->len--;
    return n;
}

bool hr_flushq_remove(hr_flushq *q, hr_flushq_node *n)
{
    hr_flushq_node *prev = NULL;
    for (hr_flushq_node *p = q->head; p != NULL; prev = p, p = p->next) {
        if (p != n)
            continue;
        if (prev != NULL)
            prev->next = n->next;
        else
            q->head = n->next;
        if (q->tail == n)
            q->tail = prev;
        n->next = NULL;
        q->len--;
        return true;
    }
    return false;
}

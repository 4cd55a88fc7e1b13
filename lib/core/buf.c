/* Linear input buffer with head consumption and compaction (see buf.h). */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

void hr_buf_init(hr_buf *b, size_t max)
{
    *b = (hr_buf){.max = max};
}

void hr_buf_deinit(hr_buf *b)
{
    hr_free(b->base);
    b->base = NULL;
    b->off = b->len = b->cap = 0;
}

static void compact(hr_buf *b)
{
    if (b->off == 0)
        return;
    if (b->len > 0)
        memmove(b->base, b->base + b->off, b->len);
    b->off = 0;
}

uint8_t *hr_buf_reserve(hr_buf *b, size_t want, size_t *avail)
{
    *avail = 0;
    if (want == 0)
        want = 1;
    if (b->cap - b->off - b->len < want && b->off > 0)
        compact(b);
    size_t free_space = b->cap - b->off - b->len;
    if (free_space < want && b->cap < b->max) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap - b->len < want && ncap < b->max)
            ncap = ncap > b->max / 2 ? b->max : ncap * 2;
        if (ncap > b->max)
            ncap = b->max;
        uint8_t *nb = hr_realloc(b->base, ncap);
        if (nb == NULL) {
            *avail = 1;
            return NULL;
        }
        b->base = nb;
        b->cap = ncap;
        free_space = b->cap - b->off - b->len;
    }
    if (free_space == 0)
        return NULL;
    *avail = free_space;
    return b->base + b->off + b->len;
}

void hr_buf_commit(hr_buf *b, size_t n)
{
    HR_ASSERT(b->off + b->len + n <= b->cap);
    b->len += n;
}

void hr_buf_consume(hr_buf *b, size_t n)
{
    HR_ASSERT(n <= b->len);
    b->off += n;
    b->len -= n;
    if (b->len == 0) {
        hr_buf_deinit(b);
        return;
    }
    if (b->off > b->cap / 2)
        compact(b);
}

int hr_buf_append(hr_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > b->max - b->len)
        return HR_ETOOBIG;
    size_t avail;
    uint8_t *tail = hr_buf_reserve(b, n, &avail);
    if (tail == NULL)
        return avail == 1 ? HR_ENOMEM : HR_ETOOBIG;
    HR_ASSERT(avail >= n);
    memcpy(tail, p, n);
    hr_buf_commit(b, n);
    return 0;
}

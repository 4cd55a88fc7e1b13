/* hr_uring: one flush pass's sends as one io_uring submission (issue 18).
 *
 * The server's flush pass adds one send per connection (the unwritten head
 * of its queue), then hr_uring_submit hands the whole batch to the kernel
 * in one io_uring_enter and waits for every completion. Each send carries
 * MSG_DONTWAIT: a full socket completes at once with -EAGAIN (or a short
 * count) instead of waiting, so nothing stays in flight past the call and
 * the caller finishes the rest with its ordinary (libuv) write. The ring is
 * one per server, used only from its loop's thread.
 *
 * Built only with HERALD_IO_URING (liburing); without it, and when the
 * kernel refuses a ring, hr_uring_new returns NULL and the server writes
 * with libuv. */
#ifndef HR_NET_URING_H
#define HR_NET_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct hr_uring hr_uring;

/* Called once per added send, after the kernel finished all of them:
 * res is the bytes written or a negative errno (-EAGAIN: none). */
typedef void (*hr_uring_done_cb)(void *owner, int res);

/* A ring for batches of up to `entries` sends. NULL when io_uring is not
 * built in, the kernel refuses it, or out of memory. */
hr_uring *hr_uring_new(unsigned entries);

void hr_uring_free(hr_uring *u);

/* Adds a send of bufs[0..n) (n >= 1) to fd. The buffers must stay valid
 * and unchanged until hr_uring_submit returns. False when the batch is full:
 * submit, then add again. */
bool hr_uring_add(hr_uring *u, int fd, const uv_buf_t *bufs, size_t n, void *owner);

/* To be called before fd is closed (or its number reused) if fd was ever
 * added: the ring may hold fd's socket in its file table, which keeps it
 * open. NULL u: nothing to do. */
void hr_uring_forget(hr_uring *u, int fd);

/* Descriptors in the ring's file table now (sends to them skip the kernel's
 * descriptor lookup). */
size_t hr_uring_registered(const hr_uring *u);

/* The ring has a file table: the kernel lets it (and releases a forgotten
 * file at once) and HERALD_IO_URING_FIXED is not "0". */
bool hr_uring_has_table(const hr_uring *u);

/* Sends added so far, not yet submitted. */
size_t hr_uring_pending(const hr_uring *u);

/* Submits the batch, waits for every completion, then calls done for each
 * send in the order added. done must not add to this ring (the results it
 * is called with live in the batch's storage). */
void hr_uring_submit(hr_uring *u, hr_uring_done_cb done);

#endif

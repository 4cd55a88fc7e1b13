/* hr_msg: a refcounted, immutable block of bytes, typically one complete
 * WebSocket frame (header + payload) built once and shared by every
 * subscriber's send queue and by channel history (STYLE.md §6).
 *
 * Ownership: hr_msg_new*() returns a message with one reference, owned by the
 * caller. Whoever keeps the pointer past a call holds a reference (take one
 * with hr_msg_ref) and drops it with hr_msg_unref; the last unref frees it.
 * The bytes may be written only between hr_msg_new() and the first time the
 * message is shared (ref'd or handed to anyone); afterwards they are frozen.
 * The count is _Atomic (increment relaxed, decrement acq_rel) so a message may
 * cross event-loop threads. */
#ifndef HR_MSG_H
#define HR_MSG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_msg {
    atomic_uint refs;
    uint32_t len;
    /* Where the payload starts when data is one frame (a WebSocket frame:
     * its header's size, 2..14), set by the frame builders; 0 otherwise.
     * Senders that need the payload alone (a herald-link DATA or BCAST, a
     * compressed twin) read data[head_len..len) instead of parsing the
     * header again. Frozen with the bytes. */
    uint16_t head_len;
    uint8_t data[];
} hr_msg;

/* Largest message: frames we build are far below this. */
#define HR_MSG_MAX ((size_t)UINT32_MAX - 64)

/* New message of len bytes, contents uninitialised (fill before sharing).
 * Returns NULL when out of memory or len > HR_MSG_MAX. */
hr_msg *hr_msg_new(size_t len);

/* New message holding a copy of p[0..len). NULL when out of memory. */
hr_msg *hr_msg_new_copy(const void *p, size_t len);

/* Takes a reference; returns m for convenience. */
hr_msg *hr_msg_ref(hr_msg *m);

/* Drops a reference; frees the message when it was the last. NULL is a no-op. */
void hr_msg_unref(hr_msg *m);

#endif

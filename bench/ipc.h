/* Byte transfer between herald-bench's parent and its workers over a
 * socketpair that may be non-blocking (libuv polls it). */
#ifndef BENCH_IPC_H
#define BENCH_IPC_H

#include <stddef.h>

/* Writes all of p[0..n) to fd, waiting with poll() when the socket is full.
 * Returns 0, or -1 when the peer is gone or after 10 s without progress. */
int bench_ipc_write_all(int fd, const void *p, size_t n);

/* Reads exactly n bytes into p, waiting with poll(). Returns 0, or -1 on
 * end of file, error, or 30 s without progress. */
int bench_ipc_read_all(int fd, void *p, size_t n);

#endif

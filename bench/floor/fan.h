/* One herald-floor process: accepts WebSocket clients on its own
 * SO_REUSEPORT listener and, for each publish its parent forwards, writes
 * the same text frame to every client, from one thread or several. */
#ifndef HERALD_FLOOR_FAN_H
#define HERALD_FLOOR_FAN_H

/* Largest event body the parent forwards (bytes). */
#define FLOOR_MAX_BODY 65536
/* Largest channel name in a forwarded publish. */
#define FLOOR_MAX_CHANNEL 128

/* Runs the process's loop until parent closes: listen_fd is a listening,
 * non-blocking socket; parent is a SOCK_SEQPACKET socket carrying
 * "<channel>\0<body>" one message per publish, answered with one byte once
 * every client was written. threads >= 1 writers share the clients.
 * uring_batch > 0: the writes go as io_uring submissions of that many
 * sends (a build with liburing). Returns the process's exit status. */
int floor_fan_run(int listen_fd, int parent, int threads, int uring_batch);

#endif

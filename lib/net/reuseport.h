/* hr_reuseport: SO_REUSEPORT listeners shared by worker processes, and
 * steering of new connections by client IP address.
 *
 * With plain SO_REUSEPORT the kernel picks a listener by a hash of the whole
 * 4-tuple, so one client address's connections spread over every worker and
 * per-IP limits kept in a worker would be N times too loose. Steering
 * attaches a tiny classic-BPF program to the listener group that picks the
 * listener from the source address alone (IPv4, or the low 32 bits of IPv6),
 * so every connection from one address reaches the same worker while the
 * group is whole. When an index is out of range (a worker restarting), the
 * kernel falls back to its hash: limits are then briefly per worker. */
#ifndef HR_REUSEPORT_H
#define HR_REUSEPORT_H

/* Sets SO_REUSEPORT on an unbound socket. Returns 0 or a negative errno. */
int hr_reuseport_enable(int fd);

/* Attaches the by-address steering program to fd's reuseport group of
 * groups listeners (2..65535); fd must be bound with SO_REUSEPORT. Every
 * member may attach the same program (the last one wins; they are equal).
 * Returns 0, HR_EINVAL for groups out of range, or a negative errno. */
int hr_reuseport_steer_by_ip(int fd, unsigned groups);

#endif

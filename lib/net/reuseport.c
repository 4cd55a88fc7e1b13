/* Reuseport listeners and by-address steering (reuseport.h). The program is
 * classic BPF because attaching it needs no privilege (eBPF reuseport
 * programs need CAP_BPF). It runs on the SYN with the packet's data at the
 * transport header, so it reads the IP header through SKF_NET_OFF:
 *
 *   A = version nibble of the IP header
 *   A = (A == 6) ? saddr[12..16) : saddr (IPv4, offset 12)
 *   return A % groups            -- index of the listener in the group */
#include "reuseport.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

int hr_reuseport_enable(int fd)
{
    const int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 ? 0 : -errno;
}

int hr_reuseport_steer_by_ip(int fd, unsigned groups)
{
    if (groups < 2 || groups > 65535)
        return HR_EINVAL;
    const uint32_t net = (uint32_t)SKF_NET_OFF;
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, net),                  /* first byte of the IP header */
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),                   /* version */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),             /* IPv6: skip two */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, net + 12),             /* IPv4 source address */
        BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),                      /* to the modulo */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, net + 20),             /* IPv6 source, last 32 bits */
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, groups),              /* listener index */
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    const struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0)
        return -errno;
    return 0;
}

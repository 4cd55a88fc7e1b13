#!/usr/bin/env bash
# idle: N subscribed clients doing nothing for 5 s; bytes per connection in
# each server process (RSS growth / N) and in the kernel (TCP buffers + slab
# growth / N, both ends of every loopback socket, whole host).
source "$(dirname "$0")/lib.sh"
scenario idle --events 0 --idle 5 --connect-rate 5000 "$@"

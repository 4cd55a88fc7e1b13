#!/usr/bin/env bash
# fanout: N subscribers of one channel, K = 100 broadcasts of 100 bytes, each
# published as soon as the previous one is acknowledged (max rate).
source "$(dirname "$0")/lib.sh"
scenario fanout --events 100 --size 100 --rate 0 --idle 1 --connect-rate 5000 "$@"

#!/usr/bin/env bash
# latency: N subscribers of one channel, 1 event per second for 20 s (100
# bytes); publish-to-receive percentiles over every delivery.
source "$(dirname "$0")/lib.sh"
scenario latency --events 20 --size 100 --rate 1 --idle 1 --connect-rate 5000 "$@"

#!/usr/bin/env bash
# many-channels: N clients on N/10 channels (10 subscribers each); 20 rounds,
# each publishing one 100-byte event to every channel, at max rate.
source "$(dirname "$0")/lib.sh"
for n in $NS; do
  NS=$n scenario many-channels --channels $((n / 10)) --events 20 --size 100 --rate 0 --idle 1 \
    --connect-rate 5000 "$@"
done

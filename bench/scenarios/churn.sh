#!/usr/bin/env bash
# churn: N clients that each connect, get ready (subscribed / 101), close
# with 1000 and reconnect, for 10 s; reports complete cycles per second.
source "$(dirname "$0")/lib.sh"
scenario churn --events 0 --churn 10 --connect-rate 100000 "$@"

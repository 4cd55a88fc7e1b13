#!/usr/bin/env bash
# Every scenario at NS (default 1000 5000), results in bench/results/*.jsonl,
# then the chart (bench/plot.sh). Takes about 10 minutes on the 2-core box.
set -euo pipefail
d=$(dirname "$0")
for s in idle fanout latency many-channels churn; do "$d/$s.sh"; done
"$d/../plot.sh"

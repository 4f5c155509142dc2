#!/usr/bin/env bash
# A/B of two livehub binaries' fan-out CPU, side by side: in each round both
# hubs run AT ONCE, each pinned to CPU $HUB_CPU with its own load tool on
# CPU $TOOL_CPU, so a slow minute of a shared machine falls on both alike.
# Run one after the other, CPU per delivery moves by ±10-15 % between runs
# here; run together, the pairs agree to a few per cent.
#
# Usage: bench/ab-pair.sh OLD_BINARY NEW_BINARY [rounds] [-- extra bench args]
#   e.g. bench/ab-pair.sh /tmp/livehub.old build/livehub 3 -- --transport sse
# Defaults: 3 rounds of `bench fanout --spawn --subscribers 1000 --payload 100
# --rate 250 --duration 15` (250, not 400 msg/s: two hubs share one core).
# Prints each round and each binary's median CPU-s per million deliveries.
set -euo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
HUB_CPU=${HUB_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
out=$(mktemp -d /tmp/ab-pair.XXXXXX)
trap 'rm -rf "$out"' EXIT

field() {  # field FILE KEY: a number from the run's --json line
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        print(json.loads(line)[sys.argv[2]]); break' "$1" "$2"
}

for round in $(seq 1 "$rounds"); do
  for b in old new; do
    bin=$old
    [ $b = new ] && bin=$new
    timeout 300 "$bin" bench fanout --spawn --taskset-hub "$HUB_CPU" --taskset-self "$TOOL_CPU" \
      --subscribers 1000 --payload 100 --rate 250 --duration 15 "$@" --json > "$out/$b.$round" 2>&1 &
  done
  wait
  for b in old new; do
    f=$out/$b.$round
    echo "round $round $b: $(field "$f" hub_cpu_s_per_million) CPU-s/M," \
      "p50 $(field "$f" latency_p50_ms) ms, p99 $(field "$f" latency_p99_ms) ms, lost $(field "$f" lost)"
  done
done | tee "$out/rounds"
for b in old new; do
  echo "$b median: $(grep " $b: " "$out/rounds" | awk '{print $4}' | sort -n |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') CPU-s per million deliveries"
done

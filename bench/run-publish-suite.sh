#!/usr/bin/env bash
# Publish throughput per durability mode (docs/benchmarks.md, "Publish"):
# memory | async | sync  x  payload 100 B / 1 kB  x  HTTP batches of 1 / 100
# x  1 / 100 concurrent keep-alive publishers, as fast as the hub answers,
# one subscriber checking every event (loss, order). The hub is spawned on a
# fresh data directory per run, pinned to CPU $HUB_CPU; the tool on $TOOL_CPU.
#
# Usage: bench/run-publish-suite.sh [path/to/livehub] [seconds per run]
# Prints a Markdown table (events/s, ratio to memory in the same row group).
set -euo pipefail
LIVEHUB=${1:-./build/livehub}
DURATION=${2:-3}
HUB_CPU=${HUB_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| payload | batch | publishers | memory ev/s | async ev/s | sync ev/s | async/memory | sync/memory | lost |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for payload in 100 1000; do
  for batch in 1 100; do
    for pubs in 1 100; do
      declare -A rate=()
      lost=0
      for mode in memory async sync; do
        printf 'store:\n  durability: %s\n' "$mode" > "$tmp/$mode.yaml"
        out=$(timeout 300 "$LIVEHUB" bench fanout --spawn --hub-config "$tmp/$mode.yaml" \
          --taskset-hub "$HUB_CPU" --taskset-self "$TOOL_CPU" --subscribers 1 --rate 0 \
          --publishers "$pubs" --batch "$batch" --payload "$payload" --duration "$DURATION" \
          --drain 3 --json 2>&1 | grep '^{' | tail -1)
        rate[$mode]=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["publish_rate"]))' "$out")
        l=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["lost"])' "$out")
        lost=$((lost + l))
      done
      ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else '-')"; }
      echo "| $payload | $batch | $pubs | ${rate[memory]} | ${rate[async]} | ${rate[sync]} |" \
           "$(ratio "${rate[async]}" "${rate[memory]}") | $(ratio "${rate[sync]}" "${rate[memory]}") | $lost |"
    done
  done
done

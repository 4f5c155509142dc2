#!/usr/bin/env bash
# Reruns the fan-out figures of docs/benchmarks.md on this machine:
#   1. WebSocket and SSE ramps: 1 stream x 1,000 subscribers x 100 B,
#      10 s per step, every step run (--keep-going), REPS times each;
#   2. the same WebSocket/SSE ramps with the hub configured `threads: 1`;
#   3. WebSocket beyond saturation with 64 publisher connections;
#   4. 10,000 idle WebSocket connections (hub RSS per connection), REPS times.
# The bench spawns the hub (`livehub serve --listen 127.0.0.1:0 --no-demo`)
# pinned to CPU $HUB_CPU and pins itself to CPU $TOOL_CPU. Loopback only;
# every step is bounded in time (see `livehub bench ramp --help`).
#
# Usage: bench/run-fanout-suite.sh [path/to/livehub] [output dir] [repetitions]
# Then:  bench/summarize.py OUTPUT_DIR/ramp-ws-*.txt   (etc.)
set -euo pipefail

LIVEHUB=${1:-/tmp/bench-build/livehub}
OUT=${2:-/tmp/livehub-bench-results}
REPS=${3:-3}
RATES=${RATES:-100,200,300,500,750,1000,2000}
HUB_CPU=${HUB_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
mkdir -p "$OUT"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo
  echo "kernel: $(uname -r)"
  echo "fd limit: soft $(ulimit -Sn) hard $(ulimit -Hn)"
  git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null | sed 's/^/commit: /' || true
} | tee "$OUT/machine.txt"

pin="--spawn --taskset-hub $HUB_CPU --taskset-self $TOOL_CPU"
ramp() {  # ramp OUTFILE [extra flags...]
  local out=$1
  shift
  echo "== $(basename "$out" .txt)"
  timeout 900 "$LIVEHUB" bench ramp $pin --subscribers 1000 --streams 1 --payload 100 \
    --duration 10 --keep-going --json "$@" 2>&1 | tee "$out"
}

for transport in ws sse; do
  for rep in $(seq 1 "$REPS"); do
    ramp "$OUT/ramp-$transport-$rep.txt" --transport "$transport" --rates "$RATES"
  done
done

printf 'threads: 1\n' > "$OUT/threads1.yaml"
for rep in $(seq 1 "$REPS"); do
  ramp "$OUT/threads1-ramp-ws-$rep.txt" --transport ws --rates 100,200,300,500,750,1000 \
    --hub-config "$OUT/threads1.yaml"
done
ramp "$OUT/threads1-ramp-sse-1.txt" --transport sse --rates 100,200,300,500 \
  --hub-config "$OUT/threads1.yaml"

ramp "$OUT/saturation-ws.txt" --transport ws --rates 1000,2000,5000 --publishers 64

for rep in $(seq 1 "$REPS"); do
  echo "== idle-$rep"
  timeout 300 "$LIVEHUB" bench fanout --idle $pin --subscribers 10000 --hold 5 --json \
    2>&1 | tee "$OUT/idle-$rep.txt"
done
echo "results in $OUT"

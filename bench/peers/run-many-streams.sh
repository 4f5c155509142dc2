#!/usr/bin/env bash
# Issue 17's many-streams scenario, side by side in one run: STREAMS streams
# x (SUBS / STREAMS) WebSocket subscribers each, 100-byte payloads, RATE
# msg/s in total over all streams (default 1,000 x 10 = 10,000 connections,
# 8,000 msg/s = 80,000 deliveries/s), against livehub on its defaults
# (store off), Nchan and uWebSockets.js. Each server pinned to CPU $HUB_CPU,
# `livehub bench` to $TOOL_CPU. The servers take turns within each round,
# so a slow minute of a shared machine falls on all of them alike; per
# round and as medians: server CPU-s per million deliveries, p50/p99,
# delivered/s against the expected RATE x SUBS/STREAMS, lost, and the load
# tool's CPU (>= 90 %: the tool was the limit, the figure is no comparison).
#
# Usage: bench/peers/run-many-streams.sh [livehub binary] (default build/livehub)
# Env: ROUNDS (3), STEP (15 s), RATE (8000), STREAMS (1000), SUBS (10000),
# SERVERS ("livehub nchan uws"), HUB_CPU (0), TOOL_CPU (1), OUT (mktemp -d;
# kept: one JSON line per run in $OUT/<server>.<round>).
# BENCH_DRY=1: 50 subscribers, 10 streams, 200 msg/s, 1 round of 2 s: a
# functional check. Installs nginx + libnginx-mod-nchan from Debian and
# uWebSockets.js from npm (npm ci in bench/peers/uws) if missing (lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LIVEHUB=$(realpath "${1:-$root/build/livehub}")
if [ "${BENCH_DRY:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-1} STEP=${STEP:-2} RATE=${RATE:-200} STREAMS=${STREAMS:-10} SUBS=${SUBS:-50}
fi
ROUNDS=${ROUNDS:-3}
STEP=${STEP:-15}
RATE=${RATE:-8000}
STREAMS=${STREAMS:-1000}
SUBS=${SUBS:-10000}
SERVERS=${SERVERS:-livehub nchan uws}
source "$here/lib.sh"
OUT=${OUT:-$(mktemp -d /tmp/many-streams.XXXXXX)}
mkdir -p "$OUT"
# A copy: a rebuild during the run must not swap the binary under it.
cp "$LIVEHUB" "$OUT/livehub.bin"
trap 'peer_stop; rm -f "$OUT/livehub.bin"' EXIT
ulimit -n "$(ulimit -Hn)"  # 10,000 subscribers + publishers in the tool
printf 'store:\n  enabled: false\n' > "$OUT/defaults.yaml"

{
  echo "date: $(date -u '+%F %H:%M UTC'); cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; kernel $(uname -r)"
  echo "livehub: $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo '?') ($LIVEHUB), defaults + store off"
  echo "load: $STREAMS streams x $((SUBS / STREAMS)) WebSocket subscribers ($SUBS), 100 B, $RATE msg/s total," \
    "$STEP s per run, $ROUNDS rounds; server CPU $HUB_CPU, load tool CPU $TOOL_CPU; SERVERS=\"$SERVERS\""
} | tee "$OUT/machine.txt"

common=(fanout --subscribers "$SUBS" --streams "$STREAMS" --payload 100 --rate "$RATE"
  --transport ws --duration "$STEP" --connect-timeout 120 --taskset-self "$TOOL_CPU" --json)
echo "command: livehub bench ${common[*]} <server>" | tee -a "$OUT/machine.txt"

# The machine is shared: a sampler notes the CPU that processes other than
# this script's used during each run ($f.others, % of one core); the report
# flags the runs where it is high.
for round in $(seq 1 "$ROUNDS"); do
  for server in $SERVERS; do
    f="$OUT/$server.$round"
    echo "load average before $server round $round: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
    taskset -c "$TOOL_CPU" python3 "$here/many-streams-report.py" --watch $$ "$f.others" &
    watcher=$!
    case $server in
      livehub)
        timeout 600 "$OUT/livehub.bin" bench "${common[@]}" --spawn --taskset-hub "$HUB_CPU" \
          --hub-config "$OUT/defaults.yaml" > "$f" 2>&1 || true
        ;;
      nchan | uws)
        if ! peer_start "$server" "$OUT/$server.d" 2>> "$OUT/machine.txt" > /dev/null; then
          echo "$server did not start (see $OUT/machine.txt, $OUT/$server.d)" | tee "$f"
          peer_stop
          kill -TERM "$watcher" 2> /dev/null || true
          continue
        fi
        grep -q "^$server: " "$OUT/versions.txt" 2> /dev/null || echo "$server: $PEER_VERSION" >> "$OUT/versions.txt"
        # uWebSockets.js speaks Nchan's URL scheme (bench/peers/uws/server.mjs).
        timeout 600 "$OUT/livehub.bin" bench "${common[@]}" --peer nchan --url "$PEER_URL" \
          --publish-url "$PEER_PUBLISH_URL" --hub-pid "$PEER_PIDS" > "$f" 2>&1 || true
        peer_stop
        ;;
      *)
        echo "unknown server '$server' (livehub nchan uws)" >&2
        exit 2
        ;;
    esac
    kill -TERM "$watcher" 2> /dev/null || true
    wait "$watcher" 2> /dev/null || true
    python3 "$here/many-streams-report.py" --round "$f" "$RATE" "$SUBS" "$STREAMS"
  done
done
echo
cat "$OUT/versions.txt" 2> /dev/null || true
python3 "$here/many-streams-report.py" --summary "$OUT" "$RATE" "$SUBS" "$STREAMS" "$ROUNDS" "$SERVERS"
echo "raw results: $OUT"

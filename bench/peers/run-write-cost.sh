#!/usr/bin/env bash
# Issue 17's first two targets, side by side with Nchan (and uWebSockets.js)
# on one pinned core: CPU per delivery of livehub with `write_delay_ms: 0`
# (every event its own write: the per-write cost) and with the defaults,
# against Nchan and uWebSockets.js (bench/peers/uws/server.mjs), at
# SUBS subscribers x RATE msg/s x 100 B over WebSocket. The servers take
# turns within each round, so a slow minute of a shared machine falls on
# all of them alike; the load tool's CPU is printed beside every figure (a
# figure measured with a saturated tool is not a comparison).
#
# Usage: bench/peers/run-write-cost.sh [livehub binary] (default build/livehub)
# Env: ROUNDS (3), SUBS (200), RATE (400), STEP (15 s), HUB_CPU (0), TOOL_CPU (1),
# SERVERS ("livehub-wd0 livehub-defaults nchan uws").
# Installs nginx + libnginx-mod-nchan from Debian and uWebSockets.js from npm
# (npm ci in bench/peers/uws) if missing (bench/peers/lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LIVEHUB=$(realpath "${1:-$here/../../build/livehub}")
ROUNDS=${ROUNDS:-3}
SUBS=${SUBS:-200}
RATE=${RATE:-400}
STEP=${STEP:-15}
SERVERS=${SERVERS:-livehub-wd0 livehub-defaults nchan uws}
source "$here/lib.sh"
OUT=$(mktemp -d /tmp/write-cost.XXXXXX)
trap 'peer_stop; rm -rf "$OUT"' EXIT
printf 'store:\n  enabled: false\nsubscribers:\n  write_delay_ms: 0\n' > "$OUT/wd0.yaml"
printf 'store:\n  enabled: false\n' > "$OUT/defaults.yaml"

field() {  # field FILE KEY: a number from the run's --json line
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        print(json.loads(line).get(sys.argv[2], "?")); break' "$1" "$2"
}

common=(fanout --subscribers "$SUBS" --payload 100 --rate "$RATE" --duration "$STEP"
  --transport ws --taskset-self "$TOOL_CPU" --json)
for round in $(seq 1 "$ROUNDS"); do
  for server in $SERVERS; do
    f="$OUT/$server.$round"
    case $server in
      livehub-*)
        timeout 300 "$LIVEHUB" bench "${common[@]}" --spawn --taskset-hub "$HUB_CPU" \
          --hub-config "$OUT/${server#livehub-}.yaml" > "$f" 2>&1 || true
        ;;
      nchan | uws)
        # uWebSockets.js speaks Nchan's URL scheme (bench/peers/uws/server.mjs).
        peer_start "$server" "$OUT/$server" > /dev/null
        timeout 300 "$LIVEHUB" bench "${common[@]}" --peer nchan --url "$PEER_URL" \
          --publish-url "$PEER_PUBLISH_URL" --hub-pid "$PEER_PIDS" > "$f" 2>&1 || true
        peer_stop
        ;;
    esac
    echo "round $round $server: $(field "$f" hub_cpu_s_per_million) CPU-s/M," \
      "p50 $(field "$f" latency_p50_ms) ms, p99 $(field "$f" latency_p99_ms) ms," \
      "lost $(field "$f" lost), load tool $(field "$f" tool_cpu_pct) %"
  done
done | tee "$OUT/rounds"
for server in $SERVERS; do
  echo "$server median: $(grep " $server: " "$OUT/rounds" | awk '{print $4}' | sort -n |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') CPU-s per million deliveries," \
    "p99 median $(grep " $server: " "$OUT/rounds" | awk '{print $10}' | sort -n |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ms," \
    "load tool median $(grep " $server: " "$OUT/rounds" | awk '{print $16}' | sort -n |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') %"
done

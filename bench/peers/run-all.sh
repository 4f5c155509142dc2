#!/usr/bin/env bash
# `make bench-peers`: livehub, Nchan and Pushpin side by side, issue 8's
# scenarios, one table. Each server runs pinned to CPU $HUB_CPU (all its
# processes), `livehub bench` on CPU $TOOL_CPU; every scenario starts a fresh
# server. Loopback only; every run is bounded (`timeout`, the bench's own
# limits). Writes the JSON lines to $OUT, then bench/peers/report.py turns
# them into the markdown between the bench-peers markers of $DOC.
#
#   (a) ramp: 1 stream x 1,000 WebSocket subscribers x 100 B, rising rates
#   (b) the same over SSE
#   (c) ramp: 1,000 streams x 10 WebSocket subscribers (rates: total msgs/s)
#   (d) 10,000 idle WebSocket connections: server RSS per connection
#   (e) publish ingest: livehub NDJSON batches into memory mode; the peers'
#       one-message-per-request publish rate for context
#   (f) (a) at $STALL_RATE with and without 10 % stalled subscribers
#   (g) latency floor: 10 msg/s x 1,000 WebSocket subscribers
#   efficiency: $EFF_RATE msg/s x 1,000 subscribers, WebSocket and SSE,
#       $EFF_RUNS rounds of $EFF_STEP s, the servers taking turns
#
# Usage: bench/peers/run-all.sh [path/to/livehub]
# Variables (defaults in brackets): STEP [5] seconds per step, RATES
# [10,200,400,600,800,1000], PUSHPIN_RATES [1,10,25,50,100], MANY_RATES
# [500,2000,8000], PUSHPIN_MANY_RATES [10,100], IDLE [10000], EFF_RATE [400], EFF_RUNS [3], EFF_STEP [10],
# STALL_RATE [400], STALL_STEP [10], FLOOR_RATE [10], INGEST_BATCH [1000], SERVERS
# [livehub nchan pushpin], SCENARIOS [a b c d e f g eff], HUB_CPU [0], TOOL_CPU [1], OUT [mktemp -d],
# DOC [docs/benchmarks.md], NO_DOC=1 (print the report instead). BENCH_DRY=1: tiny loads (seconds, 50
# subscribers), print the report, leave $DOC alone: a functional check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LIVEHUB=$(realpath "${1:-$root/build/livehub}")
source "$here/lib.sh"

if [ "${BENCH_DRY:-0}" = 1 ]; then
  STEP=${STEP:-1} RATES=${RATES:-10,50} PUSHPIN_RATES=${PUSHPIN_RATES:-1,5}
  MANY_RATES=${MANY_RATES:-50} PUSHPIN_MANY_RATES=${PUSHPIN_MANY_RATES:-10}
  IDLE=${IDLE:-200} EFF_RATE=${EFF_RATE:-20} EFF_RUNS=${EFF_RUNS:-2} EFF_STEP=${EFF_STEP:-1}
  STALL_RATE=${STALL_RATE:-20}
  STALL_STEP=${STALL_STEP:-2} SUBS=${SUBS:-50} MANY_STREAMS=${MANY_STREAMS:-10}
  MANY_SUBS=${MANY_SUBS:-50} INGEST_BATCH=${INGEST_BATCH:-100}
fi
STEP=${STEP:-5}
RATES=${RATES:-10,200,400,600,800,1000}
PUSHPIN_RATES=${PUSHPIN_RATES:-1,10,25,50,100}
MANY_RATES=${MANY_RATES:-500,2000,8000}
PUSHPIN_MANY_RATES=${PUSHPIN_MANY_RATES:-10,100}
IDLE=${IDLE:-10000}
EFF_RATE=${EFF_RATE:-400}
EFF_RUNS=${EFF_RUNS:-3}
EFF_STEP=${EFF_STEP:-10}
STALL_RATE=${STALL_RATE:-400}
STALL_STEP=${STALL_STEP:-10}
INGEST_BATCH=${INGEST_BATCH:-1000}
FLOOR_RATE=${FLOOR_RATE:-10}
SUBS=${SUBS:-1000}
MANY_STREAMS=${MANY_STREAMS:-1000}
MANY_SUBS=${MANY_SUBS:-10000}
SERVERS=${SERVERS:-livehub nchan pushpin}
SCENARIOS=${SCENARIOS:-a b c d e f g eff}
DOC=${DOC:-$root/docs/benchmarks.md}
OUT=${OUT:-$(mktemp -d /tmp/bench-peers.XXXXXX)}
mkdir -p "$OUT"
# A copy: a rebuild during the run must not swap the tool under it.
cp "$LIVEHUB" "$OUT/livehub.bin"
LIVEHUB_SRC=$LIVEHUB
LIVEHUB="$OUT/livehub.bin"
ulimit -n "$(ulimit -Hn)"
trap 'peer_stop; rm -f "$OUT/livehub.bin"' EXIT

{
  echo "date: $(date -u '+%F %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "debian: $(cat /etc/debian_version 2> /dev/null || echo '?')"
  echo "livehub: $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo '?') ($LIVEHUB_SRC)"
  echo "pinning: server CPU $HUB_CPU, load tool CPU $TOOL_CPU"
  echo "settings: SERVERS=\"$SERVERS\" SCENARIOS=\"$SCENARIOS\" STEP=$STEP RATES=$RATES PUSHPIN_RATES=$PUSHPIN_RATES MANY_RATES=$MANY_RATES" \
       "PUSHPIN_MANY_RATES=$PUSHPIN_MANY_RATES IDLE=$IDLE EFF_RATE=$EFF_RATE EFF_RUNS=$EFF_RUNS EFF_STEP=$EFF_STEP STALL_RATE=$STALL_RATE" \
       "STALL_STEP=$STALL_STEP FLOOR_RATE=$FLOOR_RATE SUBS=$SUBS MANY_STREAMS=$MANY_STREAMS MANY_SUBS=$MANY_SUBS INGEST_BATCH=$INGEST_BATCH"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"
: > "$OUT/commands.txt"
: > "$OUT/servers.txt"
: > "$OUT/versions.txt"
printf 'store:\n  durability: memory\n' > "$OUT/memory.yaml"

# run SERVER TAG livehub-bench-args...: one scenario on a fresh server.
run() {
  local server=$1 tag=$2
  shift 2
  case " $SCENARIOS " in *" ${tag%%-*} "*) ;; *) return 0 ;; esac
  local target=()
  if [ "$server" = livehub ]; then
    target=(--spawn --taskset-hub "$HUB_CPU")
  else
    peer_start "$server" "$OUT/$server-$tag.d"
    grep -q "^$server:" "$OUT/versions.txt" || echo "$server: $PEER_VERSION" >> "$OUT/versions.txt"
    target=(--peer "$server" --url "$PEER_URL" --publish-url "$PEER_PUBLISH_URL" --hub-pid "$PEER_PIDS")
    # Pushpin answers 502 to a burst of 256 subscribe handshakes (its proxy
    # to the GRIP backend); 32 at a time connect cleanly.
    [ "$server" = pushpin ] && target+=(--connect-concurrency 32)
  fi
  echo "== $server $tag"
  # The report lists each distinct command once, <server> standing for the
  # server's arguments (listed once per server).
  local line="${tag%-[0-9]*}: livehub bench $* <server> --taskset-self $TOOL_CPU --json"
  grep -qxF -- "$line" "$OUT/commands.txt" || echo "$line" >> "$OUT/commands.txt"
  if ! grep -q "^<server> $server:" "$OUT/servers.txt"; then
    if [ "$server" = livehub ]; then
      echo "<server> livehub: ${target[*]}" >> "$OUT/servers.txt"
    else
      echo "<server> $server: ${target[*]}" | sed 's/--hub-pid [0-9,]*/--hub-pid <its pids>/' >> "$OUT/servers.txt"
    fi
  fi
  timeout 900 "$LIVEHUB" bench "$@" "${target[@]}" --taskset-self "$TOOL_CPU" --json \
    > "$OUT/$server-$tag.txt" 2>&1 || echo "(exit $? — see $OUT/$server-$tag.txt)"
  grep -v '^{' "$OUT/$server-$tag.txt" | tail -n +1 | sed 's/^/  /' | tail -20
  [ "$server" = livehub ] || peer_stop
}

for server in $SERVERS; do
  rates=$RATES many=$MANY_RATES
  if [ "$server" = pushpin ]; then rates=$PUSHPIN_RATES many=$PUSHPIN_MANY_RATES; fi
  one=(--subscribers "$SUBS" --streams 1 --payload 100)
  run "$server" a-ws ramp "${one[@]}" --transport ws --duration "$STEP" --keep-going --rates "$rates"
  run "$server" b-sse ramp "${one[@]}" --transport sse --duration "$STEP" --keep-going --rates "$rates"
  run "$server" c-many ramp --subscribers "$MANY_SUBS" --streams "$MANY_STREAMS" --payload 100 \
    --transport ws --duration "$STEP" --keep-going --rates "$many" --connect-timeout 120
  run "$server" d-idle fanout --idle --subscribers "$IDLE" --hold 5 --connect-timeout 120
  if [ "$server" = livehub ]; then
    run "$server" e-ingest fanout --subscribers 1 --rate 0 --publishers 16 --batch "$INGEST_BATCH" --ndjson \
      --payload 100 --duration "$STEP" --drain 3 --hub-config "$OUT/memory.yaml"
  else
    run "$server" e-ingest fanout --subscribers 1 --rate 0 --publishers 16 --payload 100 \
      --duration "$STEP" --drain 3
  fi
  run "$server" f-healthy fanout "${one[@]}" --transport ws --rate "$STALL_RATE" --duration "$STALL_STEP"
  run "$server" f-stalled fanout "${one[@]}" --transport ws --rate "$STALL_RATE" --duration "$STALL_STEP" \
    --stalled 0.1
  run "$server" g-floor fanout "${one[@]}" --transport ws --rate "$FLOOR_RATE" --duration "$STEP"
done

# Efficiency, the headline figure: EFF_RUNS rounds, the servers taking turns
# within each round, so a slow minute of this shared machine falls on all of
# them alike. The report takes each server's median and the range of the
# per-round ratios.
one=(--subscribers "$SUBS" --streams 1 --payload 100)
for round in $(seq 1 "$EFF_RUNS"); do
  for server in $SERVERS; do
    run "$server" "eff-ws-$round" fanout "${one[@]}" --transport ws --rate "$EFF_RATE" --duration "$EFF_STEP"
    run "$server" "eff-sse-$round" fanout "${one[@]}" --transport sse --rate "$EFF_RATE" --duration "$EFF_STEP"
  done
done

for peer in nchan pushpin; do
  case " $SERVERS " in *" $peer "*) ;; *) continue ;; esac
  case $peer in
    nchan) cp "$here/nchan.conf.in" "$OUT/config-nchan.txt" ;;
    pushpin) cp "$here/pushpin.conf.in" "$OUT/config-pushpin.txt" ;;
  esac
done

if [ "${BENCH_DRY:-0}" = 1 ] || [ "${NO_DOC:-0}" = 1 ]; then
  python3 "$here/report.py" "$OUT"
else
  python3 "$here/report.py" "$OUT" --doc "$DOC"
  echo "wrote the table into $DOC (raw results in $OUT)"
fi

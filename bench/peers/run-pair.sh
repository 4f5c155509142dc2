#!/usr/bin/env bash
# Side by side: livehub and one peer (Nchan or Pushpin) under the same load,
# one pinned core each run (server on CPU $HUB_CPU, `livehub bench` on
# $TOOL_CPU), same scenario: 1 stream x 1,000 subscribers x 100 B at rising
# rates, WebSocket then SSE. Installs the peer from Debian if missing (lib.sh);
# Pushpin's subscribe requests are answered by grip-backend.mjs (node).
# Loopback only. The whole comparison (every scenario): run-all.sh.
#
# Usage: bench/peers/run-pair.sh nchan|pushpin [livehub] [seconds per step] [rates]
set -euo pipefail
PEER=${1:-}
case "$PEER" in
  nchan) default_rates=10,200,400,600,800,1000; extra=() ;;
  # Pushpin answers 502 to bursts of 256 handshakes: 32 at a time.
  pushpin) default_rates=1,10,25,50,100; extra=(--connect-concurrency 32) ;;
  *) echo "usage: $0 nchan|pushpin [livehub] [seconds per step] [rates]" >&2; exit 2 ;;
esac
LIVEHUB=${2:-./build/livehub}
STEP=${3:-5}
RATES=${4:-$default_rates}
source "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)"
dir=$(mktemp -d)
trap 'peer_stop; rm -rf "$dir"' EXIT

for transport in ws sse; do
  echo "== $PEER $transport"
  peer_start "$PEER" "$dir/$PEER-$transport"
  "$LIVEHUB" bench ramp --peer "$PEER" --url "$PEER_URL" --publish-url "$PEER_PUBLISH_URL" \
    --hub-pid "$PEER_PIDS" "${extra[@]}" --taskset-self "$TOOL_CPU" --transport "$transport" \
    --subscribers 1000 --payload 100 --duration "$STEP" --keep-going --rates "$RATES" || true
  peer_stop
  echo "== livehub $transport"
  "$LIVEHUB" bench ramp --spawn --taskset-hub "$HUB_CPU" --taskset-self "$TOOL_CPU" \
    --transport "$transport" --subscribers 1000 --payload 100 --duration "$STEP" \
    --keep-going --rates "$RATES" || true
done

#!/usr/bin/env bash
# Side by side: livehub and Nchan under the same load, one pinned core each
# run (server on CPU $HUB_CPU, `livehub bench` on $TOOL_CPU), same scenario:
# 1 stream x 1,000 subscribers x 100 B at rising rates, WebSocket then SSE.
# Installs nginx + libnginx-mod-nchan from Debian if missing. Loopback only.
# The whole comparison (every scenario, Pushpin too): bench/peers/run-all.sh.
#
# Usage: bench/peers/run-nchan.sh [livehub] [seconds per step] [rates]
set -euo pipefail
LIVEHUB=${1:-./build/livehub}
STEP=${2:-5}
RATES=${3:-10,200,400,600,800,1000}
source "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)"
dir=$(mktemp -d)
trap 'peer_stop; rm -rf "$dir"' EXIT

for transport in ws sse; do
  echo "== nchan $transport"
  peer_start nchan "$dir/nchan-$transport"
  "$LIVEHUB" bench ramp --peer nchan --url "$PEER_URL" --hub-pid "$PEER_PIDS" \
    --taskset-self "$TOOL_CPU" --transport "$transport" --subscribers 1000 --payload 100 \
    --duration "$STEP" --keep-going --rates "$RATES" || true
  peer_stop
  echo "== livehub $transport"
  "$LIVEHUB" bench ramp --spawn --taskset-hub "$HUB_CPU" --taskset-self "$TOOL_CPU" \
    --transport "$transport" --subscribers 1000 --payload 100 --duration "$STEP" \
    --keep-going --rates "$RATES" || true
done

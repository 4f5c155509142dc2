#!/usr/bin/env bash
# Side by side: livehub and Pushpin under the same load, one pinned core each
# run (server on CPU $HUB_CPU, `livehub bench` on $TOOL_CPU), same scenario:
# 1 stream x 1,000 subscribers x 100 B at rising rates, WebSocket then SSE.
# Installs pushpin from Debian if missing; bench/peers/grip-backend.mjs (node)
# answers its subscribe requests (GRIP). Loopback only.
# The whole comparison (every scenario, Pushpin too): bench/peers/run-all.sh.
#
# Usage: bench/peers/run-pushpin.sh [livehub] [seconds per step] [rates]
set -euo pipefail
LIVEHUB=${1:-./build/livehub}
STEP=${2:-5}
RATES=${3:-1,10,25,50,100}
source "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)"
dir=$(mktemp -d)
trap 'peer_stop; rm -rf "$dir"' EXIT

for transport in ws sse; do
  echo "== pushpin $transport"
  peer_start pushpin "$dir/pushpin-$transport"
  "$LIVEHUB" bench ramp --peer pushpin --url "$PEER_URL" --publish-url "$PEER_PUBLISH_URL" \
    --hub-pid "$PEER_PIDS" --connect-concurrency 32 --taskset-self "$TOOL_CPU" --transport "$transport" --subscribers 1000 --payload 100 \
    --duration "$STEP" --keep-going --rates "$RATES" || true
  peer_stop
  echo "== livehub $transport"
  "$LIVEHUB" bench ramp --spawn --taskset-hub "$HUB_CPU" --taskset-self "$TOOL_CPU" \
    --transport "$transport" --subscribers 1000 --payload 100 --duration "$STEP" \
    --keep-going --rates "$RATES" || true
done

#!/usr/bin/env bash
# Side by side: livehub and Nchan under the same load, one pinned core each
# run (server on CPU $HUB_CPU, `livehub bench` on $TOOL_CPU), same scenario:
# 1 stream x 1,000 subscribers x 100 B at rising rates, WebSocket then SSE.
# Installs nginx + libnginx-mod-nchan from Debian if missing. Loopback only.
#
# Usage: bench/peers/run-nchan.sh [livehub] [seconds per step] [rates]
set -euo pipefail
LIVEHUB=${1:-./build/livehub}
STEP=${2:-5}
RATES=${3:-10,200,400,600,800,1000}
HUB_CPU=${HUB_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
PORT=${PORT:-8091}
here=$(cd "$(dirname "$0")" && pwd)

if ! dpkg-query -W -f='${Status}' libnginx-mod-nchan 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx libnginx-mod-nchan
fi
ulimit -n 40000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d)
trap 'kill "$(cat "$dir/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$PORT#g" "$here/nchan.conf.in" > "$dir/nginx.conf"
taskset -c "$HUB_CPU" nginx -c "$dir/nginx.conf" -p "$dir" &
for _ in $(seq 1 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
master=$(cat "$dir/nginx.pid")
sleep 0.5
worker=$(pgrep -P "$master" | head -1)
echo "nchan: nginx $(nginx -v 2>&1 | sed 's/.*\///'), module $(dpkg-query -W -f='${Version}' libnginx-mod-nchan), worker pid $worker"

for transport in ws sse; do
  echo "== nchan $transport"
  "$LIVEHUB" bench ramp --peer nchan --url "http://127.0.0.1:$PORT" --hub-pid "$worker" \
    --taskset-self "$TOOL_CPU" --transport "$transport" --subscribers 1000 --payload 100 \
    --duration "$STEP" --keep-going --rates "$RATES" || true
  echo "== livehub $transport"
  "$LIVEHUB" bench ramp --spawn --taskset-hub "$HUB_CPU" --taskset-self "$TOOL_CPU" \
    --transport "$transport" --subscribers 1000 --payload 100 --duration "$STEP" \
    --keep-going --rates "$RATES" || true
done

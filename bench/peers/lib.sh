# Shared by the bench/peers/ scripts (source it; bash only): install, start
# and stop the peers, each on 127.0.0.1 only, pinned to CPU $HUB_CPU.
#
# peer_start nchan|pushpin|uws DIR sets:
#   PEER_URL          where subscribers connect (and Nchan's publishers)
#   PEER_PUBLISH_URL  where publishers go (Pushpin's publish API port)
#   PEER_PIDS         the server's processes, comma-separated (CPU and RSS
#                     are summed over them by `livehub bench --hub-pid`)
#   PEER_VERSION      one line for the report
# peer_stop stops everything peer_start started (also called from the EXIT
# trap the caller installs with `trap peer_stop EXIT`).

PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HUB_CPU=${HUB_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
NCHAN_PORT=${NCHAN_PORT:-8091}
PUSHPIN_PORT=${PUSHPIN_PORT:-8092}
PUSHPIN_PUBLISH_PORT=${PUSHPIN_PUBLISH_PORT:-8093}
GRIP_BACKEND_PORT=${GRIP_BACKEND_PORT:-8094}
UWS_PORT=${UWS_PORT:-8095}
_peer_started=()  # pids to stop, in order

peer_install() {  # peer_install PKG... : apt-get install the missing ones
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "installing ${missing[*]} from Debian" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

_wait_port() {  # _wait_port PORT SECONDS: until something listens on 127.0.0.1:PORT
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt "$deadline" ]; do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1 after $2 s" >&2
  return 1
}

_port_free() {  # fails (with a message) when PORT is already taken
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "127.0.0.1:$1 is already in use (set ${2}=another port)" >&2
    return 1
  fi
}

peer_start() {
  local peer=$1 dir=$2
  mkdir -p "$dir"
  case "$peer" in
    nchan)
      peer_install nginx libnginx-mod-nchan
      _port_free "$NCHAN_PORT" NCHAN_PORT || return 1
      sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$NCHAN_PORT#g" "$PEERS_DIR/nchan.conf.in" > "$dir/nginx.conf"
      taskset -c "$HUB_CPU" nginx -c "$dir/nginx.conf" -p "$dir" > "$dir/nginx.out" 2>&1 &
      _peer_started+=($!)
      _wait_port "$NCHAN_PORT" 10 || return 1
      local master worker
      master=$(cat "$dir/nginx.pid")
      for _ in $(seq 1 50); do
        worker=$(pgrep -P "$master" | head -1 || true)
        [ -n "$worker" ] && break
        sleep 0.1
      done
      PEER_URL="http://127.0.0.1:$NCHAN_PORT"
      PEER_PUBLISH_URL=$PEER_URL
      PEER_PIDS="$master,$worker"
      PEER_VERSION="Nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan) (nginx $(dpkg-query -W -f='${Version}' nginx)), 1 worker"
      ;;
    pushpin)
      peer_install pushpin
      command -v node > /dev/null || { echo "the GRIP backend needs node" >&2; return 1; }
      _port_free "$PUSHPIN_PORT" PUSHPIN_PORT || return 1
      _port_free "$PUSHPIN_PUBLISH_PORT" PUSHPIN_PUBLISH_PORT || return 1
      _port_free "$GRIP_BACKEND_PORT" GRIP_BACKEND_PORT || return 1
      mkdir -p "$dir/run" "$dir/log"
      sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$PUSHPIN_PORT#g" \
          -e "s#@PUBLISH_PORT@#$PUSHPIN_PUBLISH_PORT#g" -e "s#@LOG_LEVEL@#${PUSHPIN_LOG_LEVEL:-1}#g" \
          "$PEERS_DIR/pushpin.conf.in" > "$dir/pushpin.conf"
      # WebSocket-over-HTTP to the backend (`over_http`); HTTP requests as is.
      echo "* 127.0.0.1:$GRIP_BACKEND_PORT,over_http" > "$dir/routes"
      # The backend only answers subscribe requests (not measured, but on
      # the server's core: it is part of a Pushpin deployment).
      taskset -c "$HUB_CPU" node "$PEERS_DIR/grip-backend.mjs" "$GRIP_BACKEND_PORT" > "$dir/backend.log" 2>&1 &
      _peer_started+=($!)
      taskset -c "$HUB_CPU" pushpin --config "$dir/pushpin.conf" --merge-output > "$dir/pushpin.log" 2>&1 &
      local runner=$!
      _peer_started+=("$runner")
      _wait_port "$GRIP_BACKEND_PORT" 10 || return 1
      _wait_port "$PUSHPIN_PORT" 20 || return 1
      _wait_port "$PUSHPIN_PUBLISH_PORT" 20 || return 1
      # All four services (condure, zurl, proxy, handler), or CPU and RSS
      # would miss one.
      local kids=""
      for _ in $(seq 1 100); do
        kids=$(pgrep -P "$runner" | paste -sd, -)
        [ "$(echo "$kids" | tr ',' '\n' | grep -c .)" -ge 4 ] && break
        sleep 0.1
      done
      if [ "$(echo "$kids" | tr ',' '\n' | grep -c .)" -lt 4 ]; then
        echo "pushpin: expected 4 services under the runner, found '$kids' (see $dir/pushpin.log)" >&2
        return 1
      fi
      PEER_URL="http://127.0.0.1:$PUSHPIN_PORT"
      PEER_PUBLISH_URL="http://127.0.0.1:$PUSHPIN_PUBLISH_PORT"
      PEER_PIDS="$runner,$kids"
      PEER_VERSION="Pushpin $(pushpin --version 2>/dev/null | awk '{print $2}') (Debian $(dpkg-query -W -f='${Version}' pushpin), condure $(condure --version 2>/dev/null | awk '{print $2}'))"
      ;;
    uws)
      # uWebSockets.js (bench/peers/uws/server.mjs): Nchan's URL scheme, so
      # `livehub bench --peer nchan` drives it. npm ci from the committed
      # lock when node_modules is missing (a prebuilt addon, no build step).
      command -v node > /dev/null || { echo "uWebSockets.js needs node" >&2; return 1; }
      if [ ! -f "$PEERS_DIR/uws/node_modules/uwebsockets/package.json" ]; then
        echo "installing uWebSockets.js (npm ci in $PEERS_DIR/uws)" >&2
        (cd "$PEERS_DIR/uws" && npm ci --no-audit --no-fund --loglevel=error) >&2 || return 1
      fi
      _port_free "$UWS_PORT" UWS_PORT || return 1
      # node raises its soft descriptor limit to the hard one at start.
      [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 12000 ] ||
        echo "uws: hard limit of $(ulimit -Hn) descriptors: under 10,000 connections" >&2
      (cd "$PEERS_DIR/uws" && exec taskset -c "$HUB_CPU" node server.mjs "$UWS_PORT") \
        > "$dir/uws.log" 2>&1 &
      _peer_started+=($!)
      _wait_port "$UWS_PORT" 20 || return 1
      PEER_URL="http://127.0.0.1:$UWS_PORT"
      PEER_PUBLISH_URL=$PEER_URL
      PEER_PIDS=${_peer_started[-1]}
      PEER_VERSION="uWebSockets.js (npm uwebsockets $(node -p 'require("'"$PEERS_DIR"'/uws/node_modules/uwebsockets/package.json").version'), source $(head -c 12 "$PEERS_DIR/uws/node_modules/uwebsockets/source_commit" 2> /dev/null || echo '?')) on node $(node --version), 1 process"
      ;;
    *)
      echo "peer_start: unknown peer '$peer' (nchan | pushpin | uws)" >&2
      return 1
      ;;
  esac
  echo "started $PEER_VERSION on $PEER_URL (pids $PEER_PIDS, CPU $HUB_CPU)" >&2
}

peer_stop() {
  local pid
  for pid in "${_peer_started[@]}"; do
    # nginx's master stops its worker; pushpin's runner stops its services.
    kill -TERM "$pid" 2> /dev/null || true
  done
  for pid in "${_peer_started[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
  done
  # Anything the runner started that outlived it (pids recorded at start).
  if [ -n "${PEER_PIDS:-}" ]; then
    for pid in ${PEER_PIDS//,/ }; do
      case "$(cat "/proc/$pid/comm" 2> /dev/null)" in
        nginx | pushpin* | condure | zurl | node) kill -KILL "$pid" 2> /dev/null || true ;;
      esac
    done
  fi
  _peer_started=()
  PEER_PIDS=""
}

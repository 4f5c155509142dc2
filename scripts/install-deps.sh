#!/usr/bin/env bash
# Installs the Debian 12 packages livehub needs to build, test and run.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build make pkg-config
  libboost1.81-dev      # Asio + Beast (header-only)
  libsimdjson-dev       # JSON parsing on the hot path
  libssl-dev            # SHA-1 for the WebSocket handshake, TLS later
  libyaml-cpp-dev       # config
  libsqlite3-dev sqlite3  # the embedded store (sqlite3: backups, inspection)
  libcli11-dev          # command line
  libgtest-dev          # unit tests
  libbenchmark-dev      # micro-benchmarks
  clang                 # libFuzzer targets (make fuzz)
  clang-format          # make format-check (CI), make format
  libmosquitto-dev      # MQTT source
  mosquitto mosquitto-clients  # broker + mosquitto_pub for the MQTT tests
  openssl               # CLI: throw-away certificates for the TLS tests (mqtts)
  libprotobuf-dev protobuf-compiler  # GTFS-Realtime source (gtfs-realtime.proto)
  chromium              # the dashboard's end-to-end tests (tests/e2e, playwright-core drives it)
)
# Node.js and npm drive the integration tests (npm's ws and eventsource) and
# build the dashboard (web/: npm ci + esbuild, run by the CMake build).
# Some machines carry a nodesource nodejs that bundles npm and conflicts with
# Debian's npm package, so these are checked by command, not by package.
NODE_PACKAGES=()
command -v node >/dev/null 2>&1 || NODE_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || NODE_PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
missing+=("${NODE_PACKAGES[@]}")
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

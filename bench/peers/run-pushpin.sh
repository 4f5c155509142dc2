#!/usr/bin/env bash
# livehub and Pushpin side by side (see run-pair.sh).
# Usage: bench/peers/run-pushpin.sh [livehub] [seconds per step] [rates]
exec "$(dirname "$0")/run-pair.sh" pushpin "$@"

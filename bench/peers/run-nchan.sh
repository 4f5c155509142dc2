#!/usr/bin/env bash
# livehub and Nchan side by side (see run-pair.sh).
# Usage: bench/peers/run-nchan.sh [livehub] [seconds per step] [rates]
exec "$(dirname "$0")/run-pair.sh" nchan "$@"

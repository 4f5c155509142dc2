#!/usr/bin/env bash
# Start-up time of a hub whose store holds N events (default 10 M) in S
# streams: builds the store once with the sqlite3 shell (as the hub would
# have written it), then times `livehub serve` from exec to its "listening"
# log line, REPS times. Usage: bench/restart-10m.sh [livehub] [events] [streams] [reps]
set -euo pipefail
LIVEHUB=${1:-./build/livehub}
N=${2:-10000000}
S=${3:-10}
REPS=${4:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Let the hub create the schema, then fill it.
"$LIVEHUB" serve --no-demo --listen 127.0.0.1:0 --data-dir "$dir" 2>/dev/null &
pid=$!
sleep 1
kill "$pid"; wait "$pid" || true
per=$((N / S))
t0=$(date +%s.%N)
sqlite3 "$dir/livehub.db" <<SQL
PRAGMA journal_mode=WAL;
PRAGMA synchronous=OFF;
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $S)
INSERT INTO streams(id, name, epoch, created_ms, first_seq, last_seq, last_ts_ms, events, bytes)
  SELECT i, 'bench/restart/' || i, 'e' || i, 0, 1, $per, 1700000000000 + $per, $per, $per * 40 FROM s;
WITH RECURSIVE q(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM q WHERE n < $per),
               s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $S)
INSERT INTO events(stream_id, seq, ts_ms, data)
  SELECT i, n, 1700000000000 + n, '{"n":' || n || ',"pad":"xxxxxxxxxxxxxxxxxxxxxx"}' FROM s, q;
COMMIT;
UPDATE meta SET value = '1' WHERE key = 'clean_shutdown';
PRAGMA wal_checkpoint(TRUNCATE);
SQL
t1=$(date +%s.%N)
echo "built $N events in $S streams in $(python3 -c "print(round($t1 - $t0, 1))") s; file $(du -h "$dir/livehub.db" | cut -f1)"
for r in $(seq 1 "$REPS"); do
  log="$dir/serve-$r.log"
  start=$(date +%s%N)
  "$LIVEHUB" serve --no-demo --listen 127.0.0.1:0 --data-dir "$dir" 2>"$log" &
  pid=$!
  until grep -q '"listening"' "$log"; do
    sleep 0.005
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  done
  ready=$(date +%s%N)
  echo "run $r: ready in $(( (ready - start) / 1000000 )) ms; RSS $(ps -o rss= -p "$pid") KB"
  kill "$pid"; wait "$pid" || true
done

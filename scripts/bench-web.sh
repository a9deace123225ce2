#!/usr/bin/env bash
# Web benchmarks of issue 6, against the release demo on loopback while its collectors run:
#   1. wrk on /healthz (baseline: actix with no work), the line summary API, the overview page,
#      a line page (its figures computed once per published summary);
#   2. `mes bench events`: 500 concurrent /events clients, each expected to get every update
#      less than a second after it was published.
# Needs wrk (apt-get install wrk) and a release build (cargo build --release).
# Usage: [BIN=binary] [DATA_DIR=folder] scripts/bench-web.sh [seconds per wrk run, default 20] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
conns=${2:-64}
bin=${BIN:-target/release/mes}
port=${PORT:-18181}
base="http://127.0.0.1:$port"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
scratch=$(mktemp -d)
# DATA_DIR=folder: run on (and add to) an existing store, e.g. one a long demo filled.
data=${DATA_DIR:-$scratch/data}
"$bin" --data-dir "$data" demo --port "$port" > "$scratch/demo.out" 2> "$scratch/demo.err" &
demo=$!
trap 'kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 1 120); do
  grep -q "records *[1-9]" "$scratch/demo.out" 2>/dev/null && break
  sleep 0.5
done
curl -sf "$base/healthz" >/dev/null || { echo "the demo does not answer on $base" >&2; cat "$scratch/demo.err" >&2; exit 1; }
token=$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"username":"supervisor","password":"supervisor-demo"}' "$base/api/v1/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "machine: $(nproc) logical CPUs; wrk -t2 -c$conns -d${secs}s; the demo's collectors poll three lines meanwhile"
for target in "/healthz" "/api/v1/summary" "/" "/lines/phone-1"; do
  echo
  echo "== GET $target"
  case "$target" in
    /healthz) wrk -t2 -c"$conns" -d"${secs}s" --latency "$base$target" ;;
    /|/lines/*) wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Cookie: mes_session=$token" "$base$target" ;;
    *) wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$base$target" ;;
  esac | grep -E "Requests/sec|Latency|99%|50%|Non-2xx|Socket errors"
done
echo
echo "== collectors during the runs (the demo's own summary lines)"
tail -n 3 "$scratch/demo.out"
echo
echo "== live summary recomputations so far (mes_live_refresh_seconds)"
curl -s "$base/metrics" | grep -E "^mes_live_refresh_seconds_(sum|count)"
echo
"$bin" bench events --url "$base" --clients "${CLIENTS:-500}" --seconds "${EVENT_SECS:-30}"

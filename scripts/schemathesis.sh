#!/usr/bin/env bash
# Checks the served OpenAPI document against the server itself with schemathesis (PyPI), every
# check on: a web front on a scratch store filled with a generated history, as an admin (every
# operation allowed). Exits non-zero on any failure. CI runs it (.ci/run).
#
# Logout and password change are left out of the generated calls: they would end the very
# session the run uses (tests/it/hardening.rs checks them). Login is rate-limited per address,
# so generated logins are answered 429 after the tenth a minute, as documented.
#
# Usage: scripts/schemathesis.sh [path to mes, default target/debug/mes] [max examples per operation, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/mes}
examples=${2:-60}
[ -x "$bin" ] || { echo "build first: cargo build" >&2; exit 2; }
venv=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi
scratch=$(mktemp -d)
data=$scratch/data
"$bin" --data-dir "$data" demo --history --phones 40 --tablets 20 > "$scratch/load.out"
# Close the history's periods into the audit ledger (this makes the plant key the web front finds).
"$bin" --data-dir "$data" audit close > /dev/null
PW=schemathesis-admin "$bin" --data-dir "$data" user add st-admin --role admin --password-env PW > /dev/null
"$bin" --data-dir "$data" serve --web-only --listen 127.0.0.1:0 > "$scratch/serve.out" 2> "$scratch/serve.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$scratch"' EXIT
base=
for _ in $(seq 1 100); do
  base=$(grep -o 'http://127.0.0.1:[0-9]*' "$scratch/serve.out" 2>/dev/null | head -1 || true)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "the web front did not start" >&2; cat "$scratch/serve.err" >&2; exit 1; }
token=$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"username":"st-admin","password":"schemathesis-admin"}' "$base/api/v1/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sf -H "Authorization: Bearer $token" "$base/api/openapi.json" > "$scratch/openapi.json"
echo "scratch folder $scratch"; echo "schemathesis against $base ($examples examples per operation, every check)"
"$venv/bin/st" --config-file scripts/schemathesis.toml run "$scratch/openapi.json" --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "$examples" \
  --seed "${SEED:-13}" \
  --workers 1 \
  --exclude-path /api/v1/auth/logout \
  --exclude-path /api/v1/auth/password \
  --no-color

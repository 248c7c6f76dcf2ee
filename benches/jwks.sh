#!/usr/bin/env bash
# JWKS search cost, A/B in one sitting: per binary, a fresh depot on SQLite (one worker on
# CPU 0), the system client bench-client (one key, scope keys:read), then RUNS × 10 s of
# GET /keys/jwks?client_id=bench-client at 8 concurrent from benches/jwks_drive.py on CPU 1.
# The Python client is the bottleneck below ~8,000 requests/s: compare the depot's CPU per
# request, which the script reads from /proc, not the rates.
#
#   benches/jwks.sh a=/tmp/depot-old b=target/release/depot
set -euo pipefail
export OUT=${OUT:-/tmp/jwks-bench}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
bench_work jwks-bench
keygen bench-admin bench-client
token_of() { # token_of CLIENT [SCOPE]: a client_credentials token of CLIENT (its key from keygen)
  local assertion
  assertion=$(python3 "$REPO/benches/bench_client.py" assertion "$WORK/$1.pem" "$1" "$1" "$BASE/oauth2/token")
  curl -sf "$BASE/oauth2/token" -d grant_type=client_credentials ${2:+-d scope=$2} \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d "client_assertion=$assertion" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
for nb in "$@"; do
  DEPOT=${nb#*=} name=${nb%%=*}
  depot_env "$name"
  backend_db sqlite unused
  start_depot "$WORK/$name.log"
  admin=$(token_of bench-admin)
  python3 -c 'import json,sys; print(json.dumps({"client_id": "bench-client", "type": "system", "name": "Bench",
    "scopes": ["keys:read"], "jwks": json.load(open(sys.argv[1]))}))' "$WORK/bench-client.jwks.json" >"$WORK/client.json"
  curl -sf -o /dev/null -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    --data-binary "@$WORK/client.json" "$BASE/admin/clients"
  token=$(token_of bench-client keys:read)
  for r in $(seq 1 "$RUNS"); do
    printf '%s run %s: ' "$name" "$r"
    taskset -c 1 python3 "$REPO/benches/jwks_drive.py" "$BASE" "$token" "$SRV_PID" 10 8
  done
  stop_server
done

#!/usr/bin/env bash
# Token-endpoint benchmark: the running `depot` (release build, one worker pinned to
# CPU 0) issues tokens while a closed-loop generator on CPU 1 drives it over HTTP.
# Scenarios (SCENARIOS, all three by default; one "token" = one counted iteration):
#   client_credentials  one POST /oauth2/token with a FRESH ES256 private_key_jwt
#                       assertion each (unique jti, stored until it expires), driven by
#                       the shared peers/loadgen — the same tool and pinning as the
#                       node-oidc-provider figures in ../shared/peers, so the two are comparable.
#   code                GET /oauth2/authorize (session cookie + consent exist, one profile:
#                       303 straight back with ?code=) then POST /oauth2/token
#                       grant_type=authorization_code + PKCE verifier + assertion, for the
#                       confidential client bench-app; latency = the pair.
#   refresh             POST /oauth2/token grant_type=refresh_token + assertion; the answer's
#                       new refresh token is the next one (rotation), one family per worker.
#   cc, cc-dpop         client_credentials as above, without and with a DPoP proof (RFC 9449)
#                       by a P-256 key of the generator's, both from benches/flow_bench.py
#                       so that the two rows differ only by the proof: what its check
#                       costs per token (loadgen sends one fixed kind of request, no header).
#   loadgen cannot carry state from one answer into the next request, so `code` and
#   `refresh` are driven by benches/flow_bench.py (asyncio + aiohttp, `pip install aiohttp`,
#   uvloop used when installed), pinned to CPU 1 the same way, writing the same JSON.
#   Every worker logs in once through the HTML forms (not measured).
#
#   benches/token.sh                    # SQLite and PostgreSQL, conc 1/8/32, 3 × 15 s, all scenarios
#   BACKENDS=sqlite DURATION=3 RUNS=1 benches/token.sh     # smoke run
#   SCENARIOS=client_credentials benches/token.sh          # only the client_credentials rows
#   SCENARIOS='cc cc-dpop' SUFFIX=dpop benches/token.sh     # DPoP vs none, same generator
#   PEER=1 benches/token.sh             # also run node-oidc-provider in the same sitting
#   BACKENDS='sqlite-normal postgres' DURATION=10 RUNS=3 SCENARIOS='code refresh' \
#     OUT=benches/results/2026-11-23 SUFFIX=code-refresh benches/token.sh
#                                       # -> depot_token-code-refresh.jsonl, summary-code-refresh.txt
#
# Env: BACKENDS ("sqlite postgres"; also "sqlite-normal" = DEPOT_SQLITE_SYNCHRONOUS=normal) CONC ("1 8 32") DURATION (15) WARMUP (2) RUNS (3)
#      SCENARIOS ("client_credentials code refresh")
#      PG_BASE (postgres://postgres@127.0.0.1:5432) PORT (18080) PEERS (../shared/peers)
#      OUT (benches/results/<UTC date>) SUFFIX ("": file names get "-SUFFIX", so a partial sitting
#      does not overwrite depot_token.jsonl / summary.txt / machine.txt) APPEND (0)
# Writes OUT/depot_token[-SUFFIX].jsonl and prints the summary table (medians of RUNS) into
# OUT/summary[-SUFFIX].txt; for `code` also the authorize/token split of the latency.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PEERS=${PEERS:-$(cd "$REPO/../shared/peers" && pwd)}
export OUT=${OUT:-$REPO/benches/results/$(date -u +%F)}
source "$PEERS/lib/common.sh"
BACKENDS=${BACKENDS:-"sqlite postgres"}
CONC=${CONC:-"1 8 32"}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
PORT=${PORT:-18080}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
BASE=http://127.0.0.1:$PORT
SCENARIOS=${SCENARIOS:-"client_credentials code refresh"}
SFX=${SUFFIX:+-$SUFFIX}
for sc in $SCENARIOS; do
  case $sc in client_credentials|code|refresh|cc|cc-dpop) ;; *) echo "unknown scenario $sc" >&2; exit 2 ;; esac
done
flows() { [[ " $SCENARIOS " == *" code "* || " $SCENARIOS " == *" refresh "* ]]; }
python_driven() { flows || [[ " $SCENARIOS " == *" cc "* || " $SCENARIOS " == *" cc-dpop "* ]]; }
if python_driven; then
  python3 -c 'import aiohttp' 2>/dev/null || { echo "the code/refresh driver needs aiohttp: pip install aiohttp" >&2; exit 2; }
fi
# The person who logs in for the code/refresh scenarios (a valid Belgian SSIN).
PERSON_SSIN=85073003328 PERSON_PASSWORD='correct horse battery'

echo "building depot and loadgen (release)…"
(cd "$REPO" && cargo build --release -q --bin depot)
cargo build --release -q --manifest-path "$PEERS/loadgen/Cargo.toml" --target-dir "$REPO/target"
DEPOT=$REPO/target/release/depot
LG=$REPO/target/release/loadgen
add_service_pids
RES=$OUT/depot_token$SFX.jsonl
[[ ${APPEND:-0} == 1 ]] || : >"$RES"
machine_note | tee "$OUT/machine$SFX.txt"

# guarded_run sets RUN_JSON only when the run starts.
loadgen_run() { taskset -c 1 "$LG" "$@" --json "$RUN_JSON" | sed -n '2p'; }
flow_run() { taskset -c 1 python3 "$REPO/benches/flow_bench.py" "$@" --json "$RUN_JSON" | sed -n '2p'; }

# A flow_bench.py scenario: TAG, then its arguments; a warm-up, then RUNS runs per level.
drive_flow() {
  local tag=$1; shift
  echo "== $tag (server pid $SRV_PID): warm-up 4 s (not recorded)"
  taskset -c 1 python3 "$REPO/benches/flow_bench.py" "$@" --label "$tag" --pregen 2000 \
    --concurrency 8 --runs 1 --duration 3 --warmup 1 >/dev/null
  for c in $CONC; do
    for _ in $(seq 1 "$RUNS"); do
      guarded_run "$RES" "$tag" -- flow_run "$@" --label "$tag" --concurrency "$c" --runs 1 \
        --duration "$DURATION" --warmup "$WARMUP" --watch-pid "$SRV_PID"
    done
  done
}

WORK=$(mktemp -d /tmp/depot-bench.XXXXXX)
SRV_PID=
stop_server() {
  if [[ -n $SRV_PID ]]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=; fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

python3 "$REPO/benches/bench_client.py" keygen "$WORK" bench-admin
python3 "$REPO/benches/bench_client.py" keygen "$WORK" bench-client
python3 "$REPO/benches/bench_client.py" keygen "$WORK" bench-app

for backend in $BACKENDS; do
  data=$WORK/data-$backend
  mkdir -p "$data"
  export DEPOT_DATA_DIR=$data DEPOT_PUBLIC_URL=$BASE DEPOT_LISTEN=127.0.0.1:$PORT DEPOT_WORKERS=1 DEPOT_LOG=warn
  case $backend in
    sqlite) unset DATABASE_URL; export DEPOT_SQLITE_SYNCHRONOUS=full ;;
    sqlite-normal) unset DATABASE_URL; export DEPOT_SQLITE_SYNCHRONOUS=normal ;;
    postgres)
      psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS depot_bench" -c "CREATE DATABASE depot_bench"
      # Loopback: no TLS to the database (sqlx would negotiate it, at ~20 % of the CPU).
      export DATABASE_URL="$PG_BASE/depot_bench?sslmode=${PG_SSLMODE:-disable}" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  "$DEPOT" admin bootstrap --client-id bench-admin --jwks "$WORK/bench-admin.jwks.json" >/dev/null
  taskset -c 0 "$DEPOT" serve >"$OUT/depot-$backend.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 1 50); do curl -sf -o /dev/null "$BASE/health/ready" && break; sleep 0.2; done
  curl -sf -o /dev/null "$BASE/health/ready" || { echo "depot did not start" >&2; cat "$OUT/depot-$backend.log" >&2; exit 1; }

  # The administrator registers the benchmark's system client through the admin API.
  assertion=$(python3 "$REPO/benches/bench_client.py" assertion "$WORK/bench-admin.pem" bench-admin bench-admin "$BASE/oauth2/token")
  admin_token=$(curl -sf "$BASE/oauth2/token" -d grant_type=client_credentials \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d "client_assertion=$assertion" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  python3 - "$WORK/bench-client.jwks.json" >"$WORK/client.json" <<'PY'
import json, sys
print(json.dumps({"client_id": "bench-client", "type": "system", "name": "Benchmark client",
                  "scopes": ["depot:send"], "jwks": json.load(open(sys.argv[1]))}))
PY
  curl -sf -o /dev/null -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
    --data-binary "@$WORK/client.json" "$BASE/admin/clients"

  if flows; then
    # The person (one profile) and the confidential relying party of the code flow.
    python3 - "$PERSON_SSIN" "$PERSON_PASSWORD" >"$WORK/person.json" <<'PY'
import json, sys
print(json.dumps({"ssin": sys.argv[1], "name": "Bench Person", "password": sys.argv[2],
                  "profiles": [{"profile": "citizen"}]}))
PY
    curl -sf -o /dev/null -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
      --data-binary "@$WORK/person.json" "$BASE/admin/persons"
    python3 - "$WORK/bench-app.jwks.json" >"$WORK/app.json" <<'PY'
import json, sys
print(json.dumps({"client_id": "bench-app", "type": "confidential", "name": "Bench app",
                  "redirect_uris": ["https://app.example/cb"], "scopes": ["depot:read", "depot:send"],
                  "jwks": json.load(open(sys.argv[1]))}))
PY
    curl -sf -o /dev/null -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
      --data-binary "@$WORK/app.json" "$BASE/admin/clients"
  fi

  for sc in $SCENARIOS; do
    case $sc in
    client_credentials)
      args=(--mode token --url "$BASE/oauth2/token" --key "$WORK/bench-client.pem" --kid bench-client
        --client-id bench-client --aud "$BASE/oauth2/token" --resource "$BASE/depot" --scope depot:send
        --assertion-ttl 300)
      tag=depot-token-$backend
      echo "== $tag (server pid $SRV_PID): warm-up 4 s (not recorded)"
      taskset -c 1 "$LG" "${args[@]}" --pregen 20000 --concurrency 8 --runs 1 --duration 3 --warmup 1 >/dev/null
      for c in $CONC; do
        for _ in $(seq 1 "$RUNS"); do
          guarded_run "$RES" "$tag" -- loadgen_run "${args[@]}" --label "$tag" --concurrency "$c" --runs 1 \
            --duration "$DURATION" --warmup "$WARMUP" --watch-pid "$SRV_PID"
        done
      done ;;
    cc|cc-dpop)
      drive_flow "depot-$sc-$backend" --scenario "$sc" --base "$BASE" --client-id bench-client \
        --key "$WORK/bench-client.pem" --kid bench-client --scope depot:send --resource "$BASE/depot" \
        --assertion-ttl 300 --pool-state "$WORK/pool-$backend-$sc.json" ;;
    code|refresh)
      drive_flow "depot-$sc-$backend" --scenario "$sc" --base "$BASE" --client-id bench-app \
        --key "$WORK/bench-app.pem" --kid bench-app --redirect-uri https://app.example/cb \
        --scope 'openid depot:read' --username "$PERSON_SSIN" --password "$PERSON_PASSWORD" \
        --assertion-ttl 300 --pool-state "$WORK/pool-$backend-$sc.json" ;;
    esac
  done
  stop_server
done

if [[ ${PEER:-0} == 1 ]]; then
  (cd "$PEERS/oidc-provider" && OUT=$OUT TARGETS=token CONC=$CONC DURATION=$DURATION RUNS=$RUNS ./bench.sh)
  python3 "$LIB/summarize.py" "$RES" "$OUT/http_token.jsonl" | tee "$OUT/summary$SFX.txt"
else
  python3 "$LIB/summarize.py" "$RES" | tee "$OUT/summary$SFX.txt"
fi
if flows; then
  { echo "# code/refresh: req/s = tokens/s (a code token = authorize + token request, its latency the pair);"
    echo "# generator = benches/flow_bench.py (Python asyncio/aiohttp), not loadgen: compare genCPU% against 100."
    python3 "$REPO/benches/flow_bench.py" steps "$RES"; } | tee -a "$OUT/summary$SFX.txt"
fi

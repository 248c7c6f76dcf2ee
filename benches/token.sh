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
#   SERVER_BIN=/tmp/depot-base benches/token.sh        # that binary, no cargo build of depot
#   SERVER_BINS="a=/tmp/depot-base b=target/release/depot" PEER=1 benches/token.sh
#                                       # A/B in one sitting: every backend and scenario with binary a, then
#                                       # with b; tags depot-token-sqlite-a, depot-token-sqlite-b, … side by side
#   BACKENDS='sqlite-normal postgres' DURATION=10 RUNS=3 SCENARIOS='code refresh' \
#     OUT=benches/results/2026-11-23 SUFFIX=code-refresh benches/token.sh
#                                       # -> depot_token-code-refresh.jsonl, summary-code-refresh.txt
#
# Same sitting, before the HTTP runs: `taskset -c 0 openssl speed -seconds SPEED_S ecdsap256` (CPU 0 = the
# depot's core), RUNS times -> OUT/openssl_speed-token[-SUFFIX].jsonl. A client_credentials token costs the
# server one P-256 verify (the client's private_key_jwt assertion) and one P-256 sign (the ES256 access
# token): crypto ceiling per core = 1 / (1/sign + 1/verify) tokens/s, printed next to the rates. The goal
# lines check, per backend (and binary), the client_credentials rows (same loadgen as the peer): tokens/s
# ≥ 2.5 × node-oidc-provider's `token` row at conc 8 and 32 (PEER=1: the same sitting; otherwise the
# peers' stored figures, marked NOT same-sitting), p99 < 15 ms at conc 32.
#
# Env: BACKENDS ("sqlite postgres"; also "sqlite-normal" = DEPOT_SQLITE_SYNCHRONOUS=normal) CONC ("1 8 32") DURATION (15) WARMUP (2) RUNS (3)
#      SCENARIOS ("client_credentials code refresh") SPEED_S (5; 0 skips openssl speed)
#      SERVER_BIN (unset: cargo build --release of depot; a path: that binary, not built)
#      SERVER_BINS ("name=/path name2=/path2": A/B, every backend/scenario with each binary in turn; tags get "-name")
#      LOADGEN_TARGET_DIR ($REPO/target; the cargo --target-dir of peers/loadgen) PEERS_RESULTS ($PEERS/results/2026-11-22)
#      PG_BASE (postgres://postgres@127.0.0.1:5432) PORT (18080) PEERS (../shared/peers)
#      OUT (benches/results/<UTC date>) SUFFIX ("": file names get "-SUFFIX", so a partial sitting
#      does not overwrite depot_token.jsonl / summary.txt / machine.txt) APPEND (0)
# Writes OUT/depot_token[-SUFFIX].jsonl and prints the summary table (medians of RUNS) into
# OUT/summary[-SUFFIX].txt; for `code` also the authorize/token split of the latency.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)  # absolute: the peer's bench runs from its own folder
BACKENDS=${BACKENDS:-"sqlite postgres"}
CONC=${CONC:-"1 8 32"}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"client_credentials code refresh"}
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

SPEED_S=${SPEED_S:-5}
PEERS_RESULTS=${PEERS_RESULTS:-$PEERS/results/2026-11-22}
# BINS: "name=path" per binary; the name ("" without SERVER_BINS) is appended to the tags.
select_bins "depot not built here"
LG_TARGET=${LOADGEN_TARGET_DIR:-$REPO/target}
echo "building loadgen (release, --target-dir $LG_TARGET)…"
cargo build --release -q --manifest-path "$PEERS/loadgen/Cargo.toml" --target-dir "$LG_TARGET"
LG=$LG_TARGET/release/loadgen
add_service_pids
RES=$OUT/depot_token$SFX.jsonl
SPEED=$OUT/openssl_speed-token$SFX.jsonl
fresh_results "$RES" "$SPEED"
{
  machine_note
  bins_note
  openssl version
} | tee "$OUT/machine$SFX.txt"

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

bench_work depot-bench

keygen bench-admin bench-client bench-app

# ---------------------------------------------------------------- same sitting: per-token crypto on CPU 0
speed_run() {
  speed_measure
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); s,v=r["ecdsap256_sign_per_s"],r["ecdsap256_verify_per_s"]; print("  openssl speed: ECDSA P-256 %.0f sign/s, %.0f verify/s -> 1 verify + 1 sign: %.0f tokens/s per core" % (s, v, 1/(1/s+1/v)))' "$RUN_JSON"
}
speed_runs " (one verify + one sign per token)"

for nb in "${BINS[@]}"; do
DEPOT=${nb#*=} name=${nb%%=*}
for backend in $BACKENDS; do
  lbl=$backend${name:+-$name}
  depot_env "$lbl"
  # The code and refresh scenarios log one person in from every worker at once: the login
  # throttle counts attempts before checking them (parallel guesses), so lift its limits.
  export DEPOT_LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 DEPOT_LOGIN_MAX_FAILURES_PER_ADDRESS=1000000
  backend_db "$backend" depot_bench
  start_depot "$OUT/depot-$lbl$SFX.log"

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
      tag=depot-token-$lbl
      echo "== $tag (server pid $SRV_PID): warm-up 4 s (not recorded)"
      taskset -c 1 "$LG" "${args[@]}" --pregen 20000 --concurrency 8 --runs 1 --duration 3 --warmup 1 >/dev/null
      for c in $CONC; do
        for _ in $(seq 1 "$RUNS"); do
          guarded_run "$RES" "$tag" -- loadgen_run "${args[@]}" --label "$tag" --concurrency "$c" --runs 1 \
            --duration "$DURATION" --warmup "$WARMUP" --watch-pid "$SRV_PID"
        done
      done ;;
    cc|cc-dpop)
      drive_flow "depot-$sc-$lbl" --scenario "$sc" --base "$BASE" --client-id bench-client \
        --key "$WORK/bench-client.pem" --kid bench-client --scope depot:send --resource "$BASE/depot" \
        --assertion-ttl 300 --pool-state "$WORK/pool-$lbl-$sc.json" ;;
    code|refresh)
      drive_flow "depot-$sc-$lbl" --scenario "$sc" --base "$BASE" --client-id bench-app \
        --key "$WORK/bench-app.pem" --kid bench-app --redirect-uri https://app.example/cb \
        --scope 'openid depot:read' --username "$PERSON_SSIN" --password "$PERSON_PASSWORD" \
        --assertion-ttl 300 --pool-state "$WORK/pool-$lbl-$sc.json" ;;
    esac
  done
  stop_server
done
done

if [[ ${PEER:-0} == 1 ]]; then
  (cd "$PEERS/oidc-provider" && OUT=$OUT TARGETS=token CONC=$CONC DURATION=$DURATION RUNS=$RUNS ./bench.sh)
  PEER_RES=$OUT/http_token.jsonl PEER_SAME=1
  python3 "$LIB/summarize.py" "$RES" "$OUT/http_token.jsonl" | tee "$OUT/summary$SFX.txt"
else
  PEER_RES=$PEERS_RESULTS/http_token.jsonl PEER_SAME=0
  python3 "$LIB/summarize.py" "$RES" | tee "$OUT/summary$SFX.txt"
fi
# The crypto ceiling and the goals, from this sitting's files (the peer's stored ones only without PEER=1, marked).
python3 - "$RES" "$SPEED" "$PEER_RES" "$PEER_SAME" <<'PY' | tee -a "$OUT/summary$SFX.txt"
import json, os, statistics as st, sys
res, speed, peer, peer_same = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
def lines(p):
    return [json.loads(x) for x in open(p) if x.strip()] if os.path.exists(p) else []
def pick(rows):
    clean = [r for r in rows if r.get("clean", True)]
    return clean or rows, f"{len(clean)}/{len(rows)}"
def rows_of(recs):
    out = {}
    for l in recs:
        for lv in l["levels"]:
            for r in lv["runs"]:
                out.setdefault((l["tag"], r["concurrency"]), []).append({**r, "clean": l.get("clean", True)})
    med = {}
    for k, rs in out.items():
        rs, cl = pick(rs)
        med[k] = {"rps": st.median(r["rps"] for r in rs), "p99_ms": st.median(r["p99_us"] for r in rs) / 1000,
                  "errors": sum(r["errors"] for r in rs), "clean": cl}
    return med
print()
sp = lines(speed)
ceil = None
if sp:
    rs, cl = pick(sp)
    s, v = st.median(r["ecdsap256_sign_per_s"] for r in rs), st.median(r["ecdsap256_verify_per_s"] for r in rs)
    ceil = 1 / (1 / s + 1 / v)
    print(f"per-token crypto ceiling (this sitting, {speed}: openssl speed ecdsap256 on CPU 0, median, clean {cl}):")
    print(f"  P-256 {s:.0f} sign/s, {v:.0f} verify/s -> 1 verify (client assertion) + 1 sign (access token) = "
          f"{ceil:.0f} tokens/s per core")
else:
    print("per-token crypto ceiling: not measured (SPEED_S=0)")
depot = rows_of(lines(res))
peer_rows = rows_of([l for l in lines(peer) if l.get("tag") == "token"]) if peer else {}
src = "this sitting" if peer_same else f"NOT this sitting: {peer} (PEER=1 runs it in the same sitting)"
if ceil:
    print("  tokens/s as a share of it: " + "; ".join(
        f"{t} conc {c}: {v['rps']:.0f} = {v['rps'] / ceil * 100:.0f}%" for (t, c), v in depot.items()
        if t.startswith("depot-token-") or t.startswith("depot-cc-")))
print()
print(f"goals (client_credentials rows, loadgen like the peer; node-oidc-provider `token` from {src}):")
tags = list(dict.fromkeys(t for t, _ in depot if t.startswith("depot-token-")))
if not tags:
    print("  no client_credentials rows (SCENARIOS without client_credentials): goals not checked")
for t in tags:
    for c in (8, 32):
        d, p = depot.get((t, c)), peer_rows.get(("token", c))
        if not d:
            print(f"  {t}: conc {c} not measured")
            continue
        if p:
            ok = d["rps"] >= 2.5 * p["rps"] and d["errors"] == 0
            print(f"  {t}: tokens/s ≥ 2.5 × node-oidc-provider at conc {c}: {d['rps']:.0f} vs {p['rps']:.0f}/s = "
                  f"{d['rps'] / p['rps']:.2f}× (goal {2.5 * p['rps']:.0f}/s) -> {'MET' if ok else 'NOT MET'}"
                  + (f" ({d['errors']} errors)" if d["errors"] else ""))
        else:
            print(f"  {t}: tokens/s ≥ 2.5 × node-oidc-provider at conc {c}: {d['rps']:.0f}/s; no peer figure at conc {c}")
    d = depot.get((t, 32))
    if d:
        print(f"  {t}: p99 < 15 ms at conc 32: p99 = {d['p99_ms']:.3f} ms -> {'MET' if d['p99_ms'] < 15 else 'NOT MET'}")
PY
if flows; then
  { echo "# code/refresh: req/s = tokens/s (a code token = authorize + token request, its latency the pair);"
    echo "# generator = benches/flow_bench.py (Python asyncio/aiohttp), not loadgen: compare genCPU% against 100."
    python3 "$REPO/benches/flow_bench.py" steps "$RES"; } | tee -a "$OUT/summary$SFX.txt"
fi

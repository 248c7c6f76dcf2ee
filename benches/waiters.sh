#!/usr/bin/env bash
# Waiting receivers (issue item 4): N concurrent long polls `GET /depot/messages?wait=WAIT` on one
# depot (release build, DEPOT_WORKERS=1, pinned to CPU 0), driven by benches/waiters.py (asyncio +
# aiohttp, one keep-alive connection per waiter, pinned to CPU 1). Per backend (and binary):
#   setup     `depot admin bootstrap` of bench-admin (as benches/depot.sh), then through the admin API the
#             sender bench-sender (depot:send) and IDS recipient identities (each its organization/CBE,
#             system client with a private_key_jwt key, `enc` key), by waiters.py setup, which reuses
#             depot_driver.py (cbe, sealing) and bench_client.py (keys, assertions).
#   baseline  IDLE s with no waiter: the depot's own background work (CPU, database traffic).
#   idle      N waiters (waiter j = identity j mod IDS), each looping on the long poll; once all polls are
#             out and the depot is quiet, IDLE s without messages: queries during it (PostgreSQL: TCP
#             segments the depot sends to the database, from `ss -tin`, and pg_stat_database deltas of the
#             bench database — pg_stat_statements is not loaded on this server; SQLite: depot CPU,
#             syscalls, context switches), the depot's CPU and RSS -> queries/s per idle waiter.
#   latency   MESSAGES small sealed messages (JWE as depot.sh builds, one recipient), one at a time, each
#             to an identity that has waiters; latency = waiter's answer read − sender's 201 read (and
#             − POST sent): p50/p90/p99.
# Goals (summary): zero queries/s per idle waiter; p50 delivery ≤ 10 ms after the commit; 1,000
# concurrent waiters on one instance.
#
#   SERVER_BIN=/tmp/depot-base benches/waiters.sh                      # SQLite and PostgreSQL, 1000 waiters
#   SERVER_BIN=/tmp/depot-base N=100 IDS=100 MESSAGES=20 IDLE=5 BACKENDS=sqlite benches/waiters.sh   # smoke
#   SERVER_BINS="a=/tmp/depot-base b=target/release/depot" benches/waiters.sh   # A/B, rows sqlite-a, sqlite-b, …
#
# Env: BACKENDS ("sqlite postgres"; also sqlite-normal) N (1000 waiters) IDS (N: recipient identities; fewer
#      = several waiters per box, each message then wakes N/IDS of them) WAIT (30 s, ≤ 30, must exceed IDLE)
#      IDLE (10 s) BASELINE (1) MESSAGES (200) GAP_MS (20) DELIVER_TIMEOUT (3 s)
#      SERVER_BIN / SERVER_BINS (as depot.sh; neither: cargo build --release)
#      PG_BASE (postgres://postgres@127.0.0.1:5432) PG_DB (depot_waiters_bench) KEEP_DB (0) PORT (18080)
#      PEERS (../shared/peers, for lib/common.sh) OUT (benches/results/<UTC date>) SUFFIX APPEND (0)
#      AMQP_URL (unset: notifications stay in the outbox)
# Writes OUT/depot_waiters[-SUFFIX].jsonl (one line per backend), OUT/depot-waiters-<label>[-SUFFIX].log,
# OUT/machine-waiters[-SUFFIX].txt and OUT/waiters_summary[-SUFFIX].txt.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
BACKENDS=${BACKENDS:-"sqlite postgres"}
N=${N:-1000}
IDS=${IDS:-$N}
WAIT=${WAIT:-30}
IDLE=${IDLE:-10}
BASELINE=${BASELINE:-1}
MESSAGES=${MESSAGES:-200}
GAP_MS=${GAP_MS:-20}
DELIVER_TIMEOUT=${DELIVER_TIMEOUT:-3}
PG_DB=${PG_DB:-depot_waiters_bench}
KEEP_DB=${KEEP_DB:-0}
W=$REPO/benches/waiters.py
check_backends
((IDS >= 1 && IDS <= N)) || { echo "IDS must be 1..N" >&2; exit 2; }
awk -v w="$WAIT" -v i="$IDLE" 'BEGIN { exit !(w <= 30 && w > i + 2) }' ||
  { echo "WAIT ($WAIT) must be ≤ 30 and exceed IDLE ($IDLE) by a few seconds (no re-poll during the idle phase)" >&2; exit 2; }
python3 -c 'import aiohttp, jwcrypto, cryptography' 2>/dev/null || { echo "needs aiohttp and jwcrypto: pip install aiohttp jwcrypto" >&2; exit 2; }
port_free
((N + 100 < $(ulimit -n))) || ulimit -n $((N + 1024)) || { echo "ulimit -n too small for $N waiters" >&2; exit 2; }

# BINS: "name=path" per binary; the name ("" without SERVER_BINS) is appended to the row labels.
select_bins ""  # no note: nothing said about the binaries here
add_service_pids
RES=$OUT/depot_waiters$SFX.jsonl
fresh_results "$RES"
{
  machine_note
  bins_note
  echo "python $(python3 -c 'import sys; print(sys.version.split()[0])'), aiohttp $(python3 -c 'import aiohttp; print(aiohttp.__version__)')"
  echo "N=$N IDS=$IDS WAIT=$WAIT IDLE=$IDLE MESSAGES=$MESSAGES GAP_MS=$GAP_MS AMQP_URL=${AMQP_URL:-unset}"
} | tee "$OUT/machine-waiters$SFX.txt"

bench_work depot-waiters-bench
keygen bench-admin

for nb in "${BINS[@]}"; do
DEPOT=${nb#*=} name=${nb%%=*}
for backend in $BACKENDS; do
  lbl=$backend${name:+-$name}
  depot_env "$lbl"
  export DEPOT_BOX_QUOTA_BYTES=$((1 << 50)) DEPOT_BOX_QUOTA_MESSAGES=$((1 << 50)) DEPOT_ACCESS_TOKEN_TTL_SECONDS=3600
  backend_db "$backend" "$PG_DB"
  db_args=()
  if [[ $backend == postgres ]]; then
    pg_port=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 5432)' "$PG_BASE")
    db_args=(--db-url "$PG_BASE/postgres" --db-name "$PG_DB" --db-port "$pg_port")
  fi
  start_depot "$OUT/depot-waiters-$lbl$SFX.log"
  echo "== $lbl: $DEPOT (server pid $SRV_PID), $N waiters over $IDS identities"
  taskset -c 1 python3 "$W" setup --base "$BASE" --work "$WORK" --ids "$IDS"
  base_args=()
  [[ $BASELINE == 1 ]] || base_args=(--no-baseline)
  taskset -c 1 python3 "$W" run --base "$BASE" --work "$WORK" --waiters "$N" --backend "$backend" --label "$lbl" \
    --wait "$WAIT" --idle "$IDLE" --messages "$MESSAGES" --gap-ms "$GAP_MS" --deliver-timeout "$DELIVER_TIMEOUT" \
    --watch-pid "$SRV_PID" "${db_args[@]}" "${base_args[@]}" --json "$WORK/run.json"
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$WORK/run.json" >>"$RES"
  stop_server
  if [[ $backend == postgres && $KEEP_DB != 1 ]]; then
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB"
  fi
done
done

notes=(--note "$(head -1 "$OUT/machine-waiters$SFX.txt")"
  --note "N=$N waiters over IDS=$IDS identities, WAIT=${WAIT}s, IDLE=${IDLE}s, $MESSAGES messages one at a time (gap ${GAP_MS} ms); AMQP_URL: ${AMQP_URL:-unset}")
for nb in "${BINS[@]}"; do
  [[ -n ${nb%%=*} ]] && notes+=(--note "binary ${nb%%=*} (rows -${nb%%=*}): ${nb#*=}")
done
python3 "$W" summary --jsonl "$RES" "${notes[@]}" | tee "$OUT/waiters_summary$SFX.txt"

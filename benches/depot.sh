#!/usr/bin/env bash
# Depot ingest benchmark: the running `depot` (release build, one worker pinned to CPU 0) accepts
# sealed messages while a closed-loop generator on CPU 1 posts them over HTTP; then the same
# messages are fetched by id. Same machinery as benches/tsa.sh and ../shared/peers (cpuguard,
# pinning, medians of RUNS runs).
#
#   ingest   POST /depot/messages {"application":"bench","recipients":[{"type":"cbe",…},{"type":"cbe",…}],
#            "sealed":<JWE general JSON>} with the bearer token of the system client bench-sender
#            (depot:send; a fresh client_credentials token before every run), no Idempotency-Key, so
#            every POST is a new message. One JWE per size (SIZES: 1k 10k 1m = the `sealed` text is
#            1024 / 10240 / 1048576 bytes ±3), built once with jwcrypto: enc A256GCM, one recipient entry
#            per recipient's `enc` key (ECDH-ES+A256KW, kid = the kid POST /admin/keys answered). The
#            depot does not decrypt, so the same body is posted again and again. Each accepted message
#            costs the depot its JWE/kid checks, an RFC 3161 timestamp from its own TSA (in-process,
#            P-256 signature) and one transaction (message, 2 inbox entries + sent box,
#            outbox rows). Only 201s count; everything else is an error, reported by status.
#   fetch    GET /depot/messages/{id} over the ids collected during ingest (per size), with the token
#            of the recipient bench-rcpt-1 (depot:read). A recipient's first fetch of a message records
#            its receivedAt receipt (a write), later ones only read. So, per size, one "first" pass
#            fetches every id once at conc FIRST_CONC (no warm-up, until the ids run out, no retry),
#            then the CONC rows are re-reads of the same ids (closed loop, like ingest). Only the
#            FETCH_IDS most recent ids of a size are used (the first pass must stay short).
#   memory   the depot's peak RSS: VmHWM from /proc/PID/status, reset just before each run
#            (echo 5 > /proc/PID/clear_refs) and read after it, plus VmRSS after the run.
#   ceiling  measured in the same sitting by default (CEILING=same), before the depot runs, so every
#            ratio the summary prints compares figures of one sitting:
#              PostgreSQL  pgbench, the peers' `literal` variant (../shared/peers/pg/bench.sh: schema.sql,
#                          one INSERT per transaction of a 10 KiB random payload sent as a 20 KiB hex literal
#                          + ~500 B jsonb, -M simple, synchronous_commit on, TRUNCATE + CHECKPOINT before
#                          each run) in a scratch database PG_DB_ceiling, at every CONC level plus 8 and 32
#                          clients, THREADS 2; RUNS × DURATION s. Like peers/pg/bench.sh, neither pgbench
#                          nor the server is pinned (PGBENCH_CPU=1 pins pgbench to CPU 1, as the generator).
#              P-256 sign  `taskset -c 0 openssl speed -seconds SPEED_S ecdsap256` (CPU 0 = the depot's core),
#                          RUNS times.
#            -> OUT/pg_ceiling-depot[-SUFFIX].jsonl and OUT/openssl_speed-depot[-SUFFIX].jsonl.
#            CEILING=peers takes them from ../shared/peers/results/2026-11-22 instead (pg_insert_summary.txt
#            row `literal`, 8 clients: 5089 inserts/s; tsa_summary.txt: 49090 sign/s, or SPEED_S>0 here).
#            The summary gives the 10 KiB rate as a ratio of the PostgreSQL insert ceiling at the same
#            concurrency and of 1 / (1/pg + 1/sign), says where each figure came from, and checks the
#            issue's goals: 10 KiB ingest at conc 32 ≥ 70 % of the same sitting's pgbench insert rate at
#            32 clients, p99 < 20 ms at conc 32; with notifications on (NOTIFY="off on": the same backend
#            again with AMQP_URL set, RabbitMQ running) the rate within 10 % of without.
#
# Setup through the admin API (after `depot admin bootstrap` of bench-admin, as tsa.sh does): three
# organizations; system clients bench-sender (depot:send depot:read), bench-rcpt-1 and bench-rcpt-2
# (depot:read), each with its organization — which is what gives a system client's token
# identity {"profile":"system","cbe":…} — and a private_key_jwt P-256 key; an EC P-256 `enc` key per
# recipient through POST /admin/keys. A preflight per size posts one message, fetches it as both
# recipients, checks `sealed` comes back as posted, decrypts it with both recipients' keys and checks
# the timestamp's imprint; the script stops on any unexpected answer and prints the request and answer.
# PostgreSQL gets a fresh database (PG_DB) per sitting, dropped at the end (KEEP_DB=1 keeps it).
# Run ../shared/peers/services-up.sh first: it gives PostgreSQL the settings the peers' ceiling was
# measured with (shared_buffers 2GB, max_wal_size 16GB, …); the summary's header prints those in force.
# Box quotas are lifted for the bench (DEPOT_BOX_QUOTA_BYTES and _MESSAGES; the defaults, 1 GiB = ~1000 messages
# of 1 MiB and 100,000 messages, fill up within a sitting). No broker (AMQP_URL unset unless you export it): notifications wait in the outbox table.
#
#   benches/depot.sh                      # PostgreSQL, sizes 1k 10k 1m, conc 1/8/32, 3 × 15 s each (~35 min
#                                         # on a quiet machine, plus waits for quiet)
#   SMOKE=1 DURATION=2 WARMUP=1 RUNS=1 CONC="1 8" SIZES="1k 10k" benches/depot.sh     # smoke run
#   BACKENDS="postgres sqlite" OUT=benches/results/2026-11-25 SUFFIX=pg-lite benches/depot.sh
#                     # -> depot_ingest-pg-lite.jsonl, depot_fetch-pg-lite.jsonl, depot_summary-pg-lite.txt
#   CEILING=peers benches/depot.sh        # ceiling from the peers' stored results (the old behaviour)
#   NOTIFY="off on" BACKENDS=postgres CONC="8 32" SIZES=10k benches/depot.sh
#                                         # each backend without, then with notifications (AMQP_URL, default
#                                         # amqp://guest:guest@127.0.0.1:5672/%2f): rows postgres, postgres+amqp
#   SERVER_BINS="a=/tmp/depot-base b=target/release/depot" benches/depot.sh
#                                         # A/B in one sitting: every backend with each binary in turn, rows
#                                         # postgres-a, postgres-b side by side (no cargo build)
#   reprint the summary:  python3 benches/depot_driver.py summary --ingest OUT/depot_ingest.jsonl \
#                           --fetch OUT/depot_fetch.jsonl --pg-ceiling OUT/pg_ceiling-depot.jsonl \
#                           --speed OUT/openssl_speed-depot.jsonl --peers-results ../shared/peers/results/2026-11-22
#
# Env: BACKENDS ("postgres"; also "sqlite", "sqlite-normal") SIZES ("1k 10k 1m") CONC ("1 8 32")
#      DURATION (15) WARMUP (2) RUNS (3) FETCH (1; 0 skips the fetch runs) FIRST_CONC (8) FETCH_IDS (20000)
#      CEILING (same | peers) SPEED_S (CEILING=same: 5; CEILING=peers: 0 = use the peers' sign rate; N = measure
#      `openssl speed -seconds N ecdsap256` on CPU 0, RUNS times) CEIL_CONC (CONC ∪ 8 32) PGBENCH_THREADS (2)
#      PGBENCH_CPU (unset: unpinned, as peers/pg/bench.sh)
#      NOTIFY ("off"; "off on" = each backend also with AMQP_URL set; "on" = only with it)
#      PG_BASE (postgres://postgres@127.0.0.1:5432) PG_DB (depot_ingest_bench) KEEP_DB (0)
#      MIN_FREE_GB (8: a size's remaining ingest runs are skipped when the database's disk has less free)
#      SERVER_BIN (unset: `cargo build --release` and use target/release/depot; a path: use that binary)
#      SERVER_BINS ("name=/path name2=/path2": A/B, each backend with each binary in turn; rows get "-name")
#      PORT (18080) PEERS (../shared/peers) PEERS_RESULTS ($PEERS/results/2026-11-22)
#      OUT (benches/results/<UTC date>) SUFFIX ("": file names get "-SUFFIX") APPEND (0)
#      the guard knobs of peers/lib/common.sh (QUIET_PCT MAX_FOREIGN MAX_TRIES MAX_WAIT), and
#      SMOKE (0; 1 = don't wait for a quiet machine nor retry: QUIET_PCT=1000 MAX_TRIES=1 unless set;
#      the summary is then marked as a smoke run, not a measurement).
# Writes OUT/depot_ingest[-SUFFIX].jsonl, OUT/depot_fetch[-SUFFIX].jsonl (one line per run: the
# driver's report + the guard's), OUT/pg_ceiling-depot[-SUFFIX].jsonl, OUT/openssl_speed-depot[-SUFFIX].jsonl, OUT/machine-depot[-SUFFIX].txt, the server log in
# OUT/depot-ingest-<backend>[-SUFFIX].log, and OUT/depot_summary[-SUFFIX].txt.
set -euo pipefail
# Before lib.sh: peers/lib/common.sh gives the guard knobs their defaults when it is sourced.
if [[ ${SMOKE:-0} == 1 ]]; then
  export QUIET_PCT=${QUIET_PCT:-1000} MAX_TRIES=${MAX_TRIES:-1}
fi
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
BACKENDS=${BACKENDS:-postgres}
SIZES=${SIZES:-"1k 10k 1m"}
CONC=${CONC:-"1 8 32"}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
FETCH=${FETCH:-1}
FIRST_CONC=${FIRST_CONC:-8}
FETCH_IDS=${FETCH_IDS:-20000}
CEILING=${CEILING:-same}
case $CEILING in
  same) SPEED_S=${SPEED_S:-5} ;;
  peers) SPEED_S=${SPEED_S:-0} ;;
  *) echo "CEILING is same or peers, not $CEILING" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086 # CONC is a list: one word per level
CEIL_CONC=${CEIL_CONC:-$(printf '%s\n' $CONC 8 32 | sort -nu | xargs)}
PGBENCH_THREADS=${PGBENCH_THREADS:-2}
# Notifications: "on" = AMQP_URL set for the depot (its own value when exported, else the local RabbitMQ).
AMQP_ON_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
if [[ -n ${AMQP_URL:-} ]]; then NOTIFY=${NOTIFY:-on}; else NOTIFY=${NOTIFY:-off}; fi
for n in $NOTIFY; do [[ $n == on || $n == off ]] || { echo "NOTIFY takes off and/or on, not $n" >&2; exit 2; }; done
PG_DB=${PG_DB:-depot_ingest_bench}
KEEP_DB=${KEEP_DB:-0}
MIN_FREE_GB=${MIN_FREE_GB:-8}
PEERS_RESULTS=${PEERS_RESULTS:-$PEERS/results/2026-11-22}
DRIVER=$REPO/benches/depot_driver.py
check_backends
for size in $SIZES; do
  [[ $size =~ ^[0-9]+[km]?$ ]] || { echo "bad size $size (1k, 10k, 1m, …)" >&2; exit 2; }
done
if [[ $CEILING == peers ]]; then
  for f in pg_insert_summary.txt tsa_summary.txt; do
    [[ -f $PEERS_RESULTS/$f ]] || echo "warning: $PEERS_RESULTS/$f is missing: no ceiling in the summary" >&2
  done
else
  # shellcheck disable=SC2012 # fixed Debian paths, the newest version last
  PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)
  [[ -x $PGBENCH ]] || { echo "CEILING=same needs pgbench (postgresql-contrib), or CEILING=peers" >&2; exit 2; }
  for f in schema.sql meta_template.json pgbench_stats.py; do
    [[ -f $PEERS/pg/$f ]] || { echo "CEILING=same needs $PEERS/pg/$f" >&2; exit 2; }
  done
fi
python3 -c 'import jwcrypto, cryptography' 2>/dev/null || { echo "needs jwcrypto and cryptography: pip install jwcrypto" >&2; exit 2; }
port_free

# BINS: "name=path" per binary; the name ("" without SERVER_BINS) is appended to the row labels.
select_bins "not built here"
add_service_pids
PG_PID=$(head -1 /var/run/postgresql/15-main.pid 2>/dev/null || true)
RES=$OUT/depot_ingest$SFX.jsonl
FET=$OUT/depot_fetch$SFX.jsonl
SPEED=$OUT/openssl_speed-depot$SFX.jsonl
PG_CEIL=$OUT/pg_ceiling-depot$SFX.jsonl
fresh_results "$RES" "$FET" "$SPEED" "$PG_CEIL"
pg_settings() {
  psql "$PG_BASE/postgres" -Atc "select string_agg(name || '=' || setting || coalesce(unit, ''), ' ' order by name)
    from pg_settings where name in ('shared_buffers','wal_buffers','max_wal_size','checkpoint_timeout',
    'synchronous_commit','fsync','full_page_writes','server_version')" 2>/dev/null || echo "(PostgreSQL not reachable at $PG_BASE)"
}
{
  machine_note
  bins_note
  echo "ceiling: CEILING=$CEILING$([[ $CEILING == same ]] && echo " (pgbench literal at $CEIL_CONC clients, openssl speed ${SPEED_S}s, this sitting)")"
  echo "$(openssl version); python $(python3 -c 'import sys; print(sys.version.split()[0])')"
  if [[ " $BACKENDS " == *" postgres "* || $CEILING == same ]]; then echo "PostgreSQL: $(pg_settings)"; fi
  echo "AMQP_URL: ${AMQP_URL:-unset (notifications stay in the outbox)}"
  if [[ ${SMOKE:-0} == 1 ]]; then echo "SMOKE run: QUIET_PCT=$QUIET_PCT MAX_TRIES=$MAX_TRIES"; fi
} | tee "$OUT/machine-depot$SFX.txt"

bench_work depot-ingest-bench
keygen bench-admin

# ---------------------------------------------------------------- optional: P-256 signing rate on CPU 0
speed_run() {
  speed_measure
  python3 -c 'import json,sys; print("  openssl speed: ECDSA P-256 %(ecdsap256_sign_per_s).0f sign/s" % json.load(open(sys.argv[1])))' "$RUN_JSON"
}
speed_runs ""

# ---------------------------------------------------------------- same sitting: PostgreSQL insert ceiling
# The peers' `literal` variant (peers/pg/bench.sh) at each of CEIL_CONC clients, in a scratch database.
CEIL_DB=${PG_DB}_ceiling
pg_ceiling_run() { # pg_ceiling_run CLIENTS RUN  (writes $RUN_JSON)
  local c=$1 run=$2 lsn0 wal rows tbytes j
  local url=$PG_BASE/$CEIL_DB
  j=$((c < PGBENCH_THREADS ? c : PGBENCH_THREADS))
  psql "$url" -qc "TRUNCATE depot_message" -c "CHECKPOINT"
  lsn0=$(psql "$url" -tAc "SELECT pg_current_wal_lsn()")
  (cd "$WORK" && ${PGBENCH_CPU:+taskset -c "$PGBENCH_CPU"} "$PGBENCH" -n -M simple -c "$c" -j "$j" -T "$DURATION" \
    -l --log-prefix="$WORK/pglog_${c}_$run" -f insert_literal.sql "$url") >"$WORK/pgout_${c}_$run.txt" 2>&1 ||
    { echo "pgbench failed:" >&2; cat "$WORK/pgout_${c}_$run.txt" >&2; exit 1; }
  wal=$(psql "$url" -tAc "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')::bigint")
  rows=$(psql "$url" -tAc "SELECT count(*) FROM depot_message")
  tbytes=$(psql "$url" -tAc "SELECT pg_total_relation_size('depot_message')")
  python3 "$PEERS/pg/pgbench_stats.py" "$WORK/pgout_${c}_$run.txt" "$WORK/pglog_${c}_$run" \
    --variant literal --run "$run" --rows "$rows" --wal-bytes "$wal" --table-bytes "$tbytes" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); r.update(clients=int(sys.argv[1]), threads=int(sys.argv[2]), pinned=sys.argv[3] or None, source="pgbench -M simple, peers/pg literal (10 KiB hex literal + jsonb), this sitting"); print(json.dumps(r))' \
      "$c" "$j" "${PGBENCH_CPU:-}" >"$RUN_JSON"
  rm -f "$WORK/pglog_${c}_$run".*
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  pgbench literal %(clients)3d clients run %(run)s: %(tps).0f inserts/s  p50 %(p50_ms).2f ms  p99 %(p99_ms).2f ms  WAL %(wal_bytes_per_row)s B/row" % r)' "$RUN_JSON"
}
if [[ $CEILING == same ]]; then
  echo "== PostgreSQL insert ceiling (pgbench, peers' literal variant, 10 KiB rows) at $CEIL_CONC clients, database $CEIL_DB"
  psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $CEIL_DB" -c "CREATE DATABASE $CEIL_DB"
  psql "$PG_BASE/$CEIL_DB" -q -v ON_ERROR_STOP=1 -v meta_template="$(cat "$PEERS/pg/meta_template.json")" \
    -f "$PEERS/pg/schema.sql" >/dev/null
  { echo '\set seq random(1, 2000000000)'
    printf "INSERT INTO depot_message (id, payload, meta, created_at) VALUES (gen_random_uuid(), '\\\\x%s'::bytea, '%s'::jsonb || jsonb_build_object('seq', :seq, 'client', :client_id), now());\n" \
      "$(openssl rand -hex 10240)" "$(tr -d '\n' <"$PEERS/pg/meta_template.json")"
  } >"$WORK/insert_literal.sql"
  for c in $CEIL_CONC; do
    for run in $(seq 1 "$RUNS"); do guarded_run "$PG_CEIL" "pg-literal-c$c" -- pg_ceiling_run "$c" "$run"; done
  done
  psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $CEIL_DB" -c "CHECKPOINT"
fi

# guarded_run sets RUN_JSON only when the run starts.
drive() { # drive ingest|fetch ARGS…: the generator on CPU 1
  PYTHONPATH="$REPO/benches" taskset -c 1 python3 "$DRIVER" "$@" --base "$BASE" --work "$WORK" \
    --watch-pid "$SRV_PID" ${DB_PID:+--db-pid "$DB_PID"}
}
measured() { drive "$@" --json "$RUN_JSON"; }
free_gb() { df -BG --output=avail "$1" | tail -1 | tr -dc 0-9; }

for nb in "${BINS[@]}"; do
DEPOT=${nb#*=} name=${nb%%=*}
for backend in $BACKENDS; do
for notify in $NOTIFY; do
  # The row label: backend, "+amqp" with notifications on, "-name" of the binary in an A/B sitting.
  # shellcheck disable=SC2015 # echo cannot fail: || true only keeps set -e quiet when notify is off
  lbl=$backend$([[ $notify == on ]] && echo +amqp || true)${name:+-$name}
  depot_env "$lbl"
  export DEPOT_BOX_QUOTA_BYTES=$((1 << 50)) DEPOT_BOX_QUOTA_MESSAGES=$((1 << 50))
  # A fresh token is fetched before every run; the long TTL only covers a long first fetch pass.
  export DEPOT_ACCESS_TOKEN_TTL_SECONDS=3600
  if [[ $notify == on ]]; then export AMQP_URL=$AMQP_ON_URL; else unset AMQP_URL; fi
  backend_db "$backend" "$PG_DB"
  # Where the database writes (MIN_FREE_GB), and PostgreSQL's pid for the driver.
  dbdir=$DEPOT_DATA_DIR DB_PID=
  if [[ $backend == postgres ]]; then
    dbdir=$(psql "$PG_BASE/postgres" -Atc "show data_directory" 2>/dev/null || echo /)
    [[ -d $dbdir ]] || dbdir=/
    DB_PID=$PG_PID
  fi
  start_depot "$OUT/depot-ingest-$lbl$SFX.log"

  PYTHONPATH="$REPO/benches" python3 "$DRIVER" setup --base "$BASE" --work "$WORK"
  python3 "$DRIVER" seal --work "$WORK" --sizes "$SIZES"
  python3 "$DRIVER" preflight --base "$BASE" --work "$WORK" --sizes "$SIZES"
  rm -f "$WORK"/ids-*

  first=${SIZES%% *}
  echo "== $lbl: $DEPOT, AMQP_URL ${AMQP_URL:-unset} (server pid $SRV_PID): warm-up, ingest $first at conc 8 for 3 s (not recorded)"
  drive ingest --size "$first" --backend "$lbl" --concurrency 8 --duration 2 --warmup 1 \
    --label warmup >/dev/null
  for size in $SIZES; do
    for c in $CONC; do
      for run in $(seq 1 "$RUNS"); do
        left=$(free_gb "$dbdir")
        if ((left < MIN_FREE_GB)); then
          echo "  only ${left} GiB free under $dbdir (MIN_FREE_GB=$MIN_FREE_GB): skipping the rest of ingest $size" >&2
          break 2
        fi
        guarded_run "$RES" "ingest-$lbl-$size" -- measured ingest --size "$size" \
          --backend "$lbl" --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
          --ids-out "$WORK/ids-$size" --label "ingest-$lbl-$size#$run"
      done
    done
  done
  if [[ $FETCH == 1 ]]; then
    for size in $SIZES; do
      [[ -s $WORK/ids-$size ]] || { echo "  no ids for $size: no fetch runs" >&2; continue; }
      echo "  fetch $size: $(wc -l <"$WORK/ids-$size") message ids (the last $FETCH_IDS used); first pass at conc $FIRST_CONC, then re-reads"
      # Each id once (the recipient's first fetch writes its receipt); no retry: the ids are used up.
      MAX_TRIES=1 guarded_run "$FET" "fetch-first-$lbl-$size" -- measured fetch --first-pass --size "$size" \
        --backend "$lbl" --concurrency "$FIRST_CONC" --duration 3600 --ids "$WORK/ids-$size" \
        --max-ids "$FETCH_IDS" --label "fetch-first-$lbl-$size"
      for c in $CONC; do
        for run in $(seq 1 "$RUNS"); do
          guarded_run "$FET" "fetch-$lbl-$size" -- measured fetch --size "$size" \
            --backend "$lbl" --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
            --ids "$WORK/ids-$size" --max-ids "$FETCH_IDS" --label "fetch-$lbl-$size#$run"
        done
      done
    done
  fi
  stop_server
  if [[ $backend == postgres ]]; then
    echo "  $PG_DB: $(psql "$PG_BASE/$PG_DB" -Atc "select pg_size_pretty(pg_database_size(current_database()))") on disk"
    if [[ $KEEP_DB != 1 ]]; then
      psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CHECKPOINT"
    fi
  fi
done
done
done

# ---------------------------------------------------------------- summary
notes=(--note "$(head -1 "$OUT/machine-depot$SFX.txt")")
[[ " $BACKENDS " == *" postgres "* || $CEILING == same ]] && notes+=(--note "PostgreSQL: $(pg_settings) (peers measured with shared_buffers=2GB, wal_buffers=64MB, max_wal_size=16GB, checkpoint_timeout=30min)")
notes+=(--note "sizes: $SIZES; conc: $CONC; $RUNS × ${DURATION}s after ${WARMUP}s warm-up; backends: $BACKENDS; NOTIFY: $NOTIFY (on = AMQP_URL $AMQP_ON_URL, row label +amqp; off = outbox only)")
for nb in "${BINS[@]}"; do
  [[ -n ${nb%%=*} ]] && notes+=(--note "binary ${nb%%=*} (rows -${nb%%=*}): ${nb#*=}, sha256 $(sha256sum "${nb#*=}" | cut -c1-12)")
done
[[ ${SMOKE:-0} == 1 ]] && notes+=(--note "SMOKE RUN (QUIET_PCT=$QUIET_PCT MAX_TRIES=$MAX_TRIES): no wait for a quiet machine; these are not measurements")
ceil_args=(--peers-results "$PEERS_RESULTS" --speed "$SPEED")
[[ $CEILING == same ]] && ceil_args+=(--pg-ceiling "$PG_CEIL")
python3 "$DRIVER" summary --ingest "$RES" --fetch "$FET" "${ceil_args[@]}" "${notes[@]}" | tee "$OUT/depot_summary$SFX.txt"

# shellcheck shell=bash
# The set-up the depot benchmarks share (token.sh, depot.sh, waiters.sh, tsa.sh): each sources this file right
# after `set -euo pipefail`. Sourcing it sets REPO (this checkout), PEERS (../shared/peers unless set) and
# OUT (benches/results/<UTC date> unless set), both exported, then sources $PEERS/lib/common.sh
# (guarded_run, machine_note, add_service_pids, LIB, the guard knobs; it creates OUT) and sets PORT
# (18080), PG_BASE (postgres://postgres@127.0.0.1:5432), BASE (the depot's URL) and SFX ("-SUFFIX" when
# SUFFIX is set, for the file names). The functions below are the steps the scripts have in common; besides
# these they read the calling script's BACKENDS, DEPOT (the binary being started), RUNS, SPEED_S and SPEED,
# and set BINS, WORK and SRV_PID for it.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PEERS=${PEERS:-$(cd "$REPO/../shared/peers" && pwd)}
export OUT=${OUT:-$REPO/benches/results/$(date -u +%F)}
# shellcheck disable=SC1091
source "$PEERS/lib/common.sh"
PORT=${PORT:-18080}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
BASE=http://127.0.0.1:$PORT
# shellcheck disable=SC2034 # read by the scripts
SFX=${SUFFIX:+-$SUFFIX}

# check_backends: stop (exit 2) on a word of BACKENDS that is not sqlite, sqlite-normal or postgres.
check_backends() {
  local backend
  for backend in $BACKENDS; do
    case $backend in sqlite|sqlite-normal|postgres) ;; *) echo "unknown backend $backend" >&2; exit 2 ;; esac
  done
}

# port_free: stop (exit 2) when something already answers on BASE.
port_free() {
  if curl -s -o /dev/null "$BASE/health/live"; then
    echo "something already answers on $BASE: stop it or set PORT" >&2; exit 2
  fi
}

# select_bins NOTE: BINS, one "name=path" per depot binary to measure; the name ("" without SERVER_BINS)
# is appended to the tags and row labels. SERVER_BINS="a=/path b=/path": those, in turn (A/B in one
# sitting); else SERVER_BIN: that one; neither is built here, and a NOTE other than "" says so, as
# "(SERVER_BINS: NOTE)". Neither set: `cargo build --release` of depot and target/release/depot.
select_bins() {
  local note=$1 nb b
  BINS=()
  if [[ -n ${SERVER_BINS:-} ]]; then
    for nb in $SERVER_BINS; do
      [[ $nb == ?*=?* ]] || { echo "SERVER_BINS takes name=/path pairs, not $nb" >&2; exit 2; }
      b=$(realpath "${nb#*=}")
      [[ -x $b ]] || { echo "SERVER_BINS: $b is not an executable" >&2; exit 2; }
      BINS+=("${nb%%=*}=$b")
    done
    [[ -z $note ]] || echo "A/B in one sitting: ${BINS[*]} (SERVER_BINS: $note)"
  elif [[ -n ${SERVER_BIN:-} ]]; then
    BINS=("=$(realpath "$SERVER_BIN")")
    [[ -z $note ]] || echo "using ${BINS[0]#=} (SERVER_BIN: $note)"
  else
    echo "building depot (release)…"
    (cd "$REPO" && cargo build --release -q --bin depot)
    BINS=("=$REPO/target/release/depot")
  fi
}

# bins_note: a line per binary of BINS for the machine notes: its path, time, sha256 and the checkout's commit.
bins_note() {
  local nb b name
  for nb in "${BINS[@]}"; do
    b=${nb#*=} name=${nb%%=*}
    echo "depot${name:+ $name}: $b ($(stat -c %y "$b" | cut -c1-19), sha256 $(sha256sum "$b" | cut -c1-12)); git $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
  done
}

# fresh_results FILE…: empty the result files, unless APPEND=1 (then a sitting adds its runs to them).
fresh_results() {
  local f
  [[ ${APPEND:-0} == 1 ]] && return 0
  for f; do : >"$f"; done
}

# bench_work NAME: WORK, a scratch folder /tmp/NAME.XXXXXX; on exit the server (stop_server) is stopped
# and WORK removed.
bench_work() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  SRV_PID=
  trap 'stop_server; rm -rf "$WORK"' EXIT
}
# stop_server: stop the depot SRV_PID, if one runs, and wait for it.
stop_server() {
  if [[ -n $SRV_PID ]]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=; fi
}

# keygen NAME…: a P-256 key per client NAME in WORK (NAME.pem, NAME.jwks.json), by bench_client.py.
keygen() {
  local n
  for n; do python3 "$REPO/benches/bench_client.py" keygen "$WORK" "$n"; done
}

# depot_env LABEL: the environment of one depot: its data folder WORK/data-LABEL (DEPOT_DATA_DIR), its URL
# BASE on PORT, one worker, log level warn.
depot_env() {
  local data=$WORK/data-$1
  mkdir -p "$data"
  export DEPOT_DATA_DIR=$data DEPOT_PUBLIC_URL=$BASE DEPOT_LISTEN=127.0.0.1:$PORT DEPOT_WORKERS=1 DEPOT_LOG=warn
}

# backend_db BACKEND DB: the depot's database: SQLite in its data folder, synchronous=full (sqlite) or
# normal (sqlite-normal); or (postgres) the PostgreSQL database DB under PG_BASE, dropped and created
# afresh. Another BACKEND: exit 2.
backend_db() {
  local backend=$1 db=$2
  case $backend in
    sqlite) unset DATABASE_URL; export DEPOT_SQLITE_SYNCHRONOUS=full ;;
    sqlite-normal) unset DATABASE_URL; export DEPOT_SQLITE_SYNCHRONOUS=normal ;;
    postgres)
      psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
      # Loopback: no TLS to the database (sqlx would negotiate it, at ~20 % of the CPU).
      export DATABASE_URL="$PG_BASE/$db?sslmode=${PG_SSLMODE:-disable}" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
}

# start_depot LOG: `DEPOT admin bootstrap` of the administrator bench-admin (its key from keygen), then
# `DEPOT serve` pinned to CPU 0 in the background, its output in LOG, SRV_PID its pid; waits up to 10 s
# for /health/ready, else prints LOG and exits 1.
start_depot() {
  local log=$1
  "$DEPOT" admin bootstrap --client-id bench-admin --jwks "$WORK/bench-admin.jwks.json" >/dev/null
  taskset -c 0 "$DEPOT" serve >"$log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 1 50); do curl -sf -o /dev/null "$BASE/health/ready" && break; sleep 0.2; done
  curl -sf -o /dev/null "$BASE/health/ready" || { echo "depot did not start" >&2; cat "$log" >&2; exit 1; }
}

# speed_runs NOTE: the P-256 rates of this sitting: unless SPEED_S is 0, a heading ("== openssl speed … on
# CPU 0" and NOTE) and RUNS guarded runs (tag openssl-speed, appended to SPEED) of the script's speed_run,
# which calls speed_measure and prints its line.
speed_runs() {
  [[ $SPEED_S != 0 ]] || return 0
  echo "== openssl speed -seconds $SPEED_S ecdsap256 on CPU 0$1"
  for _ in $(seq 1 "$RUNS"); do guarded_run "$SPEED" openssl-speed -- speed_run; done
}
# speed_measure: one `openssl speed -seconds SPEED_S ecdsap256` on CPU 0 (the depot's core), its rates
# as JSON in RUN_JSON (set by guarded_run).
speed_measure() {
  taskset -c 0 openssl speed -seconds "$SPEED_S" ecdsap256 2>/dev/null >"$WORK/speed.txt"
  python3 "$REPO/benches/bench_client.py" openssl-speed "$WORK/speed.txt" "$SPEED_S" >"$RUN_JSON"
}

# shellcheck shell=bash
# The set-up the depot benchmarks share (token.sh, depot.sh, waiters.sh): each sources this file right
# after `set -euo pipefail`. Sourcing it sets REPO (this checkout), PEERS (../shared/peers unless set) and
# OUT (benches/results/<UTC date> unless set), both exported, then sources $PEERS/lib/common.sh
# (guarded_run, machine_note, add_service_pids, LIB, the guard knobs; it creates OUT) and sets PORT
# (18080), PG_BASE (postgres://postgres@127.0.0.1:5432), BASE (the depot's URL) and SFX ("-SUFFIX" when
# SUFFIX is set, for the file names). The functions below are the steps the scripts have in common; a
# script reads its own variables before calling them.
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

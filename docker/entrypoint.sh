#!/bin/sh
# The depot image's entrypoint: checks what a start needs that the service would only
# report deep in its log, then execs the depot with the arguments given (default
# `serve`), as PID 1's replacement so that SIGTERM reaches it and drains requests.
#
#   docker run IMAGE                      # depot serve
#   docker run IMAGE migrate --check      # depot migrate --check (exit 1: pending)
#   docker run IMAGE depot admin …        # a leading `depot` is allowed
#
#   docker run IMAGE --config /etc/depot/depot.toml   # depot serve --config …
#
# For the commands that use the data directory (serve, migrate, admin): DEPOT_DATA_DIR must be a directory this user may write
# (mount a volume there, owned by uid 10001), and DEPOT_MASTER_KEY_FILE, when set,
# a file this user may read. The service itself refuses a key file that others may
# read (mode 0600).
set -eu

fail() {
  echo "depot-entrypoint: $*" >&2
  exit 78 # EX_CONFIG
}

[ "${1:-}" = depot ] && shift
[ $# -eq 0 ] && set -- serve
case $1 in
  --config | --config=*) set -- serve "$@" ;;
esac

case $1 in
  serve | migrate | admin)
    data_dir=${DEPOT_DATA_DIR:-/data}
    [ -d "$data_dir" ] ||
      fail "data directory $data_dir does not exist: mount a volume there"
    probe="$data_dir/.depot-entrypoint.$$"
    if ! (: >"$probe") 2>/dev/null; then
      fail "data directory $data_dir is not writable by uid $(id -u): chown it to $(id -u):$(id -g)"
    fi
    rm -f "$probe"
    if [ -n "${DEPOT_MASTER_KEY_FILE:-}" ]; then
      [ -f "$DEPOT_MASTER_KEY_FILE" ] ||
        fail "master key file $DEPOT_MASTER_KEY_FILE does not exist"
      [ -r "$DEPOT_MASTER_KEY_FILE" ] ||
        fail "master key file $DEPOT_MASTER_KEY_FILE is not readable by uid $(id -u): chown it (mode 0600)"
    fi
    ;;
esac

exec depot "$@"

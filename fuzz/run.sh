#!/bin/sh
# Runs each target for SECONDS (default 600), one after the other, one process each,
# on a copy of its seeds in ${CORPUS_DIR:-/tmp/depot-fuzz-corpus}/<target> (so that git
# only ever holds the seeds). Logs go to ${LOG_DIR:-/tmp/depot-fuzz-logs}/<target>.log;
# the final "stat::number_of_executed_units" is the number of executions.
#
#   fuzz/run.sh                       # every target, 10 minutes each
#   SECONDS_EACH=60 fuzz/run.sh tsa_request
set -u
cd "$(dirname "$0")"
seconds=${SECONDS_EACH:-600}
corpus_dir=${CORPUS_DIR:-/tmp/depot-fuzz-corpus}
log_dir=${LOG_DIR:-/tmp/depot-fuzz-logs}
targets=${*:-jwe_shape client_assertion tsa_request webauthn_registration oauth_params}
mkdir -p "$log_dir"
for target in $targets; do
    mkdir -p "$corpus_dir/$target"
    cp corpus/"$target"/seed-* "$corpus_dir/$target/"
    cargo +nightly fuzz run "$target" "$corpus_dir/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log_dir/$target.log" 2>&1
    echo "$target: exit $?, $(grep -h 'number_of_executed_units' "$log_dir/$target.log")"
done

#!/usr/bin/env bash
# Time-stamp authority benchmark: the running `depot` (release build, one worker pinned to
# CPU 0) answers RFC 3161 requests while a closed-loop generator on CPU 1 drives it over HTTP.
#   POST /tsa   one fixed DER TimeStampReq (SHA-256 imprint of a 10 KiB file, a nonce, certReq),
#               Content-Type application/timestamp-query, bearer token of the system client
#               bench-tsa (scope tsa, audience $BASE/tsa). One counted request = an HTTP 200 whose
#               TimeStampResp status is granted; anything else counts as an error. Every answer
#               takes a serial number from the database (SQLite counter row or PG sequence).
#   openssl     `taskset -c 0 openssl speed -seconds $SPEED_S ecdsap256` on the same CPU: the raw
#               P-256 signing rate, next to the HTTP rows in the summary.
# Before measuring, one reply per backend is fetched with curl and checked with
# `openssl ts -verify -data FILE -in REPLY -CAfile chain.pem` (chain from GET /tsa/certs), and
# again against the query (nonce); the script aborts when either fails.
#
# Generator (DRIVER): the shared peers/loadgen `--mode post` cannot send this request: its
# --body is a UTF-8 command-line string (a DER body has NUL and non-UTF-8 bytes) and it has no
# option for extra headers (Authorization). DRIVER=auto (default) uses loadgen once it accepts
# `--body-file PATH` and `--header 'name: value'`, otherwise the stdlib asyncio driver this script
# writes to its work directory (same closed loop, one keep-alive connection per worker, same JSON
# report and printed row as loadgen; compare its genCPU% against 100).
#
#   benches/tsa.sh                                   # SQLite and PostgreSQL, conc 1/8/32, 3 × 15 s
#   BACKENDS=sqlite DURATION=2 RUNS=1 CONC="1 8" benches/tsa.sh     # smoke run
#   BACKENDS=postgres OUT=benches/results/2026-11-24 SUFFIX=pg benches/tsa.sh
#                                   # -> depot_tsa-pg.jsonl, openssl_speed-pg.jsonl, tsa_summary-pg.txt
#
# Env: BACKENDS ("sqlite postgres"; also "sqlite-normal" = DEPOT_SQLITE_SYNCHRONOUS=normal) CONC ("1 8 32")
#      DURATION (15) WARMUP (2) RUNS (3) SPEED_S (5; 0 skips openssl speed) DRIVER (auto | loadgen | py)
#      PG_BASE (postgres://postgres@127.0.0.1:5432) PORT (18080) PEERS (../shared/peers)
#      OUT (benches/results/<UTC date>) SUFFIX ("": file names get "-SUFFIX") APPEND (0)
#      and the guard knobs of peers/lib/common.sh (QUIET_PCT MAX_FOREIGN MAX_TRIES MAX_WAIT).
# Writes OUT/depot_tsa[-SUFFIX].jsonl (HTTP runs), OUT/openssl_speed[-SUFFIX].jsonl, the verified
# reply and its text in OUT/tsa-verify-<backend>[-SUFFIX].txt, the server log in
# OUT/depot-tsa-<backend>[-SUFFIX].log, and the summary (medians of RUNS, clean runs only when
# there are any) in OUT/tsa_summary[-SUFFIX].txt.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
BACKENDS=${BACKENDS:-"sqlite postgres"}
CONC=${CONC:-"1 8 32"}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
SPEED_S=${SPEED_S:-5}
DRIVER=${DRIVER:-auto}
check_backends
case $DRIVER in auto|loadgen|py) ;; *) echo "DRIVER must be auto, loadgen or py" >&2; exit 2 ;; esac
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 2; }
port_free

echo "building depot and loadgen (release)…"
(cd "$REPO" && cargo build --release -q --bin depot)
cargo build --release -q --manifest-path "$PEERS/loadgen/Cargo.toml" --target-dir "$REPO/target"
DEPOT=$REPO/target/release/depot
LG=$REPO/target/release/loadgen
lg_can_post_binary() {
  local help
  help=$("$LG" --help)
  [[ $help == *--body-file* && $help == *--header* ]]
}
if [[ $DRIVER == auto ]]; then
  if lg_can_post_binary; then DRIVER=loadgen; else DRIVER=py; fi
elif [[ $DRIVER == loadgen ]] && ! lg_can_post_binary; then
  echo "peers/loadgen has no --body-file / --header options: it cannot send a DER body or a bearer token (DRIVER=py)" >&2
  exit 2
fi
add_service_pids
RES=$OUT/depot_tsa$SFX.jsonl
SPEED=$OUT/openssl_speed$SFX.jsonl
fresh_results "$RES" "$SPEED"
machine_note | tee "$OUT/machine-tsa$SFX.txt"
echo "$(openssl version); generator: $DRIVER" | tee -a "$OUT/machine-tsa$SFX.txt"

bench_work depot-tsa-bench

# ---------------------------------------------------------------- the generator without loadgen
cat >"$WORK/tsa_post.py" <<'PY'
"""Closed-loop HTTP/1.1 POST driver (stdlib asyncio) for benches/tsa.sh.

One keep-alive connection per worker (benches/bench_client.py closed_loop, on PYTHONPATH);
a binary body from a file; extra headers. A request counts as ok when the answer is HTTP 200
and its TimeStampResp status is granted (0) or grantedWithMods (1). Same bounds, printed row
and JSON report shape as peers/loadgen.
"""
import argparse, asyncio, json, sys, time

from bench_client import closed_loop, loopback_target


def der_len(b, i):
    n = b[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k


def granted(body):
    """TimeStampResp ::= SEQUENCE { status PKIStatusInfo ::= SEQUENCE { status INTEGER ..."""
    try:
        if body[0] != 0x30:
            return False
        _, i = der_len(body, 1)
        if body[i] != 0x30:
            return False
        _, i = der_len(body, i + 1)
        return body[i] == 0x02 and body[i + 1] == 1 and body[i + 2] in (0, 1)
    except IndexError:
        return False


def check(_i, status, _head, body):
    if status == 200 and granted(body):
        return None
    if status == 200:
        return "HTTP 200, TimeStampResp not granted: " + body[:24].hex()
    return f"HTTP {status}: " + body[:300].decode("utf-8", "replace")


async def run_once(a, host, port, request, conc, run):
    r = await closed_loop(host, port, conc, a.warmup, a.duration, lambda _i: request, check,
                          max_requests=a.max_requests, watch_pid=a.watch_pid)
    return {"run": run, **r, "inline_signed": 0, "pool_size": 0}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--body-file", required=True)
    p.add_argument("--content-type", default="application/octet-stream")
    p.add_argument("--header", action="append", default=[], help="'name: value', repeatable")
    p.add_argument("--concurrency", default=[1, 8, 32], type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--watch-pid", type=int)
    p.add_argument("--max-requests", type=int, default=5_000_000)
    p.add_argument("--label", default="run")
    p.add_argument("--json")
    a = p.parse_args()
    host, port, path = loopback_target(a.url)
    with open(a.body_file, "rb") as f:
        body = f.read()
    head = [f"POST {path} HTTP/1.1", f"host: {host}:{port}",
            f"content-type: {a.content_type}", f"content-length: {len(body)}", *a.header]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    print(f"[{a.label}] {a.url} post duration={a.duration}s warmup={a.warmup}s runs={a.runs} "
          f"generator=asyncio (python {sys.version.split()[0]})", file=sys.stderr)
    print(f"{'label':<10} {'conc':>4} {'req/s':>11} {'p50(ms)':>9} {'p90(ms)':>9} {'p99(ms)':>9} {'max(ms)':>9} "
          f"{'errors':>8} {'inline':>8} {'genCPU%':>7} {'srvCPU%':>7}", flush=True)
    levels = []
    for conc in a.concurrency:
        runs = []
        for run in range(1, a.runs + 1):
            r = asyncio.run(run_once(a, host, port, request, conc, run))
            srv = "-" if r["server_cpu_pct"] is None else f"{r['server_cpu_pct']:.0f}"
            print(f"{a.label:<10} {conc:>4} {r['rps']:>11.1f} {r['p50_us'] / 1000:>9.3f} {r['p90_us'] / 1000:>9.3f} "
                  f"{r['p99_us'] / 1000:>9.3f} {r['max_us'] / 1000:>9.3f} {r['errors']:>8} {0:>8} "
                  f"{r['gen_cpu_pct']:>7.0f} {srv:>7}", flush=True)
            if r["first_error"]:
                print(f"  first error: {r['first_error']}", file=sys.stderr)
            runs.append(r)
        med = lambda k: sorted(x[k] for x in runs)[len(runs) // 2]
        levels.append({"concurrency": conc, "median_rps": med("rps"), "median_p50_us": med("p50_us"),
                       "median_p99_us": med("p99_us"), "runs": runs})
    report = {"label": a.label, "mode": "post", "url": a.url, "generator": "benches/tsa.sh asyncio driver",
              "generator_threads": 1, "duration_s": a.duration, "warmup_s": a.warmup, "runs_per_level": a.runs,
              "unix_time": int(time.time()), "preflight": None, "levels": levels}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)


main()
PY

# ---------------------------------------------------------------- keys, the query, the HTTP helpers
keygen bench-admin bench-tsa
head -c 10240 /dev/urandom >"$WORK/msg.bin"
openssl ts -query -data "$WORK/msg.bin" -sha256 -cert -out "$WORK/req.tsq" 2>/dev/null

# access_token CLIENT_ID PEM [curl -d args…]: a client_credentials token, or the answer and exit 1.
access_token() {
  local id=$1 pem=$2 assertion code
  shift 2
  assertion=$(python3 "$REPO/benches/bench_client.py" assertion "$pem" "$id" "$id" "$BASE/oauth2/token")
  code=$(curl -sS -o "$WORK/token.json" -w '%{http_code}' "$BASE/oauth2/token" -d grant_type=client_credentials \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d "client_assertion=$assertion" "$@")
  [[ $code == 200 ]] || { echo "token request for $id: HTTP $code $(cat "$WORK/token.json")" >&2; exit 1; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/token.json"
}
# A fresh TSA token before every run (written to a file the generator reads when it starts), so a
# long wait for a quiet machine (MAX_WAIT) cannot outlive it.
tsa_token() {
  access_token bench-tsa "$WORK/bench-tsa.pem" -d scope=tsa --data-urlencode "resource=$BASE/tsa" >"$WORK/token"
}

drive() { # drive ARGS…: the generator on CPU 1 against POST /tsa
  local auth
  auth="authorization: Bearer $(<"$WORK/token")"
  if [[ $DRIVER == loadgen ]]; then
    taskset -c 1 "$LG" --mode post --url "$BASE/tsa" --body-file "$WORK/req.tsq" \
      --content-type application/timestamp-query --header "$auth" "$@"
  else
    PYTHONPATH="$REPO/benches" taskset -c 1 python3 "$WORK/tsa_post.py" --url "$BASE/tsa" --body-file "$WORK/req.tsq" \
      --content-type application/timestamp-query --header "$auth" "$@"
  fi
}
# guarded_run sets RUN_JSON only when the run starts.
http_run() { drive "$@" --json "$RUN_JSON" | sed -n '2p'; }

speed_run() {
  speed_measure
  python3 -c 'import json,sys; print("  openssl speed: ECDSA P-256 %(ecdsap256_sign_per_s).0f sign/s %(ecdsap256_verify_per_s).0f verify/s" % json.load(open(sys.argv[1])))' "$RUN_JSON"
}

# ---------------------------------------------------------------- 1. raw signing rate, CPU 0
speed_runs ""

# ---------------------------------------------------------------- 2. POST /tsa per backend
for backend in $BACKENDS; do
  depot_env "$backend"
  export DEPOT_ACCESS_TOKEN_TTL_SECONDS=3600
  backend_db "$backend" depot_tsa_bench
  start_depot "$OUT/depot-tsa-$backend$SFX.log"

  # The administrator registers the benchmark's system client (scope tsa) through the admin API.
  admin_token=$(access_token bench-admin "$WORK/bench-admin.pem")
  python3 - "$WORK/bench-tsa.jwks.json" >"$WORK/client.json" <<'PY'
import json, sys
print(json.dumps({"client_id": "bench-tsa", "type": "system", "name": "TSA benchmark client",
                  "scopes": ["tsa"], "jwks": json.load(open(sys.argv[1]))}))
PY
  code=$(curl -sS -o "$WORK/answer" -w '%{http_code}' -H "authorization: Bearer $admin_token" \
    -H 'content-type: application/json' --data-binary "@$WORK/client.json" "$BASE/admin/clients")
  [[ $code == 2?? ]] || { echo "registering bench-tsa: HTTP $code $(cat "$WORK/answer")" >&2; exit 1; }
  tsa_token

  # One reply, verified against the chain the TSA publishes (and against the query: the nonce).
  code=$(curl -sS -o "$WORK/chain.pem" -w '%{http_code}' "$BASE/tsa/certs")
  [[ $code == 200 ]] || { echo "GET /tsa/certs: HTTP $code $(cat "$WORK/chain.pem")" >&2; exit 1; }
  code=$(curl -sS -o "$WORK/reply.tsr" -w '%{http_code} %{content_type}' -H "authorization: Bearer $(<"$WORK/token")" \
    -H 'content-type: application/timestamp-query' --data-binary "@$WORK/req.tsq" "$BASE/tsa")
  [[ $code == "200 application/timestamp-reply" ]] || { echo "POST /tsa: HTTP $code $(head -c 300 "$WORK/reply.tsr")" >&2; exit 1; }
  vfile=$OUT/tsa-verify-$backend$SFX.txt
  {
    echo "# $(date -u '+%F %T UTC') $backend: query $(stat -c %s "$WORK/req.tsq") B, reply $(stat -c %s "$WORK/reply.tsr") B, chain $(grep -c 'BEGIN CERTIFICATE' "$WORK/chain.pem") certificate(s)"
    echo "\$ openssl ts -verify -data msg.bin -in reply.tsr -CAfile chain.pem"
  } >"$vfile"
  if ! openssl ts -verify -data "$WORK/msg.bin" -in "$WORK/reply.tsr" -CAfile "$WORK/chain.pem" >>"$vfile" 2>&1; then
    echo "the TSA reply does NOT verify against GET /tsa/certs:" >&2; cat "$vfile" >&2; exit 1
  fi
  echo "\$ openssl ts -verify -queryfile req.tsq -in reply.tsr -CAfile chain.pem" >>"$vfile"
  if ! openssl ts -verify -queryfile "$WORK/req.tsq" -in "$WORK/reply.tsr" -CAfile "$WORK/chain.pem" >>"$vfile" 2>&1; then
    echo "the TSA reply does NOT verify against its query (nonce, imprint):" >&2; cat "$vfile" >&2; exit 1
  fi
  { echo "\$ openssl ts -reply -in reply.tsr -text"; openssl ts -reply -in "$WORK/reply.tsr" -text 2>&1
    echo "# chain.pem"; cat "$WORK/chain.pem"; } >>"$vfile"
  echo "$backend: the reply verifies ($(stat -c %s "$WORK/reply.tsr") B; $vfile)"

  tag=depot-tsa-$backend
  echo "== $tag (server pid $SRV_PID, generator $DRIVER): warm-up 4 s (not recorded)"
  drive --label warmup --concurrency 8 --runs 1 --duration 3 --warmup 1 >/dev/null
  for c in $CONC; do
    for _ in $(seq 1 "$RUNS"); do
      tsa_token
      guarded_run "$RES" "$tag" -- http_run --label "$tag" --concurrency "$c" --runs 1 \
        --duration "$DURATION" --warmup "$WARMUP" --watch-pid "$SRV_PID"
    done
  done
  stop_server
done

# ---------------------------------------------------------------- summary
{
  python3 "$LIB/summarize.py" "$RES"
  python3 - "$RES" "$SPEED" "$DRIVER" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
speed = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
def pick(rs):
    c = [r for r in rs if r.get("clean")]
    return (c or rs), f"{len(c)}/{len(rs)}"
print("# req/s = granted timestamps/s (HTTP 200 + TimeStampResp status granted); latency per request, closed loop.")
if sys.argv[3] == "py":
    print("# generator = the asyncio driver in benches/tsa.sh (Python, 1 thread on CPU 1), not loadgen: compare genCPU% against 100.")
sign = None
if speed:
    sp, cl = pick(speed)
    sign = st.median(r["ecdsap256_sign_per_s"] for r in sp)
    ver = st.median(r["ecdsap256_verify_per_s"] for r in sp)
    print(f"\nopenssl speed ecdsap256, CPU 0 (median, clean {cl}): {sign:.0f} sign/s ({1e6 / sign:.1f} us each), "
          f"{ver:.0f} verify/s; runs: " + ", ".join(f"{r['ecdsap256_sign_per_s']:.0f}" for r in sp))
runs = [{**r, "tag": l["tag"], "clean": l["clean"]} for l in rows for lv in l["levels"] for r in lv["runs"]]
if runs:
    print(f"\n{'target':<22} {'conc':>4} {'ts/s':>8} {'srv us/ts':>10}" + (f" {'vs raw sign':>12}" if sign else ""))
    for tag, c in dict.fromkeys((r["tag"], r["concurrency"]) for r in runs):
        rs, _ = pick([r for r in runs if r["tag"] == tag and r["concurrency"] == c])
        rps = st.median(r["rps"] for r in rs)
        cpu = [r["server_cpu_pct"] * 1e4 / r["rps"] for r in rs if r.get("server_cpu_pct") is not None and r["rps"] > 0]
        us = st.median(cpu) if cpu else float("nan")
        print(f"{tag:<22} {c:>4} {rps:>8.0f} {us:>10.1f}" + (f" {rps / sign * 100:>11.1f}%" if sign else ""))
    print("# srv us/ts = server CPU time per timestamp (srvCPU% / req/s)"
          + ("; vs raw sign = ts/s as a share of openssl's sign/s." if sign else "."))
PY
} | tee "$OUT/tsa_summary$SFX.txt"

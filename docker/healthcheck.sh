#!/bin/bash
# The depot image's health check: GET /health/ready (200 when the database answers)
# over a bash /dev/tcp socket, as the image has no curl.
#
#   depot-healthcheck [HOST:PORT]
#
# Without an address it asks the management listener (DEPOT_MANAGEMENT_LISTEN) when one
# is set and accepts connections, else DEPOT_LISTEN; a wildcard host (0.0.0.0, [::])
# is asked on the loopback. Plain HTTP only: with DEPOT_TLS_CERT_FILE on the main
# listener, give the management listener's address.
set -eu

ask() { # ask HOST:PORT: prints the status line, fails when nothing answers
  local host=${1%:*} port=${1##*:}
  case $host in 0.0.0.0 | '' | '[::]' | '::') host=127.0.0.1 ;; esac
  host=${host#[}
  host=${host%]}
  exec 3<>"/dev/tcp/$host/$port" || return 1
  printf 'GET /health/ready HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" >&3
  local line=''
  IFS= read -r -t 5 line <&3 || true
  exec 3<&-
  printf '%s\n' "${line%$'\r'}"
}

if [ $# -gt 0 ]; then
  status=$(ask "$1") || exit 1
elif [ -n "${DEPOT_MANAGEMENT_LISTEN:-}" ] && status=$(ask "$DEPOT_MANAGEMENT_LISTEN" 2>/dev/null); then
  :
else
  status=$(ask "${DEPOT_LISTEN:-127.0.0.1:8080}") || exit 1
fi
case $status in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "not ready: ${status:-no answer}" >&2; exit 1 ;;
esac

#!/bin/sh
# Makes the secrets compose.yaml reads, in deploy/secrets/ (never committed), or in the
# directory given (tests/api/proxy_topology.rs runs its instances with them):
#   deploy/make-secrets.sh [DIR]
#   master.key        the master key every depot instance shares (32 random bytes,
#                     base64url), mode 0600, owned by the image's user (uid 10001)
#   database_url      postgres://depot:…@postgres:5432/depot, 0600, uid 10001
#   amqp_url          amqp://depot:…@rabbitmq:5672/%2f, 0600, uid 10001
#   postgres_password the database password, read by the postgres image (0644: its
#                     entrypoint reads it as the postgres user)
#   rabbitmq.conf     the broker's user and password (0644, read by the rabbitmq user)
#   tls_cert, tls_key a self-signed certificate for PROXY_SERVER_NAME (default
#                     localhost) for the proxy; put your real chain and key there instead
# Existing files are kept: run it again after deleting one to make it anew.
# Owning the depot's files needs root (or `sudo chown 10001:10001` them afterwards);
# with rootless Docker or Podman, chown them to the uid 10001 maps to instead.
set -eu
umask 077
mkdir -p "${1:-$(dirname "$0")/secrets}"
cd "${1:-$(dirname "$0")/secrets}"
uid=10001

random() { openssl rand -base64 "$1" | tr '+/' '-_' | tr -d '=\n'; }

own() { # own FILE: 0600 and the depot's user's
  chmod 0600 "$1"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$uid:$uid" "$1"
  else
    echo "make-secrets: run 'sudo chown $uid:$uid $PWD/$1' (the depot runs as uid $uid)" >&2
  fi
}

if [ ! -e master.key ]; then random 32 >master.key; own master.key; fi
if [ ! -e postgres_password ]; then random 24 >postgres_password; chmod 0644 postgres_password; fi
if [ ! -e rabbitmq_password ]; then random 24 >rabbitmq_password; fi
if [ ! -e database_url ]; then
  printf 'postgres://depot:%s@postgres:5432/depot\n' "$(cat postgres_password)" >database_url
  own database_url
fi
if [ ! -e amqp_url ]; then
  printf 'amqp://depot:%s@rabbitmq:5672/%%2f\n' "$(cat rabbitmq_password)" >amqp_url
  own amqp_url
fi
if [ ! -e rabbitmq.conf ]; then
  printf 'default_user = depot\ndefault_pass = %s\n' "$(cat rabbitmq_password)" >rabbitmq.conf
  chmod 0644 rabbitmq.conf
fi
if [ ! -e tls_key ]; then
  name=${PROXY_SERVER_NAME:-localhost}
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=$name" -addext "subjectAltName=DNS:$name" \
    -keyout tls_key -out tls_cert 2>/dev/null
  chmod 0644 tls_cert
fi
ls -l

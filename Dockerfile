# syntax=docker/dockerfile:1.7
#
# The depot service image (issue 24). Two stages: the binary is built in the Rust image
# with the C libraries the SAML signer binds, and runs from debian:bookworm-slim with
# only their runtime halves, as the unprivileged user `depot` (uid/gid 10001).
#
#   docker build -t ehealth-depot .
#   docker run --rm -v depot-data:/data -p 8080:8080 ehealth-depot
#
# The root file system may be mounted read-only: the service writes only to its data
# directory (/data, a volume: the SQLite file when no DATABASE_URL is given, the
# generated master key when none is named, the audit log) and to /tmp. With compose:
# `read_only: true` and `tmpfs: [/tmp]` (compose.yaml does so).
#
# tests/api/proxy_topology.rs checks that every path COPY'd below exists and is not excluded by
# .dockerignore, and runs docker/entrypoint.sh and docker/healthcheck.sh.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# samael binds libxmlsec1 with bindgen, which needs libclang.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl-dev libxmlsec1-dev libxml2-dev pkg-config libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The workspace: its manifests and the sources of its four crates. The bench target is
# declared in Cargo.toml, so cargo wants its file even to build the binary alone.
COPY Cargo.toml Cargo.lock ./
COPY entity entity
COPY migration migration
COPY queues queues
COPY src src
COPY benches/tsa_sign.rs benches/tsa_sign.rs
# The registry and the target directory live in BuildKit caches, so a change to the
# sources rebuilds the depot crate, not its dependencies. The target directory of a
# cache mount is gone after the step: the binary is copied out within it.
# `--no-default-features` leaves the client tools out of the service image (`depot
# client`, `depot demo`, the scripted browser and the software authenticator: the
# `client-tools` feature).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin depot \
 && install -m 0755 target/release/depot /usr/local/bin/depot

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Runtime libraries only: OpenSSL, libxmlsec1 with its OpenSSL engine, libxml2, and the
# CA certificates for an external TSA or a broker over TLS. No curl: the health check
# is a bash script (bash is part of every Debian image).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl3 libxmlsec1 libxmlsec1-openssl libxml2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 depot \
 && useradd --system --uid 10001 --gid depot --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin depot \
 && install -d -o depot -g depot -m 0700 /data
COPY --from=build /usr/local/bin/depot /usr/local/bin/depot
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/depot-entrypoint
COPY --chmod=0755 docker/healthcheck.sh /usr/local/bin/depot-healthcheck

# Settings (README, "Configuration"): all interfaces inside the container, the data
# directory on the volume, JSON logs. DEPOT_PUBLIC_URL, DATABASE_URL (or
# DEPOT_DATABASE_URL_FILE), DEPOT_AMQP_URL_FILE and DEPOT_MASTER_KEY_FILE come from the
# deployment: every instance of a fleet must be given the same master key file.
ENV DEPOT_LISTEN=0.0.0.0:8080 \
    DEPOT_DATA_DIR=/data \
    DEPOT_LOG_FORMAT=json
# The working directory is where `depot serve` looks for depot.toml.
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
# GET /health/ready over a bash /dev/tcp socket (the management listener when
# DEPOT_MANAGEMENT_LISTEN is set, else DEPOT_LISTEN).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["depot-healthcheck"]
# Checks the data directory and the master key file, then execs `depot serve`, or the
# depot command given (`docker run … migrate --check`).
ENTRYPOINT ["depot-entrypoint"]
CMD ["serve"]

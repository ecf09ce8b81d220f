# syntax=docker/dockerfile:1
# cassflow in a container: built with cargo (librdkafka vendored and built with cmake), run on
# Debian slim as a non-root user. Used by docker-compose.yml; on its own:
#
#   docker build -t cassflow .
#   docker run --rm cassflow --version
#
# Checked in CI without a Docker engine (scripts/lint-containers: hadolint); not built here.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# cmake builds librdkafka; it links OpenSSL (TLS) and a static libcurl (OAUTHBEARER/OIDC)
# that curl-sys builds from its own sources (the libcurl headers are no longer used).
# Debian's versions within a release are security updates only, so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config libcurl4-openssl-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cargo registry and target dir are build caches, kept out of the image layers.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin cassflow \
    && install -m 0755 target/release/cassflow /usr/local/bin/cassflow

FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates for TLS (the randomuser API, Kafka over TLS); curl for the healthcheck in
# docker-compose.yml, and with it libssl3, which cassflow links (librdkafka, the driver).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcurl4 curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cassflow \
    && useradd --system --uid 10001 --gid cassflow --home-dir /var/lib/cassflow --shell /usr/sbin/nologin cassflow \
    && install -d -o cassflow -g cassflow -m 0750 /var/lib/cassflow
COPY --from=build /usr/local/bin/cassflow /usr/local/bin/cassflow
USER 10001:10001
WORKDIR /var/lib/cassflow
# State (scheduler history) lives here; docker-compose.yml mounts a volume on it.
ENV CASSFLOW_LOCAL__DATA_DIR=/var/lib/cassflow
VOLUME ["/var/lib/cassflow"]
EXPOSE 8080
ENTRYPOINT ["cassflow"]
CMD ["up"]

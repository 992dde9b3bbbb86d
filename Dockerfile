# syntax=docker/dockerfile:1
# jetstream's container image: the `jetstream` binary and git (configs are cloned at run time).
# Build with `cargo xtask image` (tag jetstream:dev) or
#   docker build -t jetstream:dev .
# No ENTRYPOINT: the Argo templates (workflows/*.yaml) and the Airflow example name
# `jetstream …` as the container command.

# Stage 1: the release binary. The cache mounts only speed up rebuilds (registry and target
# folder); the first build compiles DuckDB, 15–25 minutes on 2 cores.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY xtask xtask
# workflows/run.yaml is compiled into the binary (include_str! in jetstream-argo).
COPY workflows workflows
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p jetstream-cli --bin jetstream \
    && install -m 0755 target/release/jetstream /usr/local/bin/jetstream

# Stage 2: the runtime image. Build and runtime are both bookworm: same glibc and libstdc++.
# git is there for the config repositories: each pod clones them (metric-hub by default) and
# pins an experiment to the commit of its first analysis.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 jetstream \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/jetstream jetstream
COPY --from=build /usr/local/bin/jetstream /usr/local/bin/jetstream
LABEL org.opencontainers.image.title="jetstream" \
      org.opencontainers.image.source="https://github.com/mozilla/jetstream" \
      org.opencontainers.image.licenses="MPL-2.0"
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /home/jetstream
CMD ["jetstream", "--help"]

# Data Stream consumer: datastream-consumer, plus datastream-keys (API keys:
# `kubectl -n datastream exec deploy/consumer -- datastream-keys list`) and
# wget, for the troubleshooting commands run from a consumer pod
# (`... exec deploy/consumer -- wget -qO- http://nats:8222/healthz`).
# Build from the repository root:
#   podman build -f deploy/consumer.Dockerfile -t datastream/consumer .
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config libnats-dev libhiredis-dev libjansson-dev libssl-dev \
        libcurl4-openssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY contract/ contract/
COPY consumer/ consumer/
COPY tools/keys/ tools/keys/
RUN make -C consumer O=/out \
 && make -C tools/keys O=/out \
 && find /out -mindepth 1 -maxdepth 1 ! -name datastream-consumer ! -name datastream-keys -exec rm -rf {} + \
 # Runtime packages = the packages owning the libraries the binaries link.
 && ldd /out/datastream-consumer /out/datastream-keys | awk '/=> \//{print $3}' \
    | xargs -r realpath | xargs -r dpkg -S 2>/dev/null | cut -d: -f1 | sort -u \
    | grep -v -E '^(libc6|libgcc-s1)$' > /runtime-packages \
 && cat /runtime-packages

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}
COPY --from=build /runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates wget $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && groupadd --system --gid 10001 datastream \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin datastream
COPY --from=build /out/datastream-consumer /out/datastream-keys /usr/local/bin/

USER 10001:10001
EXPOSE 8090
# SIGTERM: stop fetching, finish and ack in-flight messages (SHUTDOWN_GRACE), exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/datastream-consumer"]

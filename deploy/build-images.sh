#!/usr/bin/env bash
# Builds the container images with Podman (no Docker engine needed) and
# smoke-tests them from their root filesystems:
#   datastream/backend:<tag>   deploy/backend.Dockerfile
#   datastream/consumer:<tag>  deploy/consumer.Dockerfile
#
# usage: sudo deploy/build-images.sh [backend|consumer ...]
#
# Environment:
#   DS_IMAGE_TAG     tag of both images [dev]
#   DS_BASE_IMAGE    base image; when unset, localhost/bookworm-base is made
#                    once with debootstrap (Debian bookworm, minbase) and used
#   DS_DEBIAN_MIRROR mirror for debootstrap [the first one apt is configured with]
#   DS_SMOKE_PORT    first of two free loopback ports for the backend smoke test [39380]
#   DS_SMOKE_ONLY=1  skip the builds, smoke-test existing images
#
# The smoke test mounts each image (podman image mount) and, chrooted into it
# as the image's non-root user: renders the real nginx configuration with the
# image's entrypoint and runs `nginx -t`; starts the backend on loopback and
# expects 200 from /healthz; runs `datastream-consumer --help`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tag=${DS_IMAGE_TAG:-dev}
port=${DS_SMOKE_PORT:-39380}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(backend consumer)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build-images.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, podman image mount, chroot)"
command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"

started=$SECONDS
cleanup_cmds=()
cleanup() {
    local i
    for ((i = ${#cleanup_cmds[@]} - 1; i >= 0; i--)); do eval "${cleanup_cmds[$i]}" || true; done
}
trap cleanup EXIT

debian_mirror() {
    local m
    m=$(grep -h -o -E '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | awk '{print $2}' | grep -v -e security -e '^\[' | head -n1 || true)
    echo "${DS_DEBIAN_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

base=${DS_BASE_IMAGE:-}
if [ -z "$base" ] && [ "${DS_SMOKE_ONLY:-0}" != 1 ]; then
    base=localhost/bookworm-base
    if ! podman image exists "$base"; then
        command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
        rootfs=$(mktemp -d "${TMPDIR:-/tmp}/datastream-rootfs.XXXXXX")
        cleanup_cmds+=("rm -rf '$rootfs'")
        log "base image: debootstrap bookworm ($(debian_mirror))"
        debootstrap --variant=minbase bookworm "$rootfs" "$(debian_mirror)" >/dev/null
        # The images install packages from the same mirror.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
    fi
fi

build() {   # $1 = backend|consumer
    local t0=$SECONDS
    log "building datastream/$1:$tag (base $base)"
    podman build --isolation=chroot --network=host \
        --build-arg BASE_IMAGE="$base" \
        --ignorefile "$repo/deploy/dockerignore" \
        -f "$repo/deploy/$1.Dockerfile" -t "datastream/$1:$tag" "$repo"
    log "datastream/$1:$tag built in $((SECONDS - t0)) s"
}

mount_image() {   # $1 = image; prints the mount point
    local mnt
    mnt=$(podman image mount "$1")
    cleanup_cmds+=("podman image unmount '$1' >/dev/null")
    echo "$mnt"
}

bind() {   # $1 = source, $2 = target inside a mounted image
    mount --bind "$1" "$2"
    cleanup_cmds+=("umount '$2'")
}

mount_proc() {   # $1 = mounted image
    mount -t proc proc "$1/proc"
    cleanup_cmds+=("umount '$1/proc'")
}

wait_http() {   # $1 = url; succeeds on 200 within 10 s
    local i code
    for i in $(seq 1 50); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    echo "last status: $code" >&2
    return 1
}

expect_healthz() {   # $1 = pid of the server, $2 = its url, $3 = signal, $4 = what, $5 = image
    # A server that never answers is stopped with $3 so the failed smoke test leaves nothing behind.
    if ! wait_http "$2/healthz"; then
        kill "-$3" "$1" 2>/dev/null || true; wait "$1" || true
        die "$4 did not answer 200 in $5"
    fi
    log "$4 answered 200 in $5"
}

smoke_backend() {
    local img=datastream/backend:$tag mnt run pid
    log "smoke test $img"
    mnt=$(mount_image "$img")
    run=$(mktemp -d "${TMPDIR:-/tmp}/datastream-run.XXXXXX")
    cleanup_cmds+=("rm -rf '$run'")
    chown 10001:10001 "$run"
    bind "$run" "$mnt/run/datastream"
    bind /dev "$mnt/dev"
    mount_proc "$mnt"
    local env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
               DS_NGINX_CONF_DIR=/etc/datastream/nginx DS_NGINX_RUN_DIR=/run/datastream
               DS_HTML_ROOT=/usr/share/datastream/html
               DS_DATASTREAM_MODULE=/usr/lib/nginx/modules/ngx_http_datastream_module.so
               DS_HTTP_PORT=$port DS_PUBLISH_ADDR=127.0.0.1 DS_PUBLISH_PORT=$((port + 1))
               DS_NGINX_WORKERS=1 REDIS_URL=redis://127.0.0.1:1/0 DATASTREAM_TOKEN_SECRET=smoke-test-secret)
    chroot --userspec=10001:10001 "$mnt" "${env[@]}" /usr/local/bin/datastream-backend-entrypoint -t \
        || die "nginx -t failed in $img"
    log "nginx -t passed in $img"
    chroot --userspec=10001:10001 "$mnt" "${env[@]}" /usr/local/bin/datastream-backend-entrypoint &
    pid=$!
    expect_healthz "$pid" "http://127.0.0.1:$port" QUIT /healthz "$img"
    kill -QUIT "$pid"
    wait "$pid" || true
    [ ! -e "$run/nginx.pid" ] || die "nginx left its pid file behind in $img"
}

smoke_consumer() {
    local img=datastream/consumer:$tag mnt out pid i
    log "smoke test $img"
    mnt=$(mount_image "$img")
    bind /dev "$mnt/dev"
    mount_proc "$mnt"
    out=$(chroot --userspec=10001:10001 "$mnt" /usr/local/bin/datastream-consumer --help 2>&1) \
        || die "datastream-consumer --help failed in $img: $out"
    grep -q NATS_URL <<<"$out" || die "datastream-consumer --help does not list NATS_URL"
    chroot --userspec=10001:10001 "$mnt" /usr/bin/test -x /usr/local/bin/datastream-keys \
        || die "datastream-keys missing in $img"
    log "datastream-consumer --help ok in $img"
    # Liveness needs no dependency: /healthz answers while NATS and Redis are
    # unreachable; SIGTERM ends it within SHUTDOWN_GRACE.
    chroot --userspec=10001:10001 "$mnt" env -i NATS_URL=nats://127.0.0.1:1 REDIS_URL=redis://127.0.0.1:1/0 \
        METRICS_ADDR=127.0.0.1 METRICS_PORT=$((port + 2)) SHUTDOWN_GRACE=5 /usr/local/bin/datastream-consumer \
        >/dev/null 2>&1 &
    pid=$!
    expect_healthz "$pid" "http://127.0.0.1:$((port + 2))" KILL "consumer /healthz" "$img"
    # The troubleshooting commands of docs/deploy-eks.md, from inside the image.
    out=$(chroot --userspec=10001:10001 "$mnt" wget -qO- "http://127.0.0.1:$((port + 2))/healthz" 2>&1) \
        || { kill -KILL "$pid"; wait "$pid" || true; die "wget -qO- failed in $img: $out"; }
    log "wget -qO- ok in $img"
    kill -TERM "$pid"
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"; wait "$pid" || true
        die "consumer did not exit within 10 s of SIGTERM in $img"
    fi
    wait "$pid" || true
    log "consumer stopped on SIGTERM in $img"
}

for t in "${targets[@]}"; do
    case $t in backend|consumer) ;; *) die "unknown image '$t' (backend or consumer)" ;; esac
    [ "${DS_SMOKE_ONLY:-0}" = 1 ] || build "$t"
done
for t in "${targets[@]}"; do "smoke_$t"; done
log "done in $((SECONDS - started)) s: ${targets[*]/#/datastream/}:$tag"

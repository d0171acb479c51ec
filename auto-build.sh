#!/usr/bin/env bash
# Data Stream: install, build, run and test everything from one script.
#
#   ./auto-build.sh            install missing packages (as root) and build
#   ./auto-build.sh up         ... then run the whole pipeline locally with a demo feed
#   ./auto-build.sh test       ... then run every test suite (also under ASan + UBSan)
#   ./auto-build.sh bench      ... then run the benchmarks (bench/README.md)
#   ./auto-build.sh clean      remove build/ (state/ is kept)
#
# Every port and path can be overridden by environment variables (see usage).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${DS_BUILD_DIR:-$REPO/build}

PACKAGES=(
    build-essential pkg-config gettext-base curl ca-certificates procps psmisc
    nginx-light libnginx-mod-nchan nginx-dev
    libnats-dev libhiredis-dev libjansson-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev
    nats-server redis-server redis-tools yamllint
    clang libclang-rt-14-dev chromium
    libtest-base-perl libtext-diff-perl liburi-perl libwww-perl libhttp-message-perl
    libtest-longstring-perl liblist-moreutils-perl libipc-run-perl libprotocol-websocket-perl
    libjson-pp-perl
)
# Only the benchmarks use these.
BENCH_PACKAGES=(wrk)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'auto-build.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
Usage: ./auto-build.sh [build|up|test|bench|clean|help]

Environment (defaults in brackets):
  DS_BUILD_DIR              build output [$REPO/build]
  DS_REAL_TEST_NGINX_LIB    test: lib/ of openresty's Test::Nginx; the t/0*.t files then also run
                            under it and must run as many assertions as under t/harness [unset]
  DS_STATE_DIR              up: persistent state (Redis, JetStream, keys, logs) [$REPO/state]
  DS_HTTP_PORT              up: public port of the backend [3000]
  DS_PUBLISH_PORT           up: internal nchan publisher port, loopback only [3001]
  DS_REDIS_PORT             up: Redis [6379]
  DS_NATS_PORT              up: NATS client port [4222]
  DS_NATS_MONITOR_PORT      up: NATS monitoring [8222]
  DS_NATS_WS_PORT           up: NATS WebSocket for browsers [8443]
  DS_CONSUMER_METRICS_PORT  up: consumer /healthz /readyz /metrics [8090]
  DS_FEED_SPEED             up: demo feed cadence multiplier [1]
  DS_TEST_SANITIZE          test: also run every suite under ASan + UBSan [1]
  DS_TEST_FILES             test: only these .t files or dirs (default: all of t/)
EOF
}

# ---------------------------------------------------------------- packages

missing_packages() {   # the packages named in "$@" that are not installed
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    echo "${missing[*]}"
}

install_packages() {   # $@ = extra packages beyond PACKAGES
    local missing
    missing=$(missing_packages "${PACKAGES[@]}" "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        die "missing packages; run as root, or: sudo apt-get install -y $missing"
    fi
    log "installing: $missing"
    # Debian's postinst scripts would start nginx/redis/nats on their default
    # ports; the project starts its own instances.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    rm -f /usr/sbin/policy-rc.d
}

# ---------------------------------------------------------------- build

build_variant() {   # $1 = output dir, $2 = 1 for sanitizers
    local out=$1 san=$2 flag=""
    [ "$san" = 1 ] && flag="--sanitize"
    make -s -C "$REPO/consumer" O="$out/bin" SANITIZE="$san"
    make -s -C "$REPO/tools/feed" O="$out/bin" SANITIZE="$san"
    make -s -C "$REPO/tools/keys" O="$out/bin" SANITIZE="$san"
    # shellcheck disable=SC2086
    "$REPO/ngx_datastream_module/build.sh" "$out/nginx" $flag
}

build() {
    log "building into $BUILD"
    build_variant "$BUILD" 0
}

build_sanitized() {
    log "building with AddressSanitizer + UBSan into $BUILD/asan"
    build_variant "$BUILD/asan" 1
    # nginx itself is not instrumented: the ASan runtime must be loaded first
    # for the instrumented module to load.
    local libasan
    libasan=$(gcc -print-file-name=libasan.so)
    cat > "$BUILD/asan/nginx-asan" <<EOF
#!/bin/sh
# nginx with the ASan runtime preloaded, for the instrumented module.
export LD_PRELOAD="$libasan\${LD_PRELOAD:+:\$LD_PRELOAD}"
# nginx frees its cycle pools only at exit, so leak reports would be noise;
# memory errors are written where the test runner looks for them.
export ASAN_OPTIONS="detect_leaks=0:log_path=$BUILD/asan/logs/nginx"
exec nginx "\$@"
EOF
    chmod +x "$BUILD/asan/nginx-asan"
    mkdir -p "$BUILD/asan/logs"
}

# ---------------------------------------------------------------- helpers

wait_for_port() {   # $1 = port, $2 = what
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "$2 did not open port $1"
}

render_nginx_conf() {   # $1 = run dir; the DS_* settings come from the environment
    mkdir -p "$1/logs"
    DS_NGINX_RUN_DIR="$1" \
    DS_DATASTREAM_MODULE="${DS_DATASTREAM_MODULE:-$BUILD/nginx/ngx_http_datastream_module.so}" \
        "$REPO/conf/nginx/render.sh" > "$1/nginx.conf"
}

# ---------------------------------------------------------------- up

PIDS=()

stop_all() {
    trap - INT TERM EXIT
    STOPPING=1
    log "stopping"
    local i
    # Reverse start order: the feed first, Redis last.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[$i]}" 2>/dev/null || true
        wait "${PIDS[$i]}" 2>/dev/null || true
    done
    [ -f "$STATE/nginx/nginx.pid" ] && nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -s quit 2>/dev/null || true
    log "stopped; state kept in $STATE"
}

random_letters() {   # $1 letters from a CSPRNG
    local out=''
    while [ ${#out} -lt "$1" ]; do out+=$(openssl rand -base64 48 | tr -dc 'A-Za-z'); done
    printf '%s' "${out:0:$1}"
}

up() {
    STATE=${DS_STATE_DIR:-$REPO/state}
    export DS_HTTP_PORT=${DS_HTTP_PORT:-3000} DS_PUBLISH_PORT=${DS_PUBLISH_PORT:-3001}
    export DS_REDIS_PORT=${DS_REDIS_PORT:-6379}
    local nats_port=${DS_NATS_PORT:-4222} mon_port=${DS_NATS_MONITOR_PORT:-8222}
    local ws_port=${DS_NATS_WS_PORT:-8443} metrics_port=${DS_CONSUMER_METRICS_PORT:-8090}
    mkdir -p "$STATE"/{redis,nats,nginx,logs}
    trap stop_all INT TERM EXIT

    log "redis on 127.0.0.1:$DS_REDIS_PORT"
    redis-server "$REPO/conf/redis/redis.conf" --port "$DS_REDIS_PORT" --bind 127.0.0.1 \
        --dir "$STATE/redis" > "$STATE/logs/redis.log" 2>&1 &
    PIDS+=($!)
    wait_for_port "$DS_REDIS_PORT" redis

    # NATS users (conf/nats/nats-server.conf): a password each, made once, letters only so that
    # nats-server reads it as a string and URLs need no escaping.
    local creds="$STATE/nats-credentials" user var
    (umask 077 && touch "$creds")
    for user in $(sed -n 's/^ *user: \([a-z]*\)$/\1/p' "$REPO/conf/nats/nats-server.conf"); do
        var="DS_NATS_${user^^}_PASSWORD"
        grep -q "^$var=" "$creds" || echo "$var=$(random_letters 32)" >> "$creds"
    done
    set -a
    # shellcheck source=/dev/null
    . "$creds"
    set +a
    log "nats on 127.0.0.1:$nats_port (monitoring $mon_port, websocket $ws_port)"
    DS_NATS_SERVER_NAME=datastream-local DS_NATS_LISTEN="127.0.0.1:$nats_port" \
    DS_NATS_MONITOR_LISTEN="127.0.0.1:$mon_port" DS_NATS_WS_LISTEN="127.0.0.1:$ws_port" \
    DS_NATS_STORE_DIR="$STATE/nats" \
        nats-server -c "$REPO/conf/nats/nats-server.conf" > "$STATE/logs/nats.log" 2>&1 &
    PIDS+=($!)
    wait_for_port "$nats_port" nats-server

    # Secrets and demo keys are made here, once, and kept in the state dir.
    [ -s "$STATE/token-secret" ] || (umask 077 && openssl rand -hex 32 > "$STATE/token-secret")
    export DATASTREAM_TOKEN_SECRET
    DATASTREAM_TOKEN_SECRET=$(cat "$STATE/token-secret")
    local keys="$BUILD/bin/datastream-keys" redis_url="redis://127.0.0.1:$DS_REDIS_PORT/0"
    if [ ! -s "$STATE/demo-pk" ]; then
        (umask 077
         REDIS_URL=$redis_url "$keys" create --name dashboard --kind pk --rate-limit 600 \
             --origins "http://localhost:$DS_HTTP_PORT http://127.0.0.1:$DS_HTTP_PORT" > "$STATE/demo-pk"
         REDIS_URL=$redis_url "$keys" create --name demo-server --kind sk > "$STATE/demo-sk")
    fi
    printf 'window.DATASTREAM_CONFIG = { apiKey: "%s" };\n' "$(cat "$STATE/demo-pk")" \
        > "$STATE/nginx/dashboard-config.js"

    log "nginx on :$DS_HTTP_PORT (publisher 127.0.0.1:$DS_PUBLISH_PORT)"
    DS_NGINX_ERROR_LOG="$STATE/logs/nginx-error.log" DS_NGINX_ACCESS_LOG="$STATE/logs/nginx-access.log" \
        render_nginx_conf "$STATE/nginx"
    nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -e "$STATE/logs/nginx-error.log"
    wait_for_port "$DS_HTTP_PORT" nginx

    log "consumer (metrics on 127.0.0.1:$metrics_port)"
    NATS_URL="nats://127.0.0.1:$nats_port" NATS_USER=consumer NATS_PASSWORD="$DS_NATS_CONSUMER_PASSWORD" \
    REDIS_URL="$redis_url" CREATE_STREAM=1 \
    PUBLISH_URL="http://127.0.0.1:$DS_PUBLISH_PORT/pub" METRICS_PORT="$metrics_port" \
        "$BUILD/bin/datastream-consumer" > "$STATE/logs/consumer.log" 2>&1 &
    PIDS+=($!)
    wait_for_port "$metrics_port" consumer

    log "demo feed (as Debezium would write)"
    NATS_URL="nats://debezium:$DS_NATS_DEBEZIUM_PASSWORD@127.0.0.1:$nats_port" \
        "$BUILD/bin/datastream-feed" demo --create-stream --state-file "$STATE/feed-last-round-id" \
        > "$STATE/logs/feed.log" 2>&1 &
    PIDS+=($!)

    cat <<EOF

  Data Stream is running. Ctrl-C stops everything; state stays in $STATE.

  Dashboard        http://localhost:$DS_HTTP_PORT/
  REST             curl -H "X-API-Key: $(cat "$STATE/demo-sk")" http://localhost:$DS_HTTP_PORT/api/latest/crash
  WebSocket        ws://localhost:$DS_HTTP_PORT/ws/crash   (token from POST /api/auth/token as subprotocol)
  SSE              curl -N -H "Accept: text/event-stream" "http://localhost:$DS_HTTP_PORT/sse/crash?api_key=$(cat "$STATE/demo-sk")"
  NATS WebSocket   ws://localhost:$ws_port  (subjects rounds.game.<slug>, rounds.type.<type>, read-only, no credentials)
  NATS             nats://127.0.0.1:$nats_port  users debezium, consumer, subscriber, operator: passwords in $creds
  Health/metrics   http://localhost:$DS_HTTP_PORT/readyz  http://localhost:$DS_HTTP_PORT/metrics
                   http://127.0.0.1:$metrics_port/metrics (consumer)
  Demo keys        $STATE/demo-pk (browser, origin http://localhost:$DS_HTTP_PORT)  $STATE/demo-sk (server)
  Logs             $STATE/logs/

EOF
    # Any process dying ends the run: a half-running stack helps nobody.
    wait -n "${PIDS[@]}" || true
    [ -n "${STOPPING:-}" ] || log "a process exited; see $STATE/logs/"
}

# ---------------------------------------------------------------- test

start_test_redis() {   # shared Redis for the Test::Nginx files
    TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/datastream-test.XXXXXX")
    export TEST_NGINX_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-16379}
    redis-server --port "$TEST_NGINX_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TEST_TMP" > "$TEST_TMP/redis.log" 2>&1 &
    TEST_REDIS_PID=$!
    wait_for_port "$TEST_NGINX_REDIS_PORT" "test redis"
}

stop_test_redis() {
    kill "$TEST_REDIS_PID" 2>/dev/null || true
    wait "$TEST_REDIS_PID" 2>/dev/null || true
    rm -rf "$TEST_TMP"
}

run_suite() {   # $1 = build dir to test, $2 = label, $3 = test paths to leave out (regex)
    local build=$1 label=$2 skip=${3:-} inc=() files=()
    # The project's clean-room Test::Nginx stands in only when the real one is absent.
    perl -MTest::Nginx::Socket -e1 2>/dev/null || inc=(-I "$REPO/t/harness")
    if [ -n "${DS_TEST_FILES:-}" ]; then
        read -r -a files <<<"$DS_TEST_FILES"
    else
        while IFS= read -r f; do
            [ -n "$skip" ] && [[ $f =~ $skip ]] && continue
            files+=("$f")
        done < <(find "$REPO/t" -name '*.t' -not -path '*/node_modules/*' | sort)
        # C unit tests print TAP; prove runs executables as they are.
        while IFS= read -r f; do files+=("$f"); done < <(find "$build/bin" -maxdepth 1 -name 'test_*' -type f -perm -u+x | sort)
    fi
    log "test suite ($label)"
    local out="$TEST_TMP/prove-${#SUITE_LOGS[@]}.log" rc=0
    (cd "$REPO" && DS_BUILD_DIR=$build \
        TEST_NGINX_DATASTREAM_MODULE="$build/nginx/ngx_http_datastream_module.so" \
        TEST_NGINX_NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so \
        TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-1984} \
        prove "${inc[@]}" -I "$REPO/t/lib" --timer "${files[@]}") 2>&1 | tee "$out" \
        || rc=${PIPESTATUS[0]}
    SUITE_LOGS+=("$label|$rc|$out")
    return "$rc"
}

# The last lines of a long run are what a CI log keeps: each pass's verdict
# and, for a failed one, prove's summary of the failing files and tests.
print_verdicts() {
    local entry label rc out
    for entry in "${SUITE_LOGS[@]}"; do
        IFS='|' read -r label rc out <<<"$entry"
        if [ "$rc" = 0 ]; then
            log "$label: all tests passed"
        else
            log "$label: FAILED (prove exit $rc)"
            sed -n '/^Test Summary Report/,$p' "$out" >&2
            grep -E '^(not ok|# +Failed test|Bail out)' "$out" | head -40 >&2 || true
        fi
    done
}

SUITE_LOGS=()

# The Test::Nginx files under the clean-room harness and under the real
# Test::Nginx (DS_REAL_TEST_NGINX_LIB: its lib directory), with the number of
# assertions each ran; they must pass under both with the same count.
run_both_frameworks() {
    local real=$1 out="$TEST_TMP/prove-${#SUITE_LOGS[@]}.log" rc=0
    log "Test::Nginx files under both frameworks (real: $real)"
    (cd "$REPO" && DS_BUILD_DIR=$BUILD \
        TEST_NGINX_DATASTREAM_MODULE="$BUILD/nginx/ngx_http_datastream_module.so" \
        TEST_NGINX_NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so \
        TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-1984} \
        t/harness/compare-frameworks "$real" t/0*.t) 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
    SUITE_LOGS+=("Test::Nginx under both frameworks|$rc|$out")
    return "$rc"
}

run_tests() {
    local status=0
    start_test_redis
    trap stop_test_redis EXIT
    run_suite "$BUILD" "release build" || status=1
    if [ -n "${DS_REAL_TEST_NGINX_LIB:-}" ] && [ -z "${DS_TEST_FILES:-}" ]; then
        run_both_frameworks "$DS_REAL_TEST_NGINX_LIB" || status=1
    fi
    if [ "${DS_TEST_SANITIZE:-1}" = 1 ]; then
        build_sanitized
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        TEST_NGINX_BINARY="$BUILD/asan/nginx-asan" DS_NGINX_BINARY="$BUILD/asan/nginx-asan" \
            run_suite "$BUILD/asan" "AddressSanitizer + UBSan" \
                '/t/(deploy|harness)/|/t/000-harness' || status=1
        if compgen -G "$BUILD/asan/logs/nginx.*" > /dev/null; then
            log "sanitizer reports from nginx workers:"
            cat "$BUILD"/asan/logs/nginx.* >&2
            status=1
        fi
    fi
    print_verdicts
    return $status
}

# ---------------------------------------------------------------- main

cmd=${1:-build}
case "$cmd" in
    help|-h|--help) usage ;;
    build)          install_packages; build ;;
    up)             install_packages; build; up ;;
    test)           install_packages; build; run_tests ;;
    bench)          install_packages "${BENCH_PACKAGES[@]}"; build; shift; exec "$REPO/bench/run.sh" "$@" ;;
    clean)          rm -rf "$BUILD" ;;
    *)              usage >&2; exit 2 ;;
esac

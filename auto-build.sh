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
    postgresql-15 postgresql-client-15 libpq-dev
    clang libclang-rt-14-dev chromium
    libtest-base-perl libtext-diff-perl liburi-perl libwww-perl libhttp-message-perl
    libtest-longstring-perl liblist-moreutils-perl libipc-run-perl libprotocol-websocket-perl
    libjson-pp-perl
)
# Only the benchmarks use these.
BENCH_PACKAGES=(wrk pushpin libzmq3-dev)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'auto-build.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
Usage: ./auto-build.sh [build|up|test|bench|clean|help]

Environment (defaults in brackets):
  DS_BUILD_DIR              build output [$REPO/build]
  DS_REAL_TEST_NGINX_LIB    test: lib/ of openresty's Test::Nginx; the t/0*.t files then also run
                            under it and must run as many assertions as under t/harness [unset]
  DS_STATE_DIR              up: persistent state (PostgreSQL, Redis, JetStream, keys, logs) [$REPO/state]
  DS_HTTP_PORT              up: public port of the backend [3000]
  DS_PUBLISH_PORT           up: internal nchan publisher port, loopback only [3001]
  DS_REDIS_PORT             up: Redis [6379]
  DS_NATS_PORT              up: NATS client port [4222]
  DS_NATS_MONITOR_PORT      up: NATS monitoring [8222]
  DS_NATS_WS_PORT           up: NATS WebSocket for browsers [8443]
  DS_CONSUMER_METRICS_PORT  up: consumer /healthz /readyz /metrics [8090]
  DS_PG_PORT                up: PostgreSQL, loopback only [5432]
  DS_CDC_METRICS_PORT       up: CDC bridge metrics, 0 for none [8091]
  DS_FEED_MODE              up: rows: the demo feed writes rows into PostgreSQL and the CDC bridge
                            carries them into JetStream; envelopes: the feed publishes Debezium
                            envelopes straight into JetStream, without the bridge [rows]
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
    make -s -C "$REPO/tools/cdc" O="$out/bin" SANITIZE="$san"
    # The soak's load client, and the unit test of its round accounting.
    make -s -C "$REPO/bench/loadclient" O="$out/bin" SANITIZE="$san"
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
PG_BIN=/usr/lib/postgresql/15/bin
PG_PID=

stop_all() {
    # A second signal must not cut the stop short, leaving PostgreSQL or nginx running:
    # timeout(1) signals the script and then its whole process group.
    trap '' INT TERM
    trap - EXIT
    STOPPING=1
    log "stopping"
    local i
    # Reverse start order: the feed first, Redis last; PostgreSQL after the feed and the
    # CDC bridge, its clients.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        if [ "${PIDS[$i]}" = "$PG_PID" ]; then
            as_postgres "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -s >/dev/null 2>&1 \
                || kill -INT "$PG_PID" 2>/dev/null || true
        else
            kill -TERM "${PIDS[$i]}" 2>/dev/null || true
        fi
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

is_root() { [ "$(id -u)" = 0 ]; }

# initdb refuses to run as root: as root, the cluster belongs to the postgres user.
as_postgres() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# The cluster lives in $STATE/postgres. As root, the postgres user must reach it: when the
# state dir is under a path only root can traverse (a checkout in root's home), the cluster
# goes to that user's home instead, and $STATE/postgres points there. Sets PG_DIR, the real
# path.
place_postgres() {
    local link=$STATE/postgres home target
    if is_root && [ ! -L "$link" ] && ! runuser -u postgres -- test -x "$STATE"; then
        [ -e "$link" ] && die "the postgres user cannot reach $link; set DS_STATE_DIR to a state dir it can reach, or remove $link"
        home=$(getent passwd postgres | cut -d: -f6)
        [ -n "$home" ] || die "the postgres user has no home directory"
        target="$home/datastream/$(printf '%s' "$STATE" | sha256sum | cut -c1-16)"
        install -d -o postgres -g postgres -m 700 "$home/datastream" "$target"
        ln -s "$target" "$link"
        log "the postgres user cannot reach $STATE: the cluster lives in $target ($link points there)"
    fi
    mkdir -p "$link"
    PG_DIR=$(readlink -f "$link")
    if is_root; then chown postgres:postgres "$PG_DIR"; fi
    chmod 700 "$PG_DIR"
    # The socket's path must fit in sun_path (108 bytes).
    [ ${#PG_DIR} -le 80 ] || die "$PG_DIR is too long a path for PostgreSQL's socket; set DS_STATE_DIR to a shorter one"
}

# PostgreSQL 15 on 127.0.0.1:$1, its socket in $PG_DIR/run; the cluster is made once. The
# admin (the cluster's owner) gets in through the socket only, the datastream role (tables,
# publication, replication slot) over TCP with its password. Sets PG_PASSWORD.
start_postgres() {
    local port=$1 data admin i
    place_postgres
    data=$PG_DIR/data
    if is_root; then admin=postgres; else admin=$(id -un); fi
    if [ ! -s "$data/PG_VERSION" ]; then
        log "postgres: new cluster in $data"
        as_postgres "$PG_BIN/initdb" -D "$data" -U "$admin" -E UTF8 --locale=C \
            --auth-local=peer --auth-host=scram-sha-256 --no-instructions > "$STATE/logs/initdb.log" 2>&1 \
            || die "initdb failed; see $STATE/logs/initdb.log"
        echo "include 'datastream.conf'" >> "$data/postgresql.conf"
    fi
    # Rewritten at each start, so that a change of the project's applies to a kept cluster.
    cp "$REPO/conf/postgres/postgresql.conf" "$data/datastream.conf"
    cat > "$data/pg_hba.conf" <<HBA
# TYPE  DATABASE     USER        ADDRESS        METHOD
local   all          $admin                     peer
host    datastream   datastream  127.0.0.1/32   scram-sha-256
host    replication  datastream  127.0.0.1/32   scram-sha-256
HBA
    mkdir -p "$PG_DIR/run"
    if is_root; then chown postgres:postgres "$data/datastream.conf" "$data/pg_hba.conf" "$PG_DIR/run"; fi

    log "postgres on 127.0.0.1:$port"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is taken (another PostgreSQL? pg_lsclusters lists Debian's own); set DS_PG_PORT"
    fi
    # setpriv, not runuser: runuser would stay as the server's parent and SIGKILL it two seconds
    # after passing it a signal. The server gets none of this script's secrets.
    local user=()
    if is_root; then user=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
    (cd / && exec "${user[@]}" env -i PATH=/usr/bin:/bin "$PG_BIN/postgres" -D "$data" \
        -p "$port" -k "$PG_DIR/run") > "$STATE/logs/postgres.log" 2>&1 &
    PG_PID=$!
    PIDS+=("$PG_PID")
    for i in $(seq 1 300); do
        # As the datastream role: a probe that leaves before authenticating is not logged.
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U datastream -d datastream && break
        kill -0 "$PG_PID" 2>/dev/null || die "postgres exited; see $STATE/logs/postgres.log"
        sleep 0.1
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U datastream -d datastream \
        || die "postgres did not get ready on port $port; see $STATE/logs/postgres.log"

    # The role and its database once; its password (letters: no escaping in a URL) made once
    # and set at every start; the schema at every start, as the role that owns the tables.
    [ -s "$STATE/postgres-password" ] || (umask 077 && random_letters 32 > "$STATE/postgres-password")
    PG_PASSWORD=$(cat "$STATE/postgres-password")
    as_postgres env PGOPTIONS='-c client_min_messages=warning' \
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR/run" -p "$port" -U "$admin" -d postgres \
        > /dev/null <<SQL || die "cannot create the datastream role and database; see $STATE/logs/postgres.log"
SELECT 'CREATE ROLE datastream' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'datastream')
\gexec
ALTER ROLE datastream WITH LOGIN REPLICATION PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE datastream OWNER datastream'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'datastream')
\gexec
SQL
    PGPASSWORD=$PG_PASSWORD PGOPTIONS='-c client_min_messages=warning' \
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U datastream -d datastream \
        -f "$REPO/conf/postgres/schema.sql" > /dev/null || die "cannot apply conf/postgres/schema.sql"
}

up() {
    STATE=${DS_STATE_DIR:-$REPO/state}
    export DS_HTTP_PORT=${DS_HTTP_PORT:-3000} DS_PUBLISH_PORT=${DS_PUBLISH_PORT:-3001}
    export DS_REDIS_PORT=${DS_REDIS_PORT:-6379}
    local nats_port=${DS_NATS_PORT:-4222} mon_port=${DS_NATS_MONITOR_PORT:-8222}
    local ws_port=${DS_NATS_WS_PORT:-8443} metrics_port=${DS_CONSUMER_METRICS_PORT:-8090}
    local pg_port=${DS_PG_PORT:-5432} cdc_port=${DS_CDC_METRICS_PORT:-8091} mode=${DS_FEED_MODE:-rows}
    case "$mode" in
        rows|envelopes) ;;
        *) die "DS_FEED_MODE must be rows or envelopes, not '$mode'" ;;
    esac
    mkdir -p "$STATE"/{redis,nats,nginx,logs}
    # PostgreSQL runs from elsewhere (cd /) and needs absolute paths.
    STATE=$(cd "$STATE" && pwd)
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
    # One Go scheduler thread, as the nats pod runs (manifests/base/nats.yaml): a quarter less
    # CPU per message on a shared machine (docs/design.md, "The NATS server's threads").
    DS_NATS_SERVER_NAME=datastream-local DS_NATS_LISTEN="127.0.0.1:$nats_port" \
    DS_NATS_MONITOR_LISTEN="127.0.0.1:$mon_port" DS_NATS_WS_LISTEN="127.0.0.1:$ws_port" \
    DS_NATS_STORE_DIR="$STATE/nats" GOMAXPROCS="${GOMAXPROCS:-1}" \
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

    start_postgres "$pg_port"
    local db_url="postgresql://datastream:$PG_PASSWORD@127.0.0.1:$pg_port/datastream"

    log "consumer (metrics on 127.0.0.1:$metrics_port)"
    NATS_URL="nats://127.0.0.1:$nats_port" NATS_USER=consumer NATS_PASSWORD="$DS_NATS_CONSUMER_PASSWORD" \
    REDIS_URL="$redis_url" CREATE_STREAM=1 \
    METRICS_PORT="$metrics_port" \
        "$BUILD/bin/datastream-consumer" > "$STATE/logs/consumer.log" 2>&1 &
    PIDS+=($!)
    wait_for_port "$metrics_port" consumer

    # The read model takes the highest round id as a game's latest: the two modes share one
    # sequence of ids, whichever ran last, so that a switch does not go back in time.
    local cdc=$BUILD/bin/datastream-cdc cdc_metrics="" feed_what last_envelope last_row
    last_envelope=$(cat "$STATE/feed-last-round-id" 2>/dev/null || echo 0)
    last_row=$(PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$pg_port" -U datastream \
        -d datastream -c 'SELECT coalesce(max(id), 0) FROM rounds') || die "cannot read the last round id"
    if [ "$mode" = envelopes ]; then
        [ "$last_row" -le "$last_envelope" ] || echo "$last_row" > "$STATE/feed-last-round-id"
        log "demo feed (envelopes straight into JetStream, as Debezium would write them)"
        NATS_URL="nats://debezium:$DS_NATS_DEBEZIUM_PASSWORD@127.0.0.1:$nats_port" \
            "$BUILD/bin/datastream-feed" demo --create-stream --state-file "$STATE/feed-last-round-id" \
            > "$STATE/logs/feed.log" 2>&1 &
        PIDS+=($!)
        feed_what="Debezium envelopes straight into JetStream (DS_FEED_MODE=envelopes)"
    else
        log "cdc bridge: replication slot -> JetStream (metrics port $cdc_port)"
        DATABASE_URL="$db_url" NATS_URL="nats://127.0.0.1:$nats_port" \
        NATS_USER=debezium NATS_PASSWORD="$DS_NATS_DEBEZIUM_PASSWORD" CREATE_STREAM=1 \
        OFFSET_FILE="$STATE/cdc-offsets" METRICS_PORT="$cdc_port" \
            "$cdc" > "$STATE/logs/cdc.log" 2>&1 &
        PIDS+=($!)
        if [ "$cdc_port" != 0 ]; then
            wait_for_port "$cdc_port" datastream-cdc
            cdc_metrics="http://127.0.0.1:$cdc_port/metrics (cdc bridge)"
        fi
        feed_what="rows into PostgreSQL; datastream-cdc (the local stand-in for Debezium Server) carries every change into JetStream"
        log "demo feed (rows into PostgreSQL, as a game platform would write them)"
        # The password in the environment, not on a command line anyone can read.
        PGPASSWORD="$PG_PASSWORD" "$BUILD/bin/datastream-feed" demo --start-id $((last_envelope + 1)) \
            --database "postgresql://datastream@127.0.0.1:$pg_port/datastream" \
            > "$STATE/logs/feed.log" 2>&1 &
        PIDS+=($!)
    fi

    cat <<EOF

  Data Stream is running. Ctrl-C stops everything; state stays in $STATE.

  Dashboard        http://localhost:$DS_HTTP_PORT/
  REST             curl -H "X-API-Key: $(cat "$STATE/demo-sk")" http://localhost:$DS_HTTP_PORT/api/latest/crash
  WebSocket        ws://localhost:$DS_HTTP_PORT/ws/crash   (token from POST /api/auth/token as subprotocol)
  SSE              curl -N -H "Accept: text/event-stream" "http://localhost:$DS_HTTP_PORT/sse/crash?api_key=$(cat "$STATE/demo-sk")"
  NATS WebSocket   ws://localhost:$ws_port  (subjects rounds.game.<slug>, rounds.type.<type>, read-only, no credentials)
  NATS             nats://127.0.0.1:$nats_port  users debezium, consumer, subscriber, operator: passwords in $creds
  PostgreSQL       psql $db_url   (tables games, rounds)
  Demo feed        $feed_what
  Health/metrics   http://localhost:$DS_HTTP_PORT/readyz  http://localhost:$DS_HTTP_PORT/metrics
                   http://127.0.0.1:$metrics_port/metrics (consumer)${cdc_metrics:+
                   $cdc_metrics}
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

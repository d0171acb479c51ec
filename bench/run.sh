#!/usr/bin/env bash
# Runs every benchmark beside its baseline (bench/README.md).
#   bench/run.sh [--quick] [--only abcdef] [--no-append]
# Usually called as ./auto-build.sh bench [--quick], which builds the project first.
# Parts whose binaries are missing print "skipped: <reason>"; the rest still run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${DS_BUILD_DIR:-$repo/build}

missing=()
for tool in nginx nats-server redis-server redis-cli wrk; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
# The rate publisher links libzmq (Pushpin's publish input).
[ -f /usr/include/zmq.h ] || missing+=(libzmq3-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: missing ${missing[*]} (apt-get install nginx-light libnginx-mod-nchan nats-server redis-server redis-tools wrk libzmq3-dev)" >&2
    exit 1
fi
# The peer product: without it only its rows are skipped (bench.pl says which).
peer_missing=()
for tool in pushpin condure zurl; do
    command -v "$tool" >/dev/null || peer_missing+=("$tool")
done
if [ ${#peer_missing[@]} -gt 0 ]; then
    echo "bench: no ${peer_missing[*]}: the Pushpin rows are skipped (apt-get install pushpin)" >&2
fi

# The bench's own tools: load client, rate publisher, do-nothing consumer, row inserter.
make -s -C "$here" O="$build/bin"
[ -x "$build/bin/datastream-feed" ] || make -s -C "$repo/tools/feed" O="$build/bin"

# 10k+ sockets in the load client and in nginx.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

DS_BUILD_DIR=$build exec perl "$here/bench.pl" "$@"

#!/bin/bash
# Entrypoint of the backend image: renders the nginx configuration into the
# writable run dir, then runs nginx in the foreground. Extra arguments go to
# nginx (e.g. `-t` to test the rendered configuration).
#
# REDIS_URL (redis://host:port[/0], the form the consumer takes) sets
# DS_REDIS_HOST / DS_REDIS_PORT unless those are given.
# DATASTREAM_DASHBOARD_API_KEY (optional): pk_live_ key for the dashboard page.
set -euo pipefail

die() { echo "datastream-backend-entrypoint: $*" >&2; exit 1; }

run=${DS_NGINX_RUN_DIR:-/run/datastream}
conf_dir=${DS_NGINX_CONF_DIR:-/etc/datastream/nginx}
export DS_NGINX_RUN_DIR=$run DS_NGINX_CONF_DIR=$conf_dir

if [ -z "${DS_REDIS_HOST:-}" ] && [ -n "${REDIS_URL:-}" ]; then
    rest=${REDIS_URL#redis://}
    [ "$rest" != "$REDIS_URL" ] || die "REDIS_URL must start with redis://"
    hostport=${rest%%/*}
    db=""
    [ "$hostport" = "$rest" ] || db=${rest#*/}
    case $db in ""|0) ;; *) die "REDIS_URL: nginx uses database 0 only, got /$db" ;; esac
    case $hostport in
        *@*) die "REDIS_URL: passwords are not supported (hiredis 0.14, no AUTH)" ;;
        *:*) DS_REDIS_HOST=${hostport%:*}; DS_REDIS_PORT=${hostport##*:} ;;
        *)   DS_REDIS_HOST=$hostport; DS_REDIS_PORT=6379 ;;
    esac
    export DS_REDIS_HOST DS_REDIS_PORT
fi

mkdir -p "$run"
dashboard=${DS_DASHBOARD_CONFIG:-$run/dashboard-config.js}
key=${DATASTREAM_DASHBOARD_API_KEY:-}
case $key in ""|pk_live_[0-9a-f]*) ;; *) die "DATASTREAM_DASHBOARD_API_KEY must be a pk_live_ key" ;; esac
printf 'window.DATASTREAM_CONFIG = { apiKey: "%s" };\n' "$key" > "$dashboard"

bash "$conf_dir/render.sh" > "$run/nginx.conf"

# nginx opens the access log (/dev/stdout by default) by path. When stdout is
# a pipe or FIFO owned by another user (the container runtime's, and we run as
# non-root), that open fails with EACCES: relay stdout through a pipe we own.
if [ "${DS_NGINX_ACCESS_LOG:-/dev/stdout}" = /dev/stdout ] && ! { : >> /dev/stdout; } 2>/dev/null; then
    exec > >(exec cat)
fi
exec nginx -p "$run" -c "$run/nginx.conf" -e stderr -g 'daemon off;' "$@"

#!/usr/bin/env bash
# Renders nginx.conf.template into a ready nginx.conf on stdout.
# Usage: conf/nginx/render.sh > /some/dir/nginx.conf
# Every DS_* variable below can be set in the environment; the rest of the
# template is left untouched (nginx's own $variables included).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${DS_HTTP_PORT:=3000}"
: "${DS_PUBLISH_ADDR:=127.0.0.1}"
: "${DS_PUBLISH_PORT:=3001}"
: "${DS_REDIS_HOST:=127.0.0.1}"
: "${DS_REDIS_PORT:=6379}"
: "${DS_REDIS_PREFIX:=ds:}"
: "${DS_AUTH:=on}"
: "${DS_TOKEN_SECRET_ENV:=DATASTREAM_TOKEN_SECRET}"
: "${DS_NGINX_WORKERS:=auto}"
: "${DS_NGINX_RUN_DIR:=/tmp/datastream-nginx}"
: "${DS_NGINX_ERROR_LOG:=stderr}"
: "${DS_NGINX_ACCESS_LOG:=/dev/stdout}"
: "${DS_NGINX_LOG_LEVEL:=notice}"
: "${DS_NGINX_SHUTDOWN_TIMEOUT:=10s}"
: "${DS_NGINX_CONF_DIR:=$here}"
: "${DS_NCHAN_MODULE:=/usr/lib/nginx/modules/ngx_nchan_module.so}"
: "${DS_DATASTREAM_MODULE:=/usr/lib/nginx/modules/ngx_http_datastream_module.so}"
: "${DS_NCHAN_SHM_SIZE:=128M}"
# Each subscriber holds one descriptor; ask for as many as the hard limit allows.
if [ -z "${DS_NGINX_RLIMIT_NOFILE:-}" ]; then
    DS_NGINX_RLIMIT_NOFILE=$(ulimit -Hn)
    [ "$DS_NGINX_RLIMIT_NOFILE" = unlimited ] && DS_NGINX_RLIMIT_NOFILE=1048576
fi
: "${DS_HISTORY_CACHE:=8m}"
: "${DS_NCHAN_BUFFER_LENGTH:=1000}"
: "${DS_NCHAN_MESSAGE_TIMEOUT:=1h}"
# For messages posted to the internal publisher by hand; the consumer's rounds keep
# NCHAN_BUFFER_LENGTH and NCHAN_MESSAGE_TIMEOUT of its own environment (the same defaults).
# An SSE stream ends after at most this long (three quarters of it at the least, drawn per
# stream) and the client resumes with Last-Event-ID; 0 lets streams live as long as their
# clients (docs/streaming.md, "Stream lifetime").
: "${DS_SSE_LIFETIME:=10m}"
: "${DS_HTML_ROOT:=$(cd "$here/../../html" 2>/dev/null && pwd || echo /usr/share/datastream/html)}"
: "${DS_DASHBOARD_CONFIG:=$DS_NGINX_RUN_DIR/dashboard-config.js}"
# Only a master running as root may switch the workers' user.
if [ -z "${DS_NGINX_USER_LINE+x}" ]; then
    if [ "$(id -u)" = 0 ]; then DS_NGINX_USER_LINE="user root;"; else DS_NGINX_USER_LINE=""; fi
fi
[ -f "$DS_NGINX_CONF_DIR/mime.types" ] || { echo "render.sh: no mime.types in $DS_NGINX_CONF_DIR" >&2; exit 1; }

vars=$(grep -o '\${DS_[A-Z0-9_]*}' "$here/nginx.conf.template" | sort -u | tr -d '\n')
for v in $(grep -o 'DS_[A-Z0-9_]*' <<<"$vars"); do export "$v"; done
envsubst "$vars" < "$here/nginx.conf.template"

#!/bin/bash
# Starts Debezium Server with the connection settings taken from DATABASE_URL
# (postgres://user:password@host[:port]/dbname[?sslmode=...]), the one form the
# secret datastream-secrets carries. User and password must be URL-encoded
# in DATABASE_URL; they are decoded here.
set -euo pipefail

urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

url=${DATABASE_URL:?DATABASE_URL is not set}
rest=${url#*://}
[ "$rest" != "$url" ] || { echo "start.sh: DATABASE_URL has no scheme" >&2; exit 1; }
query=""
case $rest in *\?*) query=${rest#*\?}; rest=${rest%%\?*} ;; esac
creds=${rest%%@*}
hostpart=${rest#*@}
[ "$creds" != "$rest" ] || { echo "start.sh: DATABASE_URL has no user" >&2; exit 1; }
export DS_DB_USER DS_DB_PASSWORD DS_DB_HOST DS_DB_PORT DS_DB_NAME DS_DB_SSLMODE
DS_DB_USER=$(urldecode "${creds%%:*}")
DS_DB_PASSWORD=""
case $creds in *:*) DS_DB_PASSWORD=$(urldecode "${creds#*:}") ;; esac
DS_DB_NAME=${hostpart#*/}
hostport=${hostpart%%/*}
DS_DB_HOST=${hostport%%:*}
DS_DB_PORT=5432
case $hostport in *:*) DS_DB_PORT=${hostport#*:} ;; esac
DS_DB_SSLMODE=${DS_DB_SSLMODE:-prefer}
for kv in ${query//&/ }; do
    case $kv in sslmode=*) DS_DB_SSLMODE=${kv#sslmode=} ;; esac
done
[ -n "$DS_DB_HOST" ] && [ -n "$DS_DB_NAME" ] && [ "$DS_DB_NAME" != "$hostpart" ] \
    || { echo "start.sh: DATABASE_URL needs host and database name" >&2; exit 1; }

exec /debezium/run.sh

#!/bin/sh
# Turns Lua scripts into C string constants, for the consumer and the nginx module:
#   embed_lua.sh [-p <symbol prefix>] <script.lua>...
# gives <prefix><name>[] for each script, the prefix "lua_" unless set. A line
# "-- include <file>" is replaced by that file (relative to the script): Redis scripts cannot
# load code, so helpers shared by several scripts are inlined.
set -eu
prefix=lua_
if [ "${1:-}" = -p ]; then
    [ $# -ge 2 ] || { echo "usage: $0 [-p <symbol prefix>] <script.lua>..." >&2; exit 2; }
    prefix=$2
    shift 2
fi
echo "/* Generated from the Lua scripts by embed_lua.sh. */"
for f in "$@"; do
    name=$(basename "$f" .lua)
    dir=$(dirname "$f")
    printf 'const char %s%s[] =\n' "$prefix" "$name"
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
        "-- include "*) cat "$dir/${line#-- include }" ;;
        *) printf '%s\n' "$line" ;;
        esac
    done < "$f" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/'
    printf '    ;\n'
done

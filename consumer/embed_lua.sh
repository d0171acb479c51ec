#!/bin/sh
# Turns src/lua/*.lua into C string constants: lua_<name>[] for each script. A line
# "-- include <file>" is replaced by that file (relative to the script): Redis scripts cannot
# load code, so helpers shared by several scripts are inlined.
set -eu
echo "/* Generated from the Lua scripts by embed_lua.sh. */"
for f in "$@"; do
    name=$(basename "$f" .lua)
    dir=$(dirname "$f")
    printf 'const char lua_%s[] =\n' "$name"
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
        "-- include "*) cat "$dir/${line#-- include }" ;;
        *) printf '%s\n' "$line" ;;
        esac
    done < "$f" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/'
    printf '    ;\n'
done

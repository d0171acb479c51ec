#!/bin/sh
# Turns src/lua/*.lua into C string constants: lua_<name>[] for each script.
set -eu
echo "/* Generated from the Lua scripts by embed_lua.sh. */"
for f in "$@"; do
    name=$(basename "$f" .lua)
    printf 'const char lua_%s[] =\n' "$name"
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$f"
    printf '    ;\n'
done

#!/usr/bin/env bash
# Builds the libFuzzer targets of Data Stream into <outdir>:
#   - the nginx module's pure parsers (ngx_datastream_module/*_params.c,
#     *_json.c, *_token.c, the credential/Origin logic of *_auth.c and the
#     log line scrubber *_scrub_line.c, the command builder *_cmds.c),
#     compiled straight from the module's sources against nginx-dev headers
#     with small stubs (fuzz/stubs.c) in place of the nginx runtime;
#   - the consumer's Debezium decoder (consumer/fuzz, via its Makefile);
#   - the CDC bridge's pgoutput parser and envelope encoder (tools/cdc/fuzz).
# usage: fuzz/build.sh <outdir>
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <outdir>" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
nginx_src=${NGINX_DEV_SRC:-/usr/share/nginx/src}
mod=$repo/ngx_datastream_module
CC=${CC:-clang}

[ -f "$nginx_src/conf_flags" ] || { echo "nginx-dev sources not found in $nginx_src" >&2; exit 1; }

# nginx's generated headers (ngx_auto_config.h) come from its configure;
# run it once in a scratch copy, with Debian's flags, so struct layouts match.
cfg=$out/nginx-configure
if [ ! -f "$cfg/.configured" ]; then
    rm -rf "$cfg"
    mkdir -p "$cfg"
    cp -a "$nginx_src/." "$cfg/src-tree"
    (
        cd "$cfg/src-tree"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" --builddir="$cfg/objs" >"$cfg/configure.log" 2>&1 \
            || { cat "$cfg/configure.log" >&2; exit 1; }
    )
    touch "$cfg/.configured"
fi

s=$cfg/src-tree/src
incs=(-I "$cfg/objs" -I "$s/core" -I "$s/event" -I "$s/event/modules" -I "$s/os/unix"
      -I "$s/http" -I "$s/http/modules" -I "$s/http/v2" -I "$mod" -I "$repo/contract")
# the project's flags; nginx's callback signatures need -Wno-unused-parameter
# (nginx's configure adds it to the module build too)
cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
strict=(-Wall -Wextra -Werror -Wno-unused-parameter)

objs=$out/obj
mkdir -p "$objs"

compile() {   # $1 = source, $2 = object, rest = extra flags
    local src=$1 obj=$2; shift 2
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$here/build.sh" -nt "$obj" ] \
       || [ "$mod/ngx_http_datastream_module.h" -nt "$obj" ] \
       || [ "$repo/contract/datastream_contract.h" -nt "$obj" ] \
       || [ "$repo/contract/datastream_keys.h" -nt "$obj" ] || [ "$here/targets/fuzz.h" -nt "$obj" ]; then
        "$CC" "${cflags[@]}" "$@" "${incs[@]}" -I "$here/targets" -c "$src" -o "$obj"
    fi
}

# nginx-dev ships headers only: the few nginx core functions the parsers
# call (base64url, atoi, hex, argument lookup) are re-implemented in
# targets/ngx_runtime.c; targets/stubs.c stands in for pools, time and log.
compile "$here/targets/ngx_runtime.c" "$objs/ngx_runtime.o"   "${strict[@]}"
compile "$here/targets/stubs.c"       "$objs/stubs.o"         "${strict[@]}"
# the module's Redis scripts, as its build.sh embeds them
"$repo/contract/embed_lua.sh" -p ds_lua_ "$mod"/lua/*.lua >"$objs/ds_lua.c.tmp"
if cmp -s "$objs/ds_lua.c.tmp" "$objs/ds_lua.c"; then rm -f "$objs/ds_lua.c.tmp"; else mv "$objs/ds_lua.c.tmp" "$objs/ds_lua.c"; fi
compile "$objs/ds_lua.c" "$objs/ds_lua.o" "${strict[@]}"
for f in params json token auth scrub_line cmds keys reply keycache; do
    compile "$mod/ngx_http_datastream_$f.c" "$objs/ds_$f.o" "${strict[@]}" \
        || echo "fuzz/build.sh: ngx_http_datastream_$f.c did not compile" >&2
done

# A target that fails to build is reported and left out; the others are
# still built, and the script exits 1 at the end.
failed=()
link() {   # $1 = target name, rest = module objects
    local name=$1 o fresh=1; shift
    compile "$here/targets/$name.c" "$objs/$name.o" "${strict[@]}" || fresh=0
    for o in "$objs/$name.o" "$@" "$objs/stubs.o" "$objs/ngx_runtime.o"; do
        [ "$fresh" = 1 ] && [ -f "$out/$name" ] && [ ! "$o" -nt "$out/$name" ] || fresh=0
    done
    [ "$fresh" = 1 ] && return 0
    rm -f "$out/$name"
    if ! { compile "$here/targets/$name.c" "$objs/$name.o" "${strict[@]}" &&
           "$CC" "${cflags[@]}" -o "$out/$name" "$objs/$name.o" "$@" \
               "$objs/stubs.o" "$objs/ngx_runtime.o" -lcrypto; }; then
        echo "fuzz/build.sh: $name did not build" >&2
        failed+=("$name")
    fi
}

link fuzz_slug         "$objs/ds_params.o"
link fuzz_limit        "$objs/ds_params.o"
link fuzz_key          "$objs/ds_params.o"
link fuzz_subprotocol  "$objs/ds_params.o"
link fuzz_origin       "$objs/ds_params.o"
link fuzz_json         "$objs/ds_json.o"
link fuzz_token        "$objs/ds_token.o" "$objs/ds_params.o"
link fuzz_auth         "$objs/ds_auth.o" "$objs/ds_token.o" "$objs/ds_params.o" \
                       "$objs/ds_cmds.o" "$objs/ds_keys.o" "$objs/ds_reply.o" "$objs/ds_keycache.o" \
                       "$objs/ds_lua.o"
link fuzz_log_scrub    "$objs/ds_scrub_line.o"
link fuzz_cmds         "$objs/ds_cmds.o"

# the consumer's decoder target, built by its own Makefile
make -s -C "$repo/consumer" fuzz O="$out" || failed+=(fuzz_decode)
# the CDC bridge's pgoutput parser and Debezium encoder, by its own Makefile
make -s -C "$repo/tools/cdc" fuzz O="$out" || failed+=(fuzz_pgoutput)

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/build.sh: not built: ${failed[*]}" >&2
    exit 1
fi

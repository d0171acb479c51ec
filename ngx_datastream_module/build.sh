#!/usr/bin/env bash
# Builds ngx_http_datastream_module.so against the system's nginx-dev sources.
# usage: build.sh <outdir> [--sanitize]
set -euo pipefail

usage() { echo "usage: $0 <outdir> [--sanitize]" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$1; shift
sanitize=0
for arg in "$@"; do
    case $arg in
        --sanitize) sanitize=1 ;;
        *) usage ;;
    esac
done

module_dir=$(cd "$(dirname "$0")" && pwd)
nginx_src=${NGINX_DEV_SRC:-/usr/share/nginx/src}
[ -f "$nginx_src/conf_flags" ] || { echo "nginx-dev sources not found in $nginx_src" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/configure
cc_opt="-std=gnu11 -Wall -Wextra -Werror -O2 -g"
ld_opt=""
if [ "$sanitize" = 1 ]; then
    cc_opt="$cc_opt -fsanitize=address,undefined -fno-omit-frame-pointer"
    ld_opt="-fsanitize=address,undefined"
fi

# The Redis scripts of lua/ become C strings (contract/embed_lua.sh) in a
# generated source that config lists from here.
export DS_MODULE_GENERATED=$work/generated
lua_c=$DS_MODULE_GENERATED/ngx_http_datastream_lua.c

# Reconfigure only when the module's config, the flags or this script changed,
# so repeated builds are incremental.
stamp=$work/.configured
want="$cc_opt|$ld_opt|$(cat "$module_dir/config" "$0" | sha256sum)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$work"
    mkdir -p "$work"
    cp -a "$nginx_src/." "$work/src-tree"
    (
        cd "$work/src-tree"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            --add-dynamic-module="$module_dir" --builddir="$work/objs" >"$work/configure.log" 2>&1 \
            || { cat "$work/configure.log" >&2; exit 1; }
    )
    printf '%s' "$want" >"$stamp"
fi

# rewritten only when the scripts changed, so make sees an unchanged source
mkdir -p "$DS_MODULE_GENERATED"
"$module_dir/../contract/embed_lua.sh" -p ds_lua_ "$module_dir"/lua/*.lua >"$lua_c.tmp"
if cmp -s "$lua_c.tmp" "$lua_c"; then rm -f "$lua_c.tmp"; else mv "$lua_c.tmp" "$lua_c"; fi

(cd "$work/src-tree" && make -s -f "$work/objs/Makefile" modules)
install -m 0755 "$work/objs/ngx_http_datastream_module.so" "$out/ngx_http_datastream_module.so"

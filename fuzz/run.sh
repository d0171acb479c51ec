#!/usr/bin/env bash
# Builds every fuzz target (fuzz/build.sh) and runs each for a bounded time.
#
#   fuzz/run.sh [seconds-per-target]        default 30 (CI: 5-10)
#
# Environment:
#   DS_FUZZ_OUT      build and work directory [build/fuzz]
#   DS_FUZZ_TARGETS  space-separated subset of targets [all]
#   DS_FUZZ_JOBS     targets run side by side [1]
#
# Seeds come from fuzz/corpus/<target>/ (consumer/fuzz/corpus for
# fuzz_decode) and are never written; new inputs go to
# $DS_FUZZ_OUT/corpus/<target>/. Every input of t/fuzz-regressions/<target>/
# is replayed first. A crash, leak, timeout or failed check leaves its
# reproducer in $DS_FUZZ_OUT/crashes/ and makes the script exit 1.
# Output: one line "PASS <target> ..." or "FAIL <target> ..." per target.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-30}
out=${DS_FUZZ_OUT:-$repo/build/fuzz}
all="fuzz_slug fuzz_limit fuzz_key fuzz_subprotocol fuzz_origin fuzz_json fuzz_token fuzz_auth fuzz_log_scrub fuzz_cmds fuzz_decode fuzz_pgoutput"
targets=${DS_FUZZ_TARGETS:-$all}

case $secs in ''|*[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;; esac

# a target that does not build is reported as FAIL below; the others still run
"$here/build.sh" "$out" || echo "fuzz/build.sh failed: see above" >&2
mkdir -p "$out/crashes" "$out/logs"

seeds_of() {
    case $1 in
        fuzz_decode)   echo "$repo/consumer/fuzz/corpus" ;;
        fuzz_pgoutput) echo "$repo/tools/cdc/fuzz/corpus" ;;
        *)             echo "$here/corpus/$1" ;;
    esac
}

run_one() {   # $1 = target; prints PASS/FAIL, returns 0/1
    local t=$1 bin=$out/$1 work=$out/corpus/$1 log=$out/logs/$1.log seeds reg
    seeds=$(seeds_of "$t")
    reg=$repo/t/fuzz-regressions/$t
    mkdir -p "$work"
    [ -x "$bin" ] || { echo "FAIL $t: not built"; return 1; }

    # known crashers first: each must now run clean
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
        if ! "$bin" -runs=1 "$reg"/* >"$out/logs/$t.regressions.log" 2>&1; then
            echo "FAIL $t: a regression input crashes again (see $out/logs/$t.regressions.log)"
            return 1
        fi
    fi

    # -timeout: one input may take at most 5 s (hang); -rss_limit_mb: no runaway memory
    if timeout -k 10 $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
            -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" \
            "$work" "$seeds" >"$log" 2>&1; then
        echo "PASS $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${secs}s"
        return 0
    fi

    local artifact
    artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
    echo "FAIL $t: $(grep -m1 -E 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer)|check failed|runtime error' "$log")"
    [ -n "$artifact" ] && echo "     reproducer: $artifact  (replay: $bin $artifact; keep it in t/fuzz-regressions/$t/)"
    echo "     log: $log"
    return 1
}

status=0
jobs=${DS_FUZZ_JOBS:-1}
if [ "$jobs" -le 1 ]; then
    for t in $targets; do run_one "$t" || status=1; done
else
    pids=()
    for t in $targets; do
        run_one "$t" > "$out/logs/$t.result" & pids+=($!)
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    done
    wait
    for t in $targets; do
        cat "$out/logs/$t.result"
        grep -q '^PASS' "$out/logs/$t.result" || status=1
    done
fi
exit $status

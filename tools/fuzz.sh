#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/fuzz-*.c) with clang and
# -fsanitize=fuzzer,address,undefined in build-fuzz, then runs each for a time
# budget over its seed corpus (tests/fuzz/corpus/T) and its regression inputs
# (tests/fuzz/regressions/T); new coverage goes to build-fuzz/corpus/T.
# Prints the executions per target; exits non-zero on a crash (the input is
# left in build-fuzz/artifacts/T/: add it to tests/fuzz/regressions/T once
# fixed). Skips (exit 0) with a message when clang or libFuzzer is missing.
#   sh tools/fuzz.sh [--seconds S] [--build-only] [TARGET...]   (S: default 20)
set -eu
cd "$(dirname "$0")/.."
seconds=20
build_only=0
targets=""
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets="$targets $1"; shift ;;
    esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: --seconds needs a whole number" >&2; exit 2 ;; esac

CC=${LLV_FUZZ_CC:-clang}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$probe/p.c"
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz.sh: skipped: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)"
    exit 0
fi
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    echo "fuzz.sh: skipped: $CC cannot link -fsanitize=fuzzer,address,undefined (Debian: libclang-rt-14-dev)"
    exit 0
fi

B=build-fuzz
jobs=${LLV_FUZZ_BUILD_JOBS:-$(nproc)}
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLV_SANITIZE=address,undefined \
    -DLLV_FUZZ=ON -DLLV_BUILD_BENCH=OFF >/dev/null
cmake --build "$B" --target llv-fuzzers -j "$jobs" >"$B/build.log" 2>&1 || { cat "$B/build.log"; exit 1; }
[ "$build_only" = 1 ] && { echo "fuzz.sh: built $(ls "$B"/bin/fuzz-* | tr '\n' ' ')"; exit 0; }

explicit=1
if [ -z "$targets" ]; then
    explicit=0
    for f in tests/fuzz/fuzz-*.c; do t=${f##*/fuzz-}; targets="$targets ${t%.c}"; done
fi
export LLV_SOURCE_DIR="$PWD" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" OPENBLAS_NUM_THREADS=1
total=0
failed=""
for t in $targets; do
    exe=$B/bin/fuzz-$t
    if [ ! -x "$exe" ]; then
        # fuzz-request needs the server sources (tools/server/api.c)
        [ "$explicit" = 1 ] && { echo "fuzz.sh: no target $t" >&2; exit 2; }
        echo "fuzz-$t: not built here (skipped)"
        continue
    fi
    mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "tests/fuzz/regressions/$t"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    rc=0
    # shellcheck disable=SC2086
    "$exe" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -malloc_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/artifacts/$t/" $dict "$B/corpus/$t" "tests/fuzz/corpus/$t" \
        "tests/fuzz/regressions/$t" >"$B/fuzz-$t.log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/fuzz-$t.log" | tail -n 1)
    execs=${execs:-0}
    total=$((total + execs))
    if [ "$rc" -ne 0 ]; then
        echo "fuzz-$t: FAILED (exit $rc) after $execs executions; log: $B/fuzz-$t.log"
        grep -E 'ERROR|SUMMARY|Test unit written|fuzz invariant' "$B/fuzz-$t.log" | head -n 8
        failed="$failed $t"
    else
        printf 'fuzz-%-12s %10s executions in %ss, corpus %s files\n' "$t" "$execs" "$seconds" \
            "$(ls "$B/corpus/$t" | wc -l)"
    fi
done
echo "fuzz.sh: $total executions in total"
[ -z "$failed" ] || { echo "fuzz.sh: crashes in:$failed"; exit 1; }

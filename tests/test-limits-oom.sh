# test-limits-oom.sh - allocation failures are errors, not crashes: llv-run on the
# demo model under an address-space limit (ulimit -v) just above what a small
# context needs must fail cleanly (exit 1 and a message naming the
# allocation, never a signal) when asked for a huge context (-c 131072); and a
# sweep of limits from "cannot even start" to "enough" (with an image) must
# never end in a signal. Skips in sanitizer builds (ASan reserves terabytes of
# address space) and where ulimit -v is not available.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
RUN=$BIN/llv-run
case "${LLV_BUILD_DIR:-}" in *build-asan|*build-asan/) echo "skip: sanitizer build (ulimit -v and ASan do not mix)"; exit 77 ;; esac
[ -x "$RUN" ] || { echo "skip: $RUN not built"; exit 77; }
if ldd "$RUN" 2>/dev/null | grep -q 'lib[at]san'; then echo "skip: llv-run is built with a sanitizer"; exit 77; fi
(ulimit -v 1000000) 2>/dev/null || { echo "skip: ulimit -v not supported here"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1

MODEL=$SRC/models/demo.gguf
IMAGE=$SRC/models/demo.png
if [ ! -f "$MODEL" ]; then
    MODEL=$TMP/demo.gguf
    "$BIN/llv-synth" "$MODEL" --preset demo --quiet >/dev/null 2>&1 || { echo "skip: no demo model"; exit 77; }
fi
if [ ! -f "$IMAGE" ]; then
    IMAGE=$TMP/demo.png
    "$BIN/llv-synth" "$IMAGE" --image >/dev/null 2>&1 || { echo "skip: no demo image"; exit 77; }
fi
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run KB ARGS...: llv-run under `ulimit -v KB`; sets rc
run() {
    kb=$1
    shift
    (ulimit -v "$kb" && exec "$RUN" -m "$MODEL" "$@") >"$TMP/out" 2>"$TMP/err"
    rc=$?
}

# smallest limit (KB, to 1 MiB) at which a small-context run succeeds
lo=1024 hi=4194304
run $hi -p hi -n 2 -c 256 -t 1
[ $rc -eq 0 ] || { echo "skip: llv-run fails even with 4 GiB of address space: $(cat "$TMP/err")"; exit 77; }
while [ $((hi - lo)) -gt 1024 ]; do
    mid=$(((lo + hi) / 2))
    run $mid -p hi -n 2 -c 256 -t 1
    if [ $rc -eq 0 ]; then hi=$mid; else lo=$mid; fi
done
limit=$((hi + 16384)) # + 16 MiB of headroom
echo "a 256-token context needs < $hi KB of address space; testing at $limit KB"

run $limit -p hi -n 2 -c 256 -t 1
[ $rc -eq 0 ] || bad "small context under $limit KB: exit $rc: $(cat "$TMP/err")"
run $limit -p hi -n 2 -c 131072 -t 1
msg=$(cat "$TMP/err")
echo "huge context under $limit KB: exit $rc: $msg"
if [ $rc -eq 2 ]; then
    echo "skip: the model does not allow -c 131072"
    exit 77
fi
[ $rc -ge 1 ] && [ $rc -lt 128 ] || bad "huge context: exit $rc (expected a clean error, not success or a signal)"
echo "$msg" | grep -qiE 'out of memory|cannot allocate|allocat' || bad "huge context: message does not say memory ran out: $msg"
[ -s "$TMP/out" ] && bad "huge context: something was printed to stdout"

# sweep: every failure on the way up must be clean
steps=24
step=$(((limit - lo) / steps + 1))
kb=$((lo / 2))
n=0
while [ $kb -le $limit ]; do
    run $kb -i "$IMAGE" -p "Describe the image." -n 3 -c 1024 -t 2
    if [ $rc -ge 128 ]; then
        bad "under $kb KB: killed by signal $((rc - 128)): $(tail -n 3 "$TMP/err")"
    elif [ $rc -ne 0 ] && [ ! -s "$TMP/err" ]; then
        bad "under $kb KB: exit $rc without a message"
    fi
    n=$((n + 1))
    kb=$((kb + step))
done
echo "sweep: $n limits from $((lo / 2)) KB to $limit KB, no signal"
[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "limits: all clean"

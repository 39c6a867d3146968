# test-valgrind.sh - valgrind memcheck on llv-run with the demo model and an
# image: no errors, no definite or indirect leaks. Uses models/demo.gguf (+
# models/demo.png), else a "demo" model and image written by llv-synth.
# Skips when valgrind is missing and in sanitizer builds (build dir ending in
# build-asan, or an llv-run linked with ASan): the two do not mix.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
RUN=$BIN/llv-run
case "${LLV_BUILD_DIR:-}" in *build-asan|*build-asan/) echo "skip: sanitizer build (valgrind and ASan do not mix)"; exit 77 ;; esac
command -v valgrind >/dev/null 2>&1 || { echo "skip: valgrind not installed (Debian: apt-get install valgrind)"; exit 77; }
[ -x "$RUN" ] || { echo "skip: $RUN not built"; exit 77; }
if ldd "$RUN" 2>/dev/null | grep -q 'lib[at]san'; then echo "skip: llv-run is built with a sanitizer"; exit 77; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

MODEL=$SRC/models/demo.gguf
IMAGE=$SRC/models/demo.png
if [ ! -f "$MODEL" ]; then
    MODEL=$TMP/demo.gguf
    "$BIN/llv-synth" "$MODEL" --preset demo --quiet >/dev/null 2>&1 || { echo "skip: no models/demo.gguf and llv-synth failed"; exit 77; }
fi
if [ ! -f "$IMAGE" ]; then
    IMAGE=$TMP/demo.png
    "$BIN/llv-synth" "$IMAGE" --image >/dev/null 2>&1 || { echo "skip: no models/demo.png and llv-synth failed"; exit 77; }
fi
echo "model: $MODEL, image: $IMAGE"

VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
fails=0
run() {
    name=$1
    shift
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 $VG "$RUN" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -ne 0 ] || grep -q '==[0-9]*==' "$TMP/err"; then
        echo "FAIL: $name (exit $rc)"
        cat "$TMP/err"
        fails=$((fails + 1))
    else
        echo "ok: $name ($(wc -c <"$TMP/out") bytes of output)"
    fi
}
run "image + prompt, streaming" -m "$MODEL" -i "$IMAGE" -p "Describe the image." -n 8 --temperature 0 -t 2
run "two images, --json, sampling" -m "$MODEL" -i "$IMAGE" -i "$IMAGE" -p "Compare them." -n 6 --seed 3 --top-k 5 --json
run "raw prompt, system" -m "$MODEL" --raw -p "<|image|>Hello" -i "$IMAGE" -n 4 -t 1
# error paths free what they allocated too
run_fail() {
    name=$1
    shift
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 $VG "$RUN" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -eq 99 ] || [ $rc -eq 0 ] || grep -q '==[0-9]*==' "$TMP/err"; then
        echo "FAIL: $name (exit $rc, expected a clean error)"
        cat "$TMP/err"
        fails=$((fails + 1))
    else
        echo "ok: $name (exit $rc)"
    fi
}
echo "not an image" >"$TMP/bad.png"
run_fail "bad image" -m "$MODEL" -i "$TMP/bad.png" -p hi -n 2
run_fail "bad temperature" -m "$MODEL" -p hi --temperature 9
[ $fails -eq 0 ] || { echo "$fails valgrind run(s) failed"; exit 1; }
echo "valgrind: all runs clean"

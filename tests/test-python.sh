# test-python.sh - the Python package (python/): its pytest suite against the
# libllv.so of this build (a sanitizer build preloads the sanitizer runtime,
# so bad inputs from Python are checked by ASan too), and, in an optimised
# build, a fresh venv that runs `pip install ./python` (which builds the
# library itself) and the README's Python example on the demo model from
# outside the checkout. The test venv (pytest, Pillow; pinned in
# python/requirements-test.txt) lives in the cache outside the clone.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${LLV_BUILD_DIR:-$SRC/build}
export LLV_BIN_DIR=${LLV_BIN_DIR:-$BUILD/bin}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

BUILD=$(cd "$BUILD" && pwd)
abi=$(sed -n 's/^#define LLV_ABI_VERSION *\([0-9]*\).*/\1/p' "$SRC/include/llv.h")
lib=$BUILD/lib/libllv.so.$abi
[ -f "$lib" ] || fail "no $lib (build the library first)"
py=$(sh "$SRC/tools/venv.sh" python "$SRC/python/requirements-test.txt")
rc=$?
[ $rc -eq 3 ] && { echo "skip: the package index is unreachable (pytest, Pillow)"; exit 77; }
[ $rc -eq 0 ] || fail "tools/venv.sh python"

SAN=$(sed -n 's/^LLV_SANITIZE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
preload=""
case "$SAN" in
*address*) preload=$(${CC:-cc} -print-file-name=libasan.so) ;;
esac
# Python's own allocations are not the library's leaks; the library's are checked by the C tests
PYTHONPATH=$SRC/python LLV_LIBRARY=$lib LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  "$py" -m pytest -q -p no:cacheprovider "$SRC/python/tests" || fail "pytest python/tests ($lib)"

if [ -n "$SAN" ] || [ "${LLV_TEST_QUICK:-0}" = 1 ]; then
  echo "test-python: pytest passed ($lib); the pip install from a fresh venv runs in the full optimised pass"
  exit 0
fi
# A user's path: a fresh venv, pip install ./python (builds libllv with CMake), the README example
/usr/bin/python3 -m venv "$TMP/venv" || fail "python3 -m venv"
start=$(date +%s)
(cd "$TMP" && "$TMP/venv/bin/pip" install -q --disable-pip-version-check "$SRC/python") >"$TMP/pip.log" 2>&1 || {
  grep -qi "connection\|resolve\|network" "$TMP/pip.log" && { echo "skip: the package index is unreachable"; exit 77; }
  cat "$TMP/pip.log"
  fail "pip install ./python"
}
echo "pip install ./python: $(($(date +%s) - start)) s"
awk '/^## Python/{s=1} s&&/^```python$/{c=1;next} c&&/^```$/{exit} c{print}' "$SRC/README.md" >"$TMP/example.py"
grep -q "import llv" "$TMP/example.py" || fail "no \`\`\`python block with 'import llv' under '## Python' in README.md"
(cd "$SRC" && env -u LLV_LIBRARY -u PYTHONPATH "$TMP/venv/bin/python" "$TMP/example.py") >"$TMP/out" 2>"$TMP/err" ||
  { cat "$TMP/err"; fail "the README's Python example"; }
cat "$TMP/out"
[ -s "$TMP/out" ] || fail "the README's Python example printed nothing"
(cd "$TMP" && env -u LLV_LIBRARY "$TMP/venv/bin/python" -c "import llv, sys; sys.exit(0 if llv.__file__.startswith('$TMP') else 1)") ||
  fail "the example did not use the installed package"
(cd "$SRC" && "$TMP/venv/bin/python" -m llv -m models/demo.gguf -p "Hi" -n 4 --temperature 0 >/dev/null) ||
  fail "python -m llv"
(cd "$SRC" && "$TMP/venv/bin/python" -m llv -m models/absent.gguf -p "Hi" >/dev/null 2>&1)
[ $? -eq 3 ] || fail "python -m llv with a missing model must exit 3"
echo "test-python: ok"

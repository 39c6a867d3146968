# test-readme-example.sh - the C example of README.md ("## C API") compiles
# against an installed llv (pkg-config, relocatable .pc) and runs on the demo
# model and image; it must fail when the model or the image is missing.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${LLV_BUILD_DIR:-$SRC/build}
[ -f "$SRC/models/demo.gguf" ] && [ -f "$SRC/models/demo.png" ] || { echo "skip: no models/demo.gguf + demo.png"; exit 77; }
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# the first ```c block after "## C API"
awk '/^## C API/{s=1} s&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' "$SRC/README.md" >"$TMP/example.c"
[ -s "$TMP/example.c" ] || fail "no \`\`\`c block under '## C API' in README.md"
grep -q 'int main' "$TMP/example.c" || fail "the README example has no main()"

cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "cmake --install"; }
# move the installation: the .pc file must be relocatable
mv "$TMP/prefix" "$TMP/moved"
PC=$(dirname "$(find "$TMP/moved" -name llv.pc | head -1)")
[ -n "$PC" ] || fail "llv.pc not installed"
FLAGS=$(PKG_CONFIG_PATH=$PC pkg-config --cflags --libs llv) || fail "pkg-config --cflags --libs llv"
echo "flags: $FLAGS"
# a sanitizer build of the library needs the same runtime in the program
SAN=$(sed -n 's/^LLV_SANITIZE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
[ -n "$SAN" ] && FLAGS="-fsanitize=$SAN $FLAGS"
$CC -std=c11 -Wall -Wextra -Werror -o "$TMP/example" "$TMP/example.c" $FLAGS || fail "the README example does not compile"

"$TMP/example" "$SRC/models/demo.gguf" "$SRC/models/demo.png" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; fail "the example failed on the demo model"; }
cat "$TMP/out"
[ -s "$TMP/out" ] || fail "the example printed nothing"
"$TMP/example" "$TMP/missing.gguf" "$SRC/models/demo.png" >/dev/null 2>&1 && fail "exit 0 with a missing model"
"$TMP/example" "$SRC/models/demo.gguf" "$TMP/missing.png" >/dev/null 2>&1 && fail "exit 0 with a missing image"
"$TMP/example" >/dev/null 2>&1 && fail "exit 0 without arguments"

# the tools library links from the installation too: write a synthetic model
# with llv_synth (llv-tools.h) and load it with the runtime (llv.h)
cat >"$TMP/tools.c" <<'C'
#include <llv-tools.h>
#include <stdio.h>
int main(int argc, char **argv) {
    llv_error err = {0};
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "tiny";
    llv_model *m = NULL;
    if (argc < 2 || llv_synth(argv[1], &sp, &err) || llv_model_load(argv[1], NULL, &m, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    llv_model_free(m);
    puts("synth + load: ok");
    return 0;
}
C
TFLAGS=$(PKG_CONFIG_PATH=$PC pkg-config --cflags --libs llv-tools) || fail "pkg-config --cflags --libs llv-tools"
[ -n "$SAN" ] && TFLAGS="-fsanitize=$SAN $TFLAGS"
$CC -std=c11 -Wall -Wextra -Werror -o "$TMP/tools" "$TMP/tools.c" $TFLAGS || fail "a program on llv-tools.h does not link"
"$TMP/tools" "$TMP/tiny.gguf" || fail "llv_synth + llv_model_load through the installed tools library"
echo "README example: ok"

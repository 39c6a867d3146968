# test-exports.sh - the libraries export what their headers say, and libllv is
# the runtime only: every function libllv.so exports is declared LLV_API in
# include/llv.h and every one declared there is exported; none of the tools
# library's functions (include/llv-tools.h: convert, quantize, synth, LoRA
# conversion and merging) is declared in llv.h or defined in libllv; and
# libllv-tools.a defines every function llv-tools.h declares. Also the soname
# carries LLV_ABI_VERSION.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${LLV_BUILD_DIR:-$SRC/build}
SO=$BUILD/lib/libllv.so
TOOLS_A=$BUILD/lib/libllv-tools.a
command -v nm >/dev/null || { echo "SKIP: nm (binutils) not installed"; exit 77; }
[ -f "$SO" ] && [ -f "$TOOLS_A" ] || { echo "FAIL: $SO or $TOOLS_A not built"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# names of the non-inline functions a header declares with LLV_API
declared() {
    grep -v '^#' "$1" | tr '\n' ' ' | grep -o 'LLV_API [^;{()]*(' |
        sed 's/($//; s/.*[ *]\([a-z_0-9]*\)$/\1/' | sort -u
}
declared "$SRC/include/llv.h" >"$TMP/rt.h"
declared "$SRC/include/llv-tools.h" >"$TMP/tools.h"
nm -D --defined-only "$SO" | awk '$2 == "T" || $2 == "D" || $2 == "R" || $2 == "B" { print $3 }' |
    sort -u >"$TMP/rt.so"
nm --defined-only "$TOOLS_A" 2>/dev/null | awk '$2 == "T" { print $3 }' | sort -u >"$TMP/tools.a"

[ "$(wc -l <"$TMP/rt.h")" -ge 40 ] && ok || bad "found only $(wc -l <"$TMP/rt.h") LLV_API functions in llv.h"
[ "$(wc -l <"$TMP/tools.h")" -ge 8 ] && ok || bad "found only $(wc -l <"$TMP/tools.h") functions in llv-tools.h"

extra=$(comm -13 "$TMP/rt.h" "$TMP/rt.so")
[ -z "$extra" ] && ok || bad "libllv.so exports symbols llv.h does not declare: $(echo $extra)"
missing=$(comm -23 "$TMP/rt.h" "$TMP/rt.so")
[ -z "$missing" ] && ok || bad "llv.h declares functions libllv.so does not export: $(echo $missing)"
both=$(comm -12 "$TMP/rt.h" "$TMP/tools.h")
[ -z "$both" ] && ok || bad "declared in both llv.h and llv-tools.h: $(echo $both)"
in_rt=$(nm --defined-only "$SO" | awk '{ print $3 }' | sort -u | comm -12 - "$TMP/tools.h")
[ -z "$in_rt" ] && ok || bad "libllv.so contains tools-library functions: $(echo $in_rt)"
tmissing=$(comm -23 "$TMP/tools.h" "$TMP/tools.a")
[ -z "$tmissing" ] && ok || bad "llv-tools.h declares functions libllv-tools.a does not define: $(echo $tmissing)"
for f in llv_convert llv_quantize llv_synth llv_convert_lora llv_lora_merge; do
    grep -qx "$f" "$TMP/tools.h" && ok || bad "$f is not declared in llv-tools.h"
done

abi=$(sed -n 's/^#define LLV_ABI_VERSION *\([0-9]*\).*/\1/p' "$SRC/include/llv.h")
soname=$(objdump -p "$SO" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libllv.so.$abi" ] && ok || bad "soname '$soname', expected libllv.so.$abi"

echo "test-exports: $passes passed, $fails failed ($(wc -l <"$TMP/rt.so") symbols exported by libllv.so)"
[ "$fails" -eq 0 ]

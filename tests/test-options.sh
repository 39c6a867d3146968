# test-options.sh - every tool's options against README.md, both ways. The
# option names come from the binaries (the hidden --list-options, printed
# from the same table as --help and the parser). For each tool, the README
# table after "<!-- options: TOOL -->" must name exactly its options; and
# every --long-option anywhere in the README must be an option of some llv
# tool or one of the few other programs' options listed below. Also: --help
# lists the same options, --version works, a usage error exits with the
# tool's documented status and says how to get help.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
README=$SRC/README.md
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# tool and its usage-error exit status (as its --help and the README say)
TOOLS="llv-run:2 llv-server:2 llv-tokenize:1 llv-convert:2 llv-quantize:2 llv-synth:2 llv-bench:1"
# other programs' options the README may name
OTHERS="--build --install --prefix --target --config --cflags --libs"

built=0
: >"$TMP/all"
for tv in $TOOLS; do
    tool=${tv%%:*} code=${tv#*:}
    if [ ! -x "$BIN/$tool" ]; then
        echo "note: $tool not built: its options are not checked"
        continue
    fi
    built=$((built + 1))
    "$BIN/$tool" --list-options >"$TMP/$tool.list" 2>"$TMP/err"
    if [ $? -ne 0 ] || [ ! -s "$TMP/$tool.list" ]; then
        bad "$tool --list-options failed: $(cat "$TMP/err")"
        continue
    fi
    tr ' ' '\n' <"$TMP/$tool.list" | grep . | sort -u >"$TMP/$tool.names"
    cat "$TMP/$tool.names" >>"$TMP/all"
    # --help: generated from the same table, so it lists the same spellings
    "$BIN/$tool" --help >"$TMP/help" 2>"$TMP/err"
    if [ $? -eq 0 ] && [ -s "$TMP/help" ] && [ ! -s "$TMP/err" ]; then ok; else bad "$tool --help: exit 0, text on stdout only"; fi
    grep -oE '^  (-[a-zA-Z], |    )--?[a-zA-Z][a-zA-Z0-9-]*|^  -[a-zA-Z]( |$)' "$TMP/help" | tr -d ',' | tr ' ' '\n' | grep . |
        sort -u >"$TMP/help.names"
    if cmp -s "$TMP/help.names" "$TMP/$tool.names"; then ok; else
        bad "$tool: --help and --list-options differ: $(diff "$TMP/help.names" "$TMP/$tool.names" | grep '^[<>]' | tr '\n' ' ')"
    fi
    out=$("$BIN/$tool" --version 2>&1)
    if [ $? -eq 0 ] && echo "$out" | grep -qE "^$tool [0-9]+\.[0-9]+\.[0-9]+$"; then ok; else bad "$tool --version: '$out'"; fi
    # a usage error: the documented status, a message and the way to help, on stderr only
    "$BIN/$tool" --no-such-option >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -eq "$code" ] && [ ! -s "$TMP/out" ] && grep -q "^$tool: unknown option '--no-such-option'" "$TMP/err" &&
        grep -q "Try '$tool --help'" "$TMP/err"; then ok; else
        bad "$tool --no-such-option: exit $rc (expected $code), stderr '$(cat "$TMP/err")'"
    fi

    # the README's table for the tool: the options in the first column of each row
    awk -v tool="$tool" '
        $0 == "<!-- options: " tool " -->" { on = 1; next }
        on && /^\|/ { rows++; if (rows > 2) { split($0, c, "|"); print c[2] } next }
        on { exit }' "$README" >"$TMP/$tool.rows"
    if [ ! -s "$TMP/$tool.rows" ]; then
        bad "README.md has no options table for $tool (a line '<!-- options: $tool -->' before it)"
        continue
    fi
    grep -oE -- '(^|[^a-zA-Z0-9-])--?[a-zA-Z][a-zA-Z0-9-]*' "$TMP/$tool.rows" | grep -oE -- '--?[a-zA-Z][a-zA-Z0-9-]*' |
        sort -u >"$TMP/$tool.readme"
    for o in $(comm -23 "$TMP/$tool.names" "$TMP/$tool.readme"); do bad "$tool option $o is not in its README table"; done
    for o in $(comm -13 "$TMP/$tool.names" "$TMP/$tool.readme"); do bad "README's $tool table names $o, which $tool does not have"; done
    [ -z "$(comm -3 "$TMP/$tool.names" "$TMP/$tool.readme")" ] && ok
done
[ $built -gt 0 ] || { echo "skip: no tool built in $BIN"; exit 77; }

# every --long-option the README names anywhere exists in some tool (or another program)
if [ $built -eq $(echo $TOOLS | wc -w) ]; then
    { sort -u "$TMP/all"; echo "--list-options"; for o in $OTHERS; do echo "$o"; done; } | sort -u >"$TMP/known"
    grep -oE -- '(^|[^a-zA-Z0-9_/-])--[a-zA-Z][a-zA-Z0-9-]*' "$README" | grep -oE -- '--[a-zA-Z][a-zA-Z0-9-]*' |
        sort -u >"$TMP/named"
    unknown=$(comm -23 "$TMP/named" "$TMP/known")
    for o in $unknown; do bad "README.md names $o, an option no llv tool has ($(grep -n -- "$o" "$README" | head -1 | cut -c1-80))"; done
    [ -z "$unknown" ] && ok
else
    echo "note: not every tool is built: the README's free text is not checked"
fi

echo "test-options: $passes passed, $fails failed"
[ $fails -eq 0 ]

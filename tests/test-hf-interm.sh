# test-hf-interm.sh - a vision intermediate_layers_indices entry equal to
# num_hidden_layers (HF's last hidden state) converts, loads and matches
# Hugging Face's logits (tests/demo/check-interm.py). Needs the demo Python
# environment (sh tools/demo/setup.sh): skips (77) with a message where it is
# absent. LLV_DEMO_PYTHON overrides.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
PY=${LLV_DEMO_PYTHON:-${LLV_CACHE_DIR:-${HOME:-/root}/.cache/llv}/venv-demo/bin/python}
for x in llv-convert llv-synth demo-answer; do
    [ -x "$BIN/$x" ] || { echo "skip: $BIN/$x not built"; exit 77; }
done
[ -x "$PY" ] || { echo "skip: no demo Python environment at $PY (sh tools/demo/setup.sh)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
# one past the last state: llv-synth and llv-convert both refuse it, naming the key
if "$BIN/llv-synth" "$TMP/bad" --preset demo --hf-dir --vision-interm 0,3 --quiet 2>"$TMP/err" ||
    ! grep -q "intermediate_layers_indices\[1\] = 3 outside \[0, 2\]" "$TMP/err"; then
    echo "FAIL: llv-synth --vision-interm 0,3: $(cat "$TMP/err")"; fails=$((fails + 1))
fi
"$BIN/llv-synth" "$TMP/hf" --preset demo --hf-dir --vision-interm 0,2 --quiet || fails=$((fails + 1))
sed 's/"intermediate_layers_indices":\([^]]*\)2]/"intermediate_layers_indices":\13]/' "$TMP/hf/config.json" \
    >"$TMP/cfg" && mv "$TMP/cfg" "$TMP/hf/config.json"
if "$BIN/llv-convert" "$TMP/hf" "$TMP/bad.gguf" --quiet 2>"$TMP/err" ||
    ! grep -q "vision_config: intermediate_layers_indices\[1\] = 3 outside \[0, 2\]" "$TMP/err"; then
    echo "FAIL: llv-convert of intermediate_layers_indices [0, 3]: $(cat "$TMP/err")"; fails=$((fails + 1))
fi
mkdir "$TMP/w"
"$PY" "$SRC/tests/demo/check-interm.py" "$BIN" "$TMP/w" 2>&1 | grep -v "rope_scaling"
[ "${PIPESTATUS[0]}" = 0 ] || fails=$((fails + 1))
[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"

# test-demo.sh - the demo model's Python side against llv (tools/demo):
#  - streamed and --json output is valid UTF-8 equal to Hugging Face's decode
#    (tests/demo/check-utf8.py, on a random model);
#  - with a trained demo committed (models/demo-hf + models/demo.gguf): the
#    Quick start answers its question about models/demo.png correctly (greedy
#    and sampled), and tools/demo/eval.py on 30 fresh pictures (seed 3) has
#    accuracy >= 0.9 and llv's greedy tokens equal Hugging Face transformers'
#    on every answer (the exact F32 path);
#  - without one: tools/demo/train.py trains a 40-step model, and eval.py on
#    10 pictures proves llv's greedy tokens equal Hugging Face's on it, so the
#    training and evaluation pipeline stays working.
# Needs the demo Python environment (sh tools/demo/setup.sh; tools/test.sh runs
# it): skips (77) with a message where it is absent. LLV_DEMO_PYTHON overrides.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
PY=${LLV_DEMO_PYTHON:-${LLV_CACHE_DIR:-${HOME:-/root}/.cache/llv}/venv-demo/bin/python}
for x in llv-run llv-convert llv-synth demo-answer; do
    [ -x "$BIN/$x" ] || { echo "skip: $BIN/$x not built"; exit 77; }
done
[ -x "$PY" ] || { echo "skip: no demo Python environment at $PY (sh tools/demo/setup.sh)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# --- valid UTF-8 in streamed and --json output, equal to HF's decode
if "$PY" "$SRC/tests/demo/check-utf8.py" "$BIN" "$TMP"; then ok; else bad "tests/demo/check-utf8.py"; fi

if [ -f "$SRC/models/demo-hf/config.json" ]; then
    echo "trained demo: models/demo-hf"
    size=$(wc -c <"$SRC/models/demo.gguf")
    if [ "$size" -le 8000000 ]; then ok; else bad "models/demo.gguf is $size bytes (at most 8 MB)"; fi
    want=$(sed -n 's/^Answer to the Quick start question: "\(.*\)"$/\1/p' "$SRC/models/README.md")
    [ -n "$want" ] || bad "models/README.md does not state the Quick start answer"
    got=$("$BIN/llv-run" -m "$SRC/models/demo.gguf" -i "$SRC/models/demo.png" -p "What is in this image?" --temperature 0)
    if [ "$got" = "$want" ]; then ok; else bad "greedy Quick start answer '$got', expected '$want'"; fi
    for seed in 1 2 3 4 5; do
        got=$("$BIN/llv-run" -m "$SRC/models/demo.gguf" -i "$SRC/models/demo.png" -p "What is in this image?" --seed $seed)
        if [ "$got" = "$want" ]; then ok; else bad "sampled (seed $seed) Quick start answer '$got', expected '$want'"; fi
    done
    if "$PY" "$SRC/tools/demo/eval.py" -n 30 --seed 3 --min-accuracy 0.9 --min-agreement 1 --llv-bin "$BIN" --verbose; then
        ok
    else
        bad "tools/demo/eval.py -n 30 --seed 3"
    fi
else
    echo "no trained demo committed (models/demo-hf): checking the pipeline on a 40-step model"
    if "$PY" "$SRC/tools/demo/train.py" --steps 40 --out-dir "$TMP/hf" --gguf "$TMP/demo.gguf" --png "$TMP/demo.png" \
        --llv-bin "$BIN" >"$TMP/train.log" 2>&1; then
        ok
    else
        tail -20 "$TMP/train.log"
        bad "tools/demo/train.py --steps 40"
    fi
    if [ -f "$TMP/demo.gguf" ] && "$PY" "$SRC/tools/demo/eval.py" -n 10 --seed 3 --model "$TMP/demo.gguf" \
        --hf-dir "$TMP/hf" --min-agreement 1 --llv-bin "$BIN"; then
        ok
    else
        bad "tools/demo/eval.py on the 40-step model: llv's greedy tokens differ from Hugging Face's"
    fi
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]

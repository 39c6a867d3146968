# test-demo.sh - the trained demo model end to end:
#  - models/demo.gguf fits in 8 MB (test-convert proves it is llv-convert's
#    output of the committed HF checkpoint models/demo-hf, byte for byte);
#  - the Quick start answers its question about models/demo.png correctly;
#  - tools/demo/eval.py on 30 fresh pictures (seed 3): accuracy >= 0.9 against
#    the generator's truth, and llv's greedy tokens equal Hugging Face
#    transformers' on every answer (the exact F32 path);
#  - streamed and --json output is valid UTF-8 equal to HF's decode
#    (tests/demo/check-utf8.py, on a random model).
# Needs the demo Python environment (sh tools/demo/setup.sh; tools/test.sh runs
# it): skips (77) with a message where it is absent. LLV_DEMO_PYTHON overrides.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
PY=${LLV_DEMO_PYTHON:-${LLV_CACHE_DIR:-${HOME:-/root}/.cache/llv}/venv-demo/bin/python}
for x in llv-run llv-convert llv-synth demo-answer; do
    [ -x "$BIN/$x" ] || { echo "skip: $BIN/$x not built"; exit 77; }
done
[ -f "$SRC/models/demo-hf/config.json" ] || { echo "skip: no models/demo-hf"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

size=$(wc -c <"$SRC/models/demo.gguf")
if [ "$size" -le 8000000 ]; then ok; else bad "models/demo.gguf is $size bytes (at most 8 MB)"; fi

# --- the Quick start question, greedy and with the model's sampling defaults
want=$(sed -n 's/^Answer to the Quick start question: "\(.*\)"$/\1/p' "$SRC/models/README.md")
[ -n "$want" ] || bad "models/README.md does not state the Quick start answer"
got=$("$BIN/llv-run" -m "$SRC/models/demo.gguf" -i "$SRC/models/demo.png" -p "What is in this image?" --temperature 0)
if [ "$got" = "$want" ]; then ok; else bad "greedy Quick start answer '$got', expected '$want'"; fi
for seed in 1 2 3 4 5; do
    got=$("$BIN/llv-run" -m "$SRC/models/demo.gguf" -i "$SRC/models/demo.png" -p "What is in this image?" --seed $seed)
    if [ "$got" = "$want" ]; then ok; else bad "sampled (seed $seed) Quick start answer '$got', expected '$want'"; fi
done
# no image: the cross-attention layers are skipped, and the model says so
got=$("$BIN/llv-run" -m "$SRC/models/demo.gguf" -p "What is in this image?" --temperature 0)
if [ "$got" = "I do not see a picture. Please attach one and ask again." ]; then ok; else bad "text-only answer '$got'"; fi

if [ ! -x "$PY" ]; then
    echo "skip: no demo Python environment at $PY (sh tools/demo/setup.sh): only the C checks ran ($passes passed, $fails failed)"
    [ "$fails" -eq 0 ] || exit 1
    exit 77
fi

# --- accuracy and agreement with Hugging Face on fresh pictures
if "$PY" "$SRC/tools/demo/eval.py" -n 30 --seed 3 --min-accuracy 0.9 --min-agreement 1 --llv-bin "$BIN" --verbose; then
    ok
else
    bad "tools/demo/eval.py -n 30 --seed 3"
fi

# --- valid UTF-8 in streamed and --json output, equal to HF's decode
if "$PY" "$SRC/tests/demo/check-utf8.py" "$BIN" "$TMP"; then ok; else bad "tests/demo/check-utf8.py"; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]

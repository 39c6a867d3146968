# test-cli.sh - llv-run end to end: --help vs README, exit codes, --json vs
# plain output, seeds, -n, -f, --raw, --system, --chat, --verbose.
# Runs on models/demo.gguf (+ models/demo.png), else on a model made by llv-synth.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
RUN=$BIN/llv-run
[ -x "$RUN" ] || { echo "skip: $RUN not built"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$1"; then ok; else bad "$2"; fi; }

MODEL=$SRC/models/demo.gguf
if [ ! -f "$MODEL" ]; then
    if [ -x "$BIN/llv-synth" ] && "$BIN/llv-synth" "$TMP/tiny.gguf" --preset tiny --quiet >/dev/null 2>&1; then
        MODEL=$TMP/tiny.gguf
    else
        echo "skip: no models/demo.gguf and no llv-synth"
        exit 77
    fi
fi
IMAGE=$SRC/models/demo.png
if [ ! -f "$IMAGE" ]; then
    IMAGE=$TMP/img.ppm
    { printf 'P6\n16 12\n255\n'; for i in $(seq 0 575); do printf "\\$(printf %03o $(((i * 37 + i / 5) % 256)))"; done; } >"$IMAGE"
fi
echo "model: $MODEL, image: $IMAGE"

# --- help and README ------------------------------------------------------
"$RUN" --help >"$TMP/help" 2>"$TMP/err"
check '[ $? -eq 0 ]' "--help exits 0"
check '[ -s "$TMP/help" ]' "--help prints the help to stdout"
opts=$(grep -oE '^ +(-[a-z], )?--[a-z][a-z-]*' "$TMP/help" | grep -oE -- '--?[a-z][a-z-]*' | sort -u)
check '[ $(echo "$opts" | wc -l) -ge 20 ]' "--help lists the options ($(echo $opts))"
for o in $opts; do
    grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" "$SRC/README.md" || bad "option $o of --help is not in README.md"
done
ok

# --- exit codes -------------------------------------------------------------
"$RUN" --no-such-option -m "$MODEL" -p hi >"$TMP/out" 2>"$TMP/err"; usage=$?
"$RUN" -m "$TMP/missing.gguf" -p hi >"$TMP/out" 2>"$TMP/err"; nomodel=$?
check '[ -s "$TMP/err" ] && [ ! -s "$TMP/out" ]' "missing model: message on stderr only"
echo "not a gguf file" >"$TMP/bad.gguf"
"$RUN" -m "$TMP/bad.gguf" -p hi >"$TMP/out" 2>"$TMP/err"; badmodel=$?
"$RUN" -m "$MODEL" -i "$TMP/missing.png" -p hi >"$TMP/out" 2>"$TMP/err"; noimage=$?
check '[ -s "$TMP/err" ]' "missing image: message on stderr"
echo "not an image" >"$TMP/bad.png"
"$RUN" -m "$MODEL" -i "$TMP/bad.png" -p hi >"$TMP/out" 2>"$TMP/err"; badimage=$?
"$RUN" -m "$MODEL" >"$TMP/out" 2>"$TMP/err"; noprompt=$?
"$RUN" -m "$MODEL" -p hi -n abc >"$TMP/out" 2>"$TMP/err"; badnum=$?
"$RUN" -m "$MODEL" -p hi --temperature 9 >"$TMP/out" 2>"$TMP/err"; badtemp=$?
check 'grep -q temperature "$TMP/err"' "bad --temperature names the field"
echo "exit codes: usage=$usage model=$nomodel/$badmodel image=$noimage/$badimage"
check '[ $usage -ge 1 ] && [ $usage -le 127 ]' "usage error code in 1..127 ($usage)"
check '[ $nomodel -ge 1 ] && [ $nomodel -le 127 ] && [ $nomodel -ne $usage ]' "model error code distinct ($nomodel)"
check '[ $badmodel -eq $nomodel ]' "bad model file gives the model code ($badmodel)"
check '[ $noimage -ge 1 ] && [ $noimage -le 127 ] && [ $noimage -ne $usage ] && [ $noimage -ne $nomodel ]' \
    "image error code distinct ($noimage)"
check '[ $badimage -eq $noimage ]' "bad image file gives the image code ($badimage)"
check '[ $noprompt -eq $usage ] && [ $badnum -eq $usage ] && [ $badtemp -eq $usage ]' \
    "missing prompt / bad numbers are usage errors ($noprompt $badnum $badtemp)"

# --- generation ---------------------------------------------------------------
R() { "$RUN" -m "$MODEL" -t 1 "$@" 2>"$TMP/stderr"; }
R -i "$IMAGE" -p "Describe the image." -n 12 --temperature 1 --seed 42 >"$TMP/plain"
check '[ $? -eq 0 ]' "plain run exits 0 ($(cat "$TMP/stderr"))"
R -i "$IMAGE" -p "Describe the image." -n 12 --temperature 1 --seed 42 --json >"$TMP/json"
check '[ $? -eq 0 ]' "--json run exits 0"
check '[ $(jq -s length "$TMP/json") -eq 1 ]' "--json prints exactly one JSON object"
check 'python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[\"response\"]; sys.exit(0 if open(sys.argv[2],encoding=\"utf-8\",newline=\"\").read()==r+\"\n\" else 1)" "$TMP/json" "$TMP/plain"' \
    "--json response equals the plain output"
check 'jq -e "(.usage.prompt_tokens|type==\"number\" and .==floor and .>0) and (.usage.completion_tokens|.==floor and .>=1 and .<=12)" "$TMP/json" >/dev/null' \
    "usage tokens are integers, completion_tokens <= -n"
check 'jq -e "(has(\"tool_calls\")|not) or (.tool_calls|type==\"array\")" "$TMP/json" >/dev/null' "tool_calls is a list when present"
R -n 5 -p "Count to one hundred." --temperature 1 --seed 3 --json >"$TMP/j5"
check 'jq -e ".usage.completion_tokens <= 5" "$TMP/j5" >/dev/null' "-n 5 limits completion_tokens"

R -i "$IMAGE" -p "Describe the image." -n 12 --temperature 1 --seed 42 >"$TMP/plain2"
check 'cmp -s "$TMP/plain" "$TMP/plain2"' "same seed twice gives the same output"
differ=0
for seed in 1 2 3 4 5 6; do
    R -p "Write a long story." -n 24 --temperature 1 --seed $seed >"$TMP/s$seed"
    [ $seed -gt 1 ] && ! cmp -s "$TMP/s1" "$TMP/s$seed" && differ=1
done
check '[ $differ -eq 1 ]' "different seeds give different outputs at temperature 1"
R -p "Write a long story." -n 16 --temperature 0 --seed 1 >"$TMP/g1"
R -p "Write a long story." -n 16 --temperature 0 --seed 999 >"$TMP/g2"
check 'cmp -s "$TMP/g1" "$TMP/g2"' "--temperature 0 does not depend on the seed"
"$RUN" -m "$MODEL" -t 2 -p "Write a long story." -n 16 --temperature 0 >"$TMP/g3" 2>/dev/null
check 'cmp -s "$TMP/g1" "$TMP/g3"' "the output does not depend on --threads"

# -f FILE and -f - give what -p gives
printf 'Write a long story.\n' >"$TMP/prompt.txt"
R -f "$TMP/prompt.txt" -n 16 --temperature 0 >"$TMP/f1"
check 'cmp -s "$TMP/g1" "$TMP/f1"' "-f FILE equals -p"
printf 'Write a long story.' | R -f - -n 16 --temperature 0 >"$TMP/f2"
check 'cmp -s "$TMP/g1" "$TMP/f2"' "-f - reads stdin"
R -f "$TMP/none.txt" -n 4 >/dev/null; check '[ $? -eq $usage ]' "missing -f file is a usage error"

# other options run
R -p "<|image|>Describe" -i "$IMAGE" --raw -n 4 --temperature 0 >"$TMP/raw"; check '[ $? -eq 0 ]' "--raw runs"
R -p "Hi" -s "You are terse." -n 4 --temperature 0 >/dev/null; check '[ $? -eq 0 ]' "--system runs"
R -p "Hi" -s "You are terse." -i "$IMAGE" -n 4 --temperature 0 >/dev/null; check '[ $? -eq 0 ]' "--system with an image runs"
R -p "Hi" -n 4 --top-p 0.9 --top-k 20 --repetition-penalty 1.2 --frequency-penalty 0.5 --presence-penalty 0.5 \
    --temperature 0.7 --seed 7 -c 512 >/dev/null
check '[ $? -eq 0 ]' "sampling options run"
R -p "Hi" -n 4 --verbose >/dev/null; check 'grep -qi "isa" "$TMP/stderr" && grep -qi "decode" "$TMP/stderr"' "--verbose prints ISA and timings"
R -p "Hi" -c 8 -n 4 >/dev/null; check '[ $? -eq 1 ]' "a prompt longer than --ctx is a runtime error"

# --chat: two turns on stdin, an image attached to the first
printf '/image %s\nDescribe the image.\nDescribe the image.\n/quit\n' "$IMAGE" | R --chat -n 6 --temperature 0 --json >"$TMP/chat"
check '[ $? -eq 0 ]' "--chat exits 0"
check '[ $(jq -s length "$TMP/chat") -eq 2 ]' "--chat answers two turns"
# the same question again: only the new turn is prefilled (no BOS, no image token)
check 'jq -s -e ".[1].usage.prompt_tokens < .[0].usage.prompt_tokens" "$TMP/chat" >/dev/null' "--chat reuses the first turn"

# memory plan and the fit check (LLV_MEM_AVAILABLE plays a small machine)
"$RUN" -m "$MODEL" --dry-run >"$TMP/plan" 2>"$TMP/err"
check '[ $? -eq 0 ] && grep -q "^  weights" "$TMP/plan" && grep -q "KV cache" "$TMP/plan" && grep -q "fits" "$TMP/plan"' \
    "--dry-run prints the plan and exits 0"
LLV_MEM_AVAILABLE=1000 "$RUN" -m "$MODEL" --dry-run >"$TMP/plan" 2>"$TMP/err"
check '[ $? -eq 1 ] && grep -q "does NOT fit" "$TMP/plan"' "--dry-run on a machine too small exits 1"
LLV_MEM_AVAILABLE=1000 "$RUN" -m "$MODEL" -p hi -n 2 >"$TMP/out" 2>"$TMP/err"
check '[ $? -eq 3 ] && grep -q "memory available" "$TMP/err" && grep -q -- "--no-memory-check" "$TMP/err"' \
    "weights that do not fit: exit 3 with a message"
weights=$("$RUN" -m "$MODEL" --dry-run | awk '/^  weights/ {print $2 * ($3 == "GiB" ? 1024 : 1)}')
LLV_MEM_AVAILABLE=$(awk -v w="$weights" 'BEGIN {printf "%d", (w + 0.5) * 1048576}') "$RUN" -m "$MODEL" -p hi -n 2 -c 4096 \
    >"$TMP/out" 2>"$TMP/err"
check '[ $? -eq 1 ] && grep -q "a session of 4096 tokens needs" "$TMP/err"' "a session that does not fit: a message"
LLV_MEM_AVAILABLE=1000 "$RUN" -m "$MODEL" -p hi -n 2 --no-memory-check >"$TMP/out" 2>"$TMP/err"
check '[ $? -eq 0 ]' "--no-memory-check runs anyway"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]

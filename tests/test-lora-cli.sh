# test-lora-cli.sh - LoRA through the tools: llv-synth --lora-for, llv-convert
# --lora / --merge-lora, llv-run --lora/--use-lora (greedy output with the
# adapter = output of the merged model; scale 0 = base; exit codes), and
# llv-server --lora with the request's "lora" field (200 / 400).
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
for t in llv-run llv-synth llv-convert; do
    [ -x "$BIN/$t" ] || { echo "skip: $BIN/$t not built"; exit 77; }
done
TMP=$(mktemp -d)
SRV_PID=
cleanup() { [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$1"; then ok; else bad "$2"; fi; }

"$BIN/llv-synth" "$TMP/tiny.gguf" --preset tiny --quiet || { bad "llv-synth tiny"; exit 1; }
"$BIN/llv-synth" "$TMP/peft" --lora-for tiny --rank 4 --seed 9 >/dev/null 2>&1
check '[ -f "$TMP/peft/adapter_config.json" ] && [ -f "$TMP/peft/adapter_model.safetensors" ]' "llv-synth --lora-for writes a PEFT directory"
"$BIN/llv-convert" --lora "$TMP/peft" "$TMP/ad.gguf" --quiet
check '[ $? -eq 0 ] && [ -s "$TMP/ad.gguf" ]' "llv-convert --lora"
"$BIN/llv-convert" "$TMP/tiny.gguf" "$TMP/merged.gguf" --merge-lora "$TMP/ad.gguf" --lora-scale 0.5 --quiet
check '[ $? -eq 0 ] && [ -s "$TMP/merged.gguf" ]' "llv-convert --merge-lora"
"$BIN/llv-convert" --lora "$TMP/peft" "$TMP/x.gguf" --merge-lora "$TMP/ad.gguf" >/dev/null 2>&1
check '[ $? -eq 2 ]' "--lora with --merge-lora is a usage error"

run() { "$BIN/llv-run" -m "$@" -p "Tell me about the sky" --temperature 0 -n 12 --json -t 2 2>"$TMP/err"; }
base=$(run "$TMP/tiny.gguf")
with=$(run "$TMP/tiny.gguf" --lora a="$TMP/ad.gguf:0.5")
merged=$(run "$TMP/merged.gguf")
zero=$(run "$TMP/tiny.gguf" --lora a="$TMP/ad.gguf:0")
picked=$(run "$TMP/tiny.gguf" --lora b="$TMP/ad.gguf" --lora a="$TMP/ad.gguf:0.5" --use-lora a)
check '[ -n "$base" ] && [ "$with" = "$merged" ]' "greedy output with the adapter = merged model ($with vs $merged)"
check '[ "$with" != "$base" ]' "the adapter changes the output"
check '[ "$zero" = "$base" ]' "scale 0 = base model"
check '[ "$picked" = "$with" ]' "--use-lora picks among several"
run "$TMP/tiny.gguf" --lora a="$TMP/ad.gguf" --lora b="$TMP/ad.gguf" >/dev/null
check '[ $? -eq 2 ] && grep -q -- --use-lora "$TMP/err"' "several adapters without --use-lora: usage error"
run "$TMP/tiny.gguf" --lora a="$TMP/ad.gguf" --use-lora nope >/dev/null
check '[ $? -eq 2 ] && grep -q nope "$TMP/err"' "unknown --use-lora: usage error naming it"
run "$TMP/tiny.gguf" --lora a="$TMP/tiny.gguf" >/dev/null
check '[ $? -eq 3 ] && grep -q adapter "$TMP/err"' "a model file as adapter: exit 3"
run "$TMP/tiny.gguf" --lora "$TMP/ad.gguf" >/dev/null
check '[ $? -eq 2 ]' "--lora without NAME=: usage error"
"$BIN/llv-run" --help | grep -q -- "--lora NAME=PATH"
check '[ $? -eq 0 ]' "--help documents --lora"

# server: the request's lora field
if [ -x "$BIN/llv-server" ] && command -v curl >/dev/null 2>&1; then
    "$BIN/llv-server" -m "$TMP/tiny.gguf" --port 0 --threads 2 --lora a="$TMP/ad.gguf:0.5" 2>"$TMP/srv.log" &
    SRV_PID=$!
    port=
    for i in $(seq 1 100); do
        port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$TMP/srv.log" | head -1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -n "$port" ]; then
        url="http://127.0.0.1:$port/ai/run/@cf/meta/llama-3.2-11b-vision-instruct"
        req() { curl -s -o "$TMP/resp" -w '%{http_code}' -X POST "$url" -d "{\"prompt\":\"Tell me about the sky\",\"max_tokens\":8,\"temperature\":0$1}"; }
        c0=$(req ''); r0=$(cat "$TMP/resp")
        c1=$(req ',"lora":"a"'); r1=$(cat "$TMP/resp")
        c2=$(req ',"lora":"missing"'); r2=$(cat "$TMP/resp")
        check '[ "$c0" = 200 ] && [ "$c1" = 200 ]' "server: 200 with and without lora ($c0 $c1)"
        check '[ "$r0" != "$r1" ]' "server: the adapter changes the answer"
        check '[ "$c2" = 400 ] && echo "$r2" | grep -q missing' "server: unknown lora is a 400 naming it ($c2 $r2)"
    else
        bad "llv-server did not start: $(cat "$TMP/srv.log")"
    fi
    kill "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
else
    echo "note: llv-server or curl missing, server part skipped"
fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]

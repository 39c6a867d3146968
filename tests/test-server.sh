#!/usr/bin/env bash
# test-server.sh - curl-driven tests of llv-server on a loopback port: every
# route, both Workers AI variants, OpenAI, streaming, images, tools, every
# validation error class (each followed by a request that still succeeds),
# auth, the npm `openai` client, a hostile corpus, 16 concurrent clients and
# graceful shutdown. Skips (77) without models/demo.gguf.
set -u
shopt -s lastpipe # `... | req` sets STATUS in this shell
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
SERVER=$BIN/llv-server
MODEL=${LLV_SERVER_TEST_MODEL:-$SRC/models/demo.gguf}
IMAGE=${LLV_SERVER_TEST_IMAGE:-$SRC/models/demo.png}
TS=$SRC/tests/server
NAME=@cf/meta/llama-3.2-11b-vision-instruct

[ -x "$SERVER" ] || { echo "SKIP: $SERVER not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: no model at $MODEL"; exit 77; }
[ -f "$IMAGE" ] || { echo "SKIP: no image at $IMAGE"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed (tools/install-deps.sh)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }

T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { if "$@"; then ok; else bad "$*"; fi; }
jc() { python3 "$TS/jcheck.py" "$@"; }

source "$TS/start-server.sh" # start_server LOG ARGS... -> SPID, BASE

# req METHOD PATH [curl args...] -> STATUS, body in $T/out, headers in $T/hdr
req() {
  local m=$1 p=$2; shift 2
  STATUS=$(curl -s -m 60 -X "$m" -D "$T/hdr" -o "$T/out" -w '%{http_code}' -H 'Content-Type: application/json' \
    "$@" "$BASE$p")
}
post() { req POST "$1" --data-binary "$2"; }
RUN=/ai/run/$NAME
ACC=/client/v4/accounts/0123456789abcdef

# expect_err STATUS CODE FIELD: an error envelope naming FIELD (Workers routes)
expect_env() {
  local want=$1 code=$2 field=$3 what=$4
  if [ "$STATUS" != "$want" ]; then bad "$what: status $STATUS, expected $want: $(head -c 300 "$T/out")"; return; fi
  check jc "$T/out" "j['success'] is False and j['result'] is None and j['messages'] == [] and \
j['errors'][0]['code'] == $code and '''$field''' in j['errors'][0]['message']"
}
expect_oai_err() {
  local want=$1 param=$2 what=$3
  if [ "$STATUS" != "$want" ]; then bad "$what: status $STATUS, expected $want: $(head -c 300 "$T/out")"; return; fi
  check jc "$T/out" "isinstance(j['error']['message'], str) and j['error']['type'] and \
('''$param''' == '' or '''$param''' in (j['error']['param'] or '') + j['error']['message'])"
}
# a valid request must still succeed after each error
still_ok() {
  post "$RUN" '{"prompt":"hi","max_tokens":2,"seed":1}'
  if [ "$STATUS" = 200 ]; then ok; else bad "valid request after $1: $STATUS $(head -c 200 "$T/out")"; fi
}

start_server "$T/a.log" --parallel 2 --queue 64 --max-body 1m --conn-timeout 3 --cors https://app.example
echo "server at $BASE"

# --- health, models -------------------------------------------------------
req GET /health
check [ "$STATUS" = 200 ]
req GET /v1/models
check [ "$STATUS" = 200 ]
check jc "$T/out" "j['object'] == 'list' and j['data'][0]['id'] == '$NAME'"
req GET "$ACC/ai/v1/models"
check [ "$STATUS" = 200 ]

# --- prompt variant: non-streamed vs streamed, same seed -------------------
for path in "$RUN" "$ACC/ai/run/$NAME"; do
  post "$path" '{"prompt":"Tell me a story.","max_tokens":24,"seed":7,"temperature":0.7}'
  check [ "$STATUS" = 200 ]
  cp "$T/out" "$T/p.json"
  check jc "$T/p.json" "j['success'] is True and j['errors'] == [] and j['messages'] == [] and \
isinstance(j['result']['response'], str) and j['result']['tool_calls'] == [] and \
isint(j['result']['usage']['prompt_tokens']) and isint(j['result']['usage']['completion_tokens']) and \
j['result']['usage']['total_tokens'] == j['result']['usage']['prompt_tokens'] + j['result']['usage']['completion_tokens'] \
and j['result']['usage']['prompt_tokens'] > 0"
  post "$path" '{"prompt":"Tell me a story.","max_tokens":24,"seed":7,"temperature":0.7,"stream":true}'
  check [ "$STATUS" = 200 ]
  check grep -qi '^content-type: text/event-stream' "$T/hdr"
  python3 "$TS/sse.py" "$T/out" workers >"$T/s.json"
  RESP=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["result"]["response"]))' "$T/p.json")
  check jc "$T/s.json" "j['text'] == $RESP and j['done_last'] and j['usage_before_done'] and not j['bad'] and \
isint(j['usage']['prompt_tokens']) and isint(j['usage']['completion_tokens'])"
done

# full-length answers (256 tokens, default sampling) over several seeds: streamed == non-streamed,
# no empty pieces (a NUL byte from the demo model, as seeds 1, 2, 5, 6 give in raw mode, becomes
# U+FFFD in both; raw mode keeps the prompt free of the template's date)
for seed in 1 2 5 6 7; do
  post "$RUN" '{"prompt":"Count to five.","raw":true,"seed":'$seed'}'
  RESP=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["result"]["response"]))' "$T/out")
  post "$RUN" '{"prompt":"Count to five.","raw":true,"seed":'$seed',"stream":true}'
  python3 "$TS/sse.py" "$T/out" workers >"$T/s.json"
  check jc "$T/s.json" "j['text'] == $RESP and j['empty'] == 0 and j['done_last']"
done

# --- messages variant ------------------------------------------------------
MSG='{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there"}],"max_tokens":16,"seed":11}'
post "$RUN" "$MSG"
check [ "$STATUS" = 200 ]
cp "$T/out" "$T/m.json"
check jc "$T/m.json" "isinstance(j['result']['response'], str) and j['result']['tool_calls'] == [] and isint(j['result']['usage']['completion_tokens'])"
post "$RUN" "${MSG%\}},\"stream\":true}"
python3 "$TS/sse.py" "$T/out" workers >"$T/s.json"
RESP=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["result"]["response"]))' "$T/m.json")
check jc "$T/s.json" "j['text'] == $RESP and j['done_last'] and j['usage_before_done']"
# content as a single part object and as a part array
post "$RUN" '{"messages":[{"role":"user","content":{"type":"text","text":"Hi"}}],"max_tokens":4}'
check [ "$STATUS" = 200 ]
post "$RUN" '{"messages":[{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":" you"}]}],"max_tokens":4}'
check [ "$STATUS" = 200 ]

# --- OpenAI route ------------------------------------------------------------
OAI='{"model":"'$NAME'","messages":[{"role":"user","content":"Hello"}],"max_tokens":16,"seed":5}'
for path in /v1/chat/completions "$ACC/ai/v1/chat/completions"; do
  post "$path" "$OAI"
  check [ "$STATUS" = 200 ]
  cp "$T/out" "$T/o.json"
  check jc "$T/o.json" "j['object'] == 'chat.completion' and isint(j['created']) and j['model'] == '$NAME' and \
j['id'].startswith('chatcmpl-') and j['choices'][0]['message']['role'] == 'assistant' and \
isinstance(j['choices'][0]['message']['content'], str) and j['choices'][0]['finish_reason'] in ('stop', 'length') and \
isint(j['usage']['total_tokens']) and j['usage']['total_tokens'] == j['usage']['prompt_tokens'] + j['usage']['completion_tokens']"
  post "$path" "${OAI%\}},\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
  check [ "$STATUS" = 200 ]
  python3 "$TS/sse.py" "$T/out" openai >"$T/s.json"
  RESP=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]))' "$T/o.json")
  check jc "$T/s.json" "j['text'] == $RESP and len(j['ids']) == 1 and len(j['finish']) == 1 and j['done_last'] and \
j['usage_before_done'] and isint(j['usage']['total_tokens'])"
done
# without include_usage: no usage chunk
post /v1/chat/completions "${OAI%\}},\"stream\":true}"
python3 "$TS/sse.py" "$T/out" openai >"$T/s.json"
check jc "$T/s.json" "j['usage'] is None and len(j['finish']) == 1 and j['done_last']"
# stop strings: the answer never contains them, streamed == non-streamed
post /v1/chat/completions '{"messages":[{"role":"user","content":"Count"}],"max_tokens":24,"seed":3,"stop":["e"]}'
check [ "$STATUS" = 200 ]
check jc "$T/out" "'e' not in j['choices'][0]['message']['content']"

# --- logprobs (OpenAI) ---------------------------------------------------------
# lpcheck FILE TOP: the entries are OpenAI's shape, TOP alternatives each, sorted, the chosen
# token first at temperature 0, and their bytes joined are the answer's text
lpcheck() {
  check jc "$1" "(lambda c, L: isinstance(L, list) and len(L) > 0 and c['logprobs']['refusal'] is None and \
all(isinstance(e['token'], str) and isinstance(e['logprob'], float) and e['logprob'] <= 0 and \
all(isint(b) and 0 <= b < 256 for b in e['bytes']) and len(e['top_logprobs']) == $2 and \
all(set(t) == {'token', 'logprob', 'bytes'} for t in e['top_logprobs']) and \
all(a['logprob'] >= b['logprob'] for a, b in zip(e['top_logprobs'], e['top_logprobs'][1:])) and \
($2 == 0 or (e['top_logprobs'][0]['token'] == e['token'] and e['top_logprobs'][0]['logprob'] == e['logprob'])) and \
(e['token'] == bytes(e['bytes']).decode('utf-8', 'replace') or e['token'] == 'bytes:' + ''.join('\\\\x%02x' % b for b in e['bytes'])) \
for e in L) and b''.join(bytes(e['bytes']) for e in L).decode('utf-8', 'replace') == c['message']['content'])\
(j['choices'][0], j['choices'][0]['logprobs']['content'])"
}
LP='{"messages":[{"role":"user","content":"Tell me about foxes."}],"max_tokens":24,"temperature":0,"logprobs":true,"top_logprobs":5'
post /v1/chat/completions "$LP}"
check [ "$STATUS" = 200 ]
cp "$T/out" "$T/lp.json"
lpcheck "$T/lp.json" 5
check jc "$T/lp.json" "len(j['choices'][0]['logprobs']['content']) <= j['usage']['completion_tokens']"
# streamed: the chunks' entries joined are the non-streamed list, each chunk carries its own tokens
post /v1/chat/completions "$LP,\"stream\":true}"
python3 "$TS/sse.py" "$T/out" openai >"$T/lps.json"
LPC=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["logprobs"]["content"]))' "$T/lp.json")
LPT=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]))' "$T/lp.json")
check jc "$T/lps.json" "j['logprobs'] == $LPC and j['text'] == $LPT and j['lp_in_chunk'] and j['done_last']"
# with a stop string too (the tokens whose text is in the answer)
post /v1/chat/completions "${LP%,\"top_logprobs\":5},\"stop\":[\"o\"]}"
cp "$T/out" "$T/lpstop.json"
check jc "$T/lpstop.json" "'o' not in j['choices'][0]['message']['content'] and \
b''.join(bytes(e['bytes']) for e in j['choices'][0]['logprobs']['content']).decode('utf-8', 'replace').startswith(j['choices'][0]['message']['content'])"
post /v1/chat/completions "${LP%,\"top_logprobs\":5},\"stop\":[\"o\"],\"stream\":true}"
python3 "$TS/sse.py" "$T/out" openai >"$T/lps.json"
check jc "$T/lps.json" "j['logprobs'] == $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["logprobs"]["content"]))' "$T/lpstop.json")"
# top_logprobs 0 (and absent): the chosen tokens only, the same ones
post /v1/chat/completions "${LP%5}0}"
lpcheck "$T/out" 0
check jc "$T/out" "[e['token'] for e in j['choices'][0]['logprobs']['content']] == [e['token'] for e in $LPC]"
post /v1/chat/completions "${LP%,\"top_logprobs\":5}}"
lpcheck "$T/out" 0
# sampled: the same answer with and without logprobs
post /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me about foxes."}],"max_tokens":24,"temperature":1.2,"seed":9,"top_k":40}'
cp "$T/out" "$T/nolp.json"
check jc "$T/nolp.json" "j['choices'][0]['logprobs'] is None"
post /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me about foxes."}],"max_tokens":24,"temperature":1.2,"seed":9,"top_k":40,"logprobs":true,"top_logprobs":20}'
check jc "$T/out" "j['choices'][0]['message']['content'] == $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]))' "$T/nolp.json") and \
all(len(e['top_logprobs']) == 20 for e in j['choices'][0]['logprobs']['content'])"
# without logprobs a stream's chunks all say "logprobs": null
post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"stream":true}'
python3 "$TS/sse.py" "$T/out" openai >"$T/lps.json"
check jc "$T/lps.json" "j['logprobs'] is None"
# 400s in OpenAI's error shape, each followed by a request that works
for b in '"top_logprobs":2' '"logprobs":false,"top_logprobs":0' '"logprobs":true,"top_logprobs":21' \
  '"logprobs":true,"top_logprobs":-1' '"logprobs":true,"top_logprobs":2.5' '"logprobs":"yes"' '"logprobs":1'; do
  post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2,'"$b"'}'
  case "$b" in *top_logprobs*) f=top_logprobs ;; *) f=logprobs ;; esac
  expect_oai_err 400 "$f" "logprobs $b"
  check jc "$T/out" "j['error']['param'] == '$f' and j['error']['code'] == 'invalid_value'"
done
still_ok "logprobs errors"
# Ollama's: a top-level array per streamed line; the lines' entries are the whole answer's
OLP='{"model":"llama3.2-vision","messages":[{"role":"user","content":"Tell me about foxes."}],"options":{"num_predict":12,"temperature":0},"logprobs":true,"top_logprobs":2'
post /api/chat "$OLP,\"stream\":false}"
check [ "$STATUS" = 200 ]
cp "$T/out" "$T/olp.json"
check jc "$T/olp.json" "len(j['logprobs']) > 0 and all(len(e['top_logprobs']) == 2 and e['top_logprobs'][0]['token'] == e['token'] \
for e in j['logprobs']) and b''.join(bytes(e['bytes']) for e in j['logprobs']).decode('utf-8', 'replace') == j['message']['content']"
post /api/chat "$OLP}"
check python3 -c "import json,sys; L=[json.loads(l) for l in open('$T/out') if l.strip()]; \
W=json.load(open('$T/olp.json')); sys.exit(0 if sum((x.get('logprobs', []) for x in L), []) == W['logprobs'] else 1)"
post /api/generate '{"model":"llama3.2-vision","prompt":"Hi","stream":false,"options":{"num_predict":3}}'
check jc "$T/out" "'logprobs' not in j"
post /api/generate '{"model":"llama3.2-vision","prompt":"Hi","logprobs":true,"top_logprobs":21}'
check [ "$STATUS" = 400 ]
check jc "$T/out" "'top_logprobs' in j['error']"

# --- structured output: response_format, forced tool calls, Ollama format -----------------
SCHEMA='{"type":"object","properties":{"name":{"type":"string","maxLength":8},"n":{"type":"integer","minimum":0,"maximum":9},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2}},"required":["name","n"],"additionalProperties":false}'
VALID="(lambda d: isinstance(d['name'], str) and len(d['name']) <= 8 and isint(d['n']) and 0 <= d['n'] <= 9 and set(d) <= {'name','n','tags'} and all(t in ('a','b') for t in d.get('tags', [])))"
for seed in 1 2 3 4; do
  post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"a record\"}],\"temperature\":1,\"seed\":$seed,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"rec\",\"strict\":true,\"schema\":$SCHEMA}}}"
  check [ "$STATUS" = 200 ]
  check jc "$T/out" "j['choices'][0]['finish_reason'] == 'stop' and $VALID(json.loads(j['choices'][0]['message']['content']))"
done
post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"temperature":1,"seed":2,"max_tokens":2000,"response_format":{"type":"json_object"}}'
check [ "$STATUS" = 200 ]
check jc "$T/out" "j['choices'][0]['finish_reason'] == 'length' or isinstance(json.loads(j['choices'][0]['message']['content']), dict)"
post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","patternProperties":{"a":{}}}}}}'
expect_oai_err 400 "patternProperties" "an unsupported schema keyword"
check jc "$T/out" "j['error']['param'] == 'response_format.json_schema.schema'"
post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}'
expect_oai_err 400 "response_format.type" "an unknown response_format type"
post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}}}}'
expect_oai_err 400 "" "a \$ref cycle"
still_ok "structured output errors"
TOOLS='[{"type":"function","function":{"name":"forecast","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":10},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}}}]'
for choice in '"required"' '{"type":"function","function":{"name":"forecast"}}'; do
  post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],\"temperature\":1,\"seed\":7,\"max_tokens\":400,\"tools\":$TOOLS,\"tool_choice\":$choice}"
  check [ "$STATUS" = 200 ]
  check jc "$T/out" "j['choices'][0]['finish_reason'] == 'tool_calls' and j['choices'][0]['message']['tool_calls'][0]['function']['name'] == 'forecast' and (lambda a: len(a['city']) <= 10 and 1 <= a['days'] <= 7)(json.loads(j['choices'][0]['message']['tool_calls'][0]['function']['arguments']))"
done
# streamed, the forced call goes out as one tool_calls delta, no JSON text deltas
curl -sN -m 60 "$BASE/v1/chat/completions" -H 'Content-Type: application/json' -d "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],\"temperature\":1,\"seed\":7,\"max_tokens\":400,\"tools\":$TOOLS,\"tool_choice\":\"required\"}" >"$T/tc.sse"
check python3 -c "import json,sys; ev=[json.loads(l[6:]) for l in open('$T/tc.sse') if l.startswith('data: {')]; \
d=[c['choices'][0]['delta'] for c in ev if c['choices']]; text=''.join(x.get('content') or '' for x in d); \
calls=[t for x in d for t in x.get('tool_calls', [])]; sys.exit(0 if text == '' and len(calls) == 1 and calls[0]['function']['name'] == 'forecast' and ev[-1]['choices'][0]['finish_reason'] == 'tool_calls' else 1)"
post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}"
expect_oai_err 400 "tool_choice" "tool_choice naming an unknown tool"
post /api/chat "{\"model\":\"llama3.2-vision\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"a record\"}],\"format\":$SCHEMA,\"options\":{\"temperature\":1,\"seed\":3}}"
check [ "$STATUS" = 200 ]
check jc "$T/out" "j['done_reason'] == 'stop' and $VALID(json.loads(j['message']['content']))"
post /api/generate '{"model":"llama3.2-vision","stream":false,"prompt":"x","format":{"type":"object","not":{}}}'
check [ "$STATUS" = 400 ]
check jc "$T/out" "'not' in j['error']"

# --- images ------------------------------------------------------------------
B64=$(base64 -w0 "$IMAGE")
python3 -c 'import json,sys; print(json.dumps({"prompt":"Describe the image.","image":list(open(sys.argv[1],"rb").read()),"max_tokens":8,"seed":2}))' "$IMAGE" >"$T/img-array.json"
req POST "$RUN" --data-binary @"$T/img-array.json"
check [ "$STATUS" = 200 ]
cp "$T/out" "$T/i1.json"
printf '{"prompt":"Describe the image.","image":"%s","max_tokens":8,"seed":2}' "$B64" >"$T/img-b64.json"
req POST "$RUN" --data-binary @"$T/img-b64.json"
check [ "$STATUS" = 200 ]
# both encodings carry the same bytes: same answer for the same seed
check jc "$T/out" "j['result']['response'] == $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["result"]["response"]))' "$T/i1.json")"
printf '{"prompt":"<|image|>Describe the image.","raw":true,"image":"%s","max_tokens":8,"seed":2}' "$B64" >"$T/img-raw.json"
req POST "$RUN" --data-binary @"$T/img-raw.json"
check [ "$STATUS" = 200 ]
printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},{"type":"text","text":"What is this?"}]}],"max_tokens":8}' "$B64" >"$T/img-msg.json"
req POST "$RUN" --data-binary @"$T/img-msg.json"
check [ "$STATUS" = 200 ]
req POST /v1/chat/completions --data-binary @"$T/img-msg.json"
check [ "$STATUS" = 200 ]
check jc "$T/out" "isinstance(j['choices'][0]['message']['content'], str)"

# --- tools ---------------------------------------------------------------------
TOOLS='[{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"the city"}},"required":["city"]}}]'
post "$RUN" '{"messages":[{"role":"user","content":"What is the weather in Paris?"}],"tools":'"$TOOLS"',"max_tokens":32,"seed":4}'
check [ "$STATUS" = 200 ]
check jc "$T/out" "isinstance(j['result']['tool_calls'], list) and all(isinstance(c['name'], str) and \
isinstance(c['arguments'], (dict, str)) for c in j['result']['tool_calls'])"
post /v1/chat/completions '{"messages":[{"role":"user","content":"What is the weather in Paris?"}],"tools":[{"type":"function","function":'"${TOOLS:1:-1}"'}],"max_tokens":32,"seed":4}'
check [ "$STATUS" = 200 ]
check jc "$T/out" "all(c['type'] == 'function' and c['id'] and isinstance(c['function']['arguments'], str) \
for c in (j['choices'][0]['message'].get('tool_calls') or []))"

# --- validation errors (Workers envelope, field named), each then a valid request ---
while IFS='|' read -r body code field; do
  [ -z "$body" ] && continue
  post "$RUN" "$body"
  expect_env 400 "$code" "$field" "$body"
  still_ok "$body"
done <<'EOF'
{"prompt":"x","max_tokens":1.5}|5006|max_tokens
{"prompt":"x","max_tokens":"12"}|5006|max_tokens
{"prompt":"x","max_tokens":-3}|5006|max_tokens
{"prompt":"x","temperature":9}|5006|temperature
{"prompt":"x","temperature":"hot"}|5006|temperature
{"prompt":"x","top_p":3}|5006|top_p
{"prompt":"x","top_k":0}|5006|top_k
{"prompt":"x","top_k":2.5}|5006|top_k
{"prompt":"x","seed":0}|5006|seed
{"prompt":"x","seed":1e30}|5006|seed
{"prompt":"x","repetition_penalty":5}|5006|repetition_penalty
{"prompt":"x","frequency_penalty":-1}|5006|frequency_penalty
{"prompt":"x","presence_penalty":2.5}|5006|presence_penalty
{"prompt":"x","stream":"yes"}|5006|stream
{"prompt":"x","raw":"no"}|5006|raw
{"prompt":7}|5006|prompt
{"prompt":""}|5006|prompt
{"max_tokens":5}|5006|prompt
{"messages":"hi"}|5006|messages
{"messages":[{"role":"user","content":42}]}|5006|messages[0].content
{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://example.com/cat.png"}}]}]}|5006|data URL
{"prompt":"x","image":"%%%not-base64%%%"}|5004|image
{"prompt":"x","image":[1,2,300]}|5006|image[2]
{"prompt":"x","image":"aGVsbG8gd29ybGQ="}|5006|image
{"prompt":"x","image":[1,2,3,4,5,6,7,8]}|5006|image
{"prompt":"x","lora":"my-adapter"}|5006|lora
{"prompt":"x","max_tokens":1e400}|5006|max_tokens
{"prompt":|5006|malformed JSON
[1,2,3]|5006|expected object
EOF
# deep nesting
python3 -c 'print("{\"prompt\":\"x\",\"a\":" + "[" * 5000 + "]" * 5000 + "}")' >"$T/deep.json"
req POST "$RUN" --data-binary @"$T/deep.json"
expect_env 400 5006 "nested" "deep nesting"
still_ok "deep nesting"
# 413: a body a few MB over the 1 MiB limit
head -c 3000000 /dev/zero | tr '\0' 'a' | req POST "$RUN" --data-binary @-
expect_env 413 3006 "too large" "413"
still_ok 413
# 404 / 405 / wrong model name
req GET /nope
expect_env 404 7003 "/nope" 404
req POST "/ai/run/@cf/meta/other-model" --data-binary '{"prompt":"x"}'
expect_env 400 5007 "No such model" "wrong model"
req GET "$RUN"
expect_env 405 7001 "Method not allowed" 405
check grep -qi '^allow: POST' "$T/hdr"
req DELETE /health
expect_env 405 7001 "Method not allowed" "405 health"
still_ok "404/405"
# OpenAI error objects
post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"max_tokens":1.5}'
expect_oai_err 400 max_tokens "oai max_tokens"
post /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.y/z.png"}}]}]}'
expect_oai_err 400 image_url "oai http image"
post /v1/chat/completions '{"model":"m"}'
expect_oai_err 400 messages "oai missing messages"
post /v1/chat/completions '{bad json'
expect_oai_err 400 "" "oai malformed"
req GET /v1/nope
expect_oai_err 404 "" "oai 404"
still_ok "openai errors"

# --- npm clients: openai and ollama ------------------------------------------------
if command -v npm >/dev/null && command -v node >/dev/null; then
  mkdir -p "$T/npm" && cp "$TS/package.json" "$TS/openai-client.mjs" "$TS/ollama-client.mjs" "$T/npm/"
  if (cd "$T/npm" && timeout 120 npm install --no-audit --no-fund --silent >/dev/null 2>&1); then
    if timeout 60 node "$T/npm/openai-client.mjs" "$BASE/v1" "$NAME" "$IMAGE"; then ok; else bad "npm openai client"; fi
    if timeout 120 node "$T/npm/ollama-client.mjs" "$BASE" "$IMAGE"; then ok; else bad "npm ollama client"; fi
  else
    echo "SKIP (sub-test): npm install openai/ollama failed (no registry access?)"
  fi
else
  echo "SKIP (sub-test): npm/node not installed"
fi

# --- Python ollama and openai clients (pinned, venv in the cache) --------------------------------
if CPY=$(sh "$TS/setup-clients.sh" 2>"$T/clients.log"); then
  if timeout 300 "$CPY" "$TS/ollama-client.py" "$BASE" "$IMAGE"; then ok; else bad "python ollama client"; fi
  if timeout 300 "$CPY" "$TS/openai-client.py" "$BASE/v1" "$NAME" "$IMAGE"; then ok; else bad "python openai client"; fi
else
  echo "SKIP (sub-test): the Python client venv could not be set up (no package index?): $(tail -2 "$T/clients.log")"
fi

# --- Ollama routes: shapes and errors (each followed by a working request) -------------
post /api/chat '{"model":"llama3.2-vision","messages":[{"role":"user","content":"hi"}],"stream":false,"options":{"num_predict":2}}'
check [ "$STATUS" = 200 ]
check jc "$T/out" "j['done'] is True and j['eval_count'] == 2 and j['message']['role'] == 'assistant' and \
j['created_at'].endswith('Z') and j['total_duration'] > 0"
post /api/chat '{"model":"llama3.2-vision","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":3}}'
check [ "$STATUS" = 200 ]
check grep -qi 'content-type: application/x-ndjson' "$T/hdr"
check python3 -c "import json,sys; L=[json.loads(l) for l in open('$T/out') if l.strip()]; \
sys.exit(0 if len(L)>=2 and L[-1]['done'] and L[-1]['eval_count']==3 and not any(x['done'] for x in L[:-1]) else 1)"
for body in '' '{' '{"messages":[]}' '{"model":5}' '{"model":"llama3.2-vision","stream":"yes"}' \
  '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x"}],"options":{"top_k":99}}' \
  '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x"}],"options":{"num_predict":-3}}' \
  '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x"}],"options":"hot"}' \
  '{"model":"llama3.2-vision","messages":[{"role":"wizard","content":"x"}]}' \
  '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x","images":["%%%"]}]}' \
  '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x"}],"template":"{{ .Prompt }}"}' \
  '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x"}],"format":"yaml"}' \
  '{"model":"llama3.2-vision","prompt":"x","suffix":"y"}' '{"model":"llama3.2-vision","prompt":"x","context":[1,2]}' \
  '{"model":"llama3.2-vision","prompt":"x","raw":true,"images":["aGVsbG8="]}'; do
  route=/api/chat
  case "$body" in *'"prompt"'*) route=/api/generate ;; esac
  post "$route" "$body"
  if [ "$STATUS" != 400 ]; then bad "ollama $body: status $STATUS: $(head -c 200 "$T/out")"; continue; fi
  check jc "$T/out" "list(j) == ['error'] and isinstance(j['error'], str) and len(j['error']) > 5"
done
post /api/chat '{"model":"llama3.2-vision","messages":[{"role":"user","content":"x"}],"options":{"num_ctx":4}}'
check [ "$STATUS" = 400 ]
check jc "$T/out" "'num_ctx' in j['error']"
post /api/chat '{"model":"nope","messages":[{"role":"user","content":"x"}]}'
check [ "$STATUS" = 404 ]
for r in pull push create copy delete embed embeddings blobs/sha256:00; do
  post /api/$r '{"model":"x"}'
  check [ "$STATUS" = 501 ]
  check jc "$T/out" "'not supported' in j['error']"
done
req GET /api/tags
check jc "$T/out" "j['models'][0]['name'] == 'llama3.2-vision:latest' and len(j['models'][0]['digest']) == 64"
req GET /api/version
check jc "$T/out" "isinstance(j['version'], str)"
req GET /api/chat
check [ "$STATUS" = 405 ]
req GET /
check [ "$STATUS" = 200 ]
req GET "/v1/models/$NAME"
check jc "$T/out" "j['id'] == '$NAME' and j['object'] == 'model'"
req GET /v1/models/nope
check [ "$STATUS" = 404 ]
still_ok "ollama routes"
# a prompt over the context: OpenAI's context_length_exceeded
LONG=$(python3 -c "print('word ' * 6000)")
post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$LONG\"}],\"max_tokens\":2}"
check [ "$STATUS" = 400 ]
check jc "$T/out" "j['error']['code'] == 'context_length_exceeded'"
still_ok "context overflow"
# CORS (--cors): preflight without auth or body, the origin on every answer
req OPTIONS /v1/chat/completions -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: POST'
check [ "$STATUS" = 204 ]
check grep -qi '^access-control-allow-origin: https://app.example' "$T/hdr"
check grep -qi '^access-control-allow-methods: POST, OPTIONS' "$T/hdr"
check grep -qi '^access-control-allow-headers: .*authorization' "$T/hdr"
post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
check grep -qi '^access-control-allow-origin: https://app.example' "$T/hdr"
# the prefix cache may have kept the template's start from an earlier request: never more than the prompt
check jc "$T/out" "0 <= j['usage']['prompt_tokens_details']['cached_tokens'] < j['usage']['prompt_tokens']"

# --- hostile corpus ---------------------------------------------------------------
for body in '' '{' '}' 'null' '"str"' '{"prompt":"x",}' '{"prompt":"x","prompt":5}' $'{"prompt":"\x01"}' \
  '{"prompt":"x","max_tokens":99999999999999999999999}' '{"prompt":"x","temperature":1e309}' \
  '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,abc"}}]}]}' \
  '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,"}}]}]}' \
  '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":5}]}]}' \
  '{"messages":[null]}' '{"messages":[{"role":null}]}' '{"prompt":"x","image":[-1]}' '{"prompt":"x","image":[1.5]}'; do
  post "$RUN" "$body"
  case "$STATUS" in
    200) ok ;;
    4??) check jc "$T/out" "j['success'] is False and isint(j['errors'][0]['code'])" ;;
    *) bad "hostile body '$body' gave $STATUS" ;;
  esac
done
# 100 MB streamed from /dev/zero: 413 in the envelope, connection not dropped
head -c 100000000 /dev/zero | req POST "$RUN" --data-binary @-
expect_env 413 3006 "too large" "100 MB body"
# slowloris: a partial request is closed after --conn-timeout (3 s) while others are served
exec 3<>"/dev/tcp/127.0.0.1/${BASE##*:}"
printf 'POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n' "$RUN" >&3
req GET /health
check [ "$STATUS" = 200 ]
if timeout 8 cat <&3 >/dev/null; then ok; else bad "slowloris connection not closed within 8 s"; fi
exec 3<&-
still_ok "hostile corpus"

# --- client disconnect cancels its generation ----------------------------------------
curl -s -m 0.3 -N "$BASE$RUN" -d '{"prompt":"Write a very long essay.","max_tokens":4000,"stream":true}' >/dev/null 2>&1
curl -s -m 0.3 "$BASE$RUN" -d '{"prompt":"Write a very long essay.","max_tokens":4000}' >/dev/null 2>&1
still_ok "client disconnect"

# --- 16 concurrent clients for a bounded time, memory bounded ---------------------
rss() { awk '/VmRSS/ {print $2}' "/proc/$SPID/status"; }
RSS0=$(rss)
END=$((SECONDS + 8))
for c in $(seq 1 16); do
  (
    while [ $SECONDS -lt $END ]; do
      if [ $((c % 2)) = 0 ]; then
        s=$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE$RUN" -d '{"prompt":"Hi","max_tokens":8,"stream":true}')
      else
        s=$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE/v1/chat/completions" -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8}')
      fi
      echo "$s" >>"$T/conc.$c"
    done
  ) &
done
wait_for_clients() { for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" ;; esac; done; }
wait_for_clients
RSS1=$(rss)
TOTAL=$(cat "$T"/conc.* | wc -l)
GOOD=$(cat "$T"/conc.* | grep -c '^200$')
OTHER=$(cat "$T"/conc.* | grep -vc '^200$')
echo "concurrency: $TOTAL requests, $GOOD answered 200, $OTHER other; VmRSS ${RSS0} kB -> ${RSS1} kB"
check [ "$TOTAL" -gt 16 ]
check [ "$OTHER" = 0 ]
check [ "$RSS1" -lt $((RSS0 + 512 * 1024)) ]
still_ok concurrency

# --- merged decode: concurrent requests answer exactly as alone; shared image cache ------
start_server "$T/m.log" --parallel 4 --queue 16
IMGB64=$(base64 -w0 "$IMAGE")
mreq() { # i -> request body i: different prompts, seeds, sampling, one with an image
  case $1 in
    1) echo '{"prompt":"Tell me a long story.","max_tokens":300,"temperature":0}' ;;
    2) echo '{"prompt":"Count to a thousand.","max_tokens":250,"seed":3,"temperature":0.9,"top_k":40}' ;;
    3) echo '{"messages":[{"role":"user","content":"Describe it."}],"image":"'"$IMGB64"'","max_tokens":200,"seed":5}' ;;
    4) echo '{"prompt":"Another one","raw":true,"max_tokens":280,"seed":9,"temperature":0.6,"repetition_penalty":1.2}' ;;
  esac
}
for i in 1 2 3 4; do # one at a time
  mreq $i >"$T/mreq$i"
  curl -s -m 120 -o "$T/solo$i" "$BASE$RUN" --data-binary @"$T/mreq$i"
done
req GET /health
E0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["engine"]["merged_passes"])' "$T/out")
for i in 1 2 3 4; do # all at once
  curl -s -m 120 -o "$T/conc$i" "$BASE$RUN" --data-binary @"$T/mreq$i" &
done
wait_for_clients
for i in 1 2 3 4; do
  if python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); sys.exit(0 if a["success"] and a["result"] == b["result"] else 1)' "$T/solo$i" "$T/conc$i"; then
    ok
  else
    bad "request $i answered concurrently differs from alone: $(head -c 200 "$T/conc$i") vs $(head -c 200 "$T/solo$i")"
  fi
done
req GET /health
check jc "$T/out" "j['engine']['merged_passes'] > $E0 and j['engine']['max_requests_in_pass'] >= 2"
# the image was encoded once for its first request; the same bytes later (solo, concurrent, and now as an
# array of byte values in another request) hit the shared cache
IMGARR=$(python3 -c 'import sys; print(list(open(sys.argv[1],"rb").read()))' "$IMAGE")
post "$RUN" '{"prompt":"What is this?","image":'"$IMGARR"',"max_tokens":4}'
check [ "$STATUS" = 200 ]
req GET /health
check jc "$T/out" "j['engine']['image_encodings'] == 1"
kill -TERM "$SPID"

# --- image URLs: refused by default; with --allow-image-urls fetched within limits -----
start_server "$T/nu.log"
post /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://127.0.0.1:9/x.png"}},{"type":"text","text":"hi"}]}],"max_tokens":2}'
expect_oai_err 400 "allow-image-urls" "image URL without --allow-image-urls"
kill -TERM "$SPID"
python3 "$TS/image-host.py" "$IMAGE" >"$T/host.port" 2>/dev/null &
HPID=$!
PIDS+=("$HPID")
for _ in $(seq 1 50); do [ -s "$T/host.port" ] && break; sleep 0.1; done
HOST=http://127.0.0.1:$(cat "$T/host.port")
start_server "$T/u.log" --allow-image-urls --image-url-timeout-ms 1500 --max-image-bytes 1m
url_req() { # URL [route]: an OpenAI request with the image at URL
  post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"$1\"}},{\"type\":\"text\",\"text\":\"What is it?\"}]}],\"max_tokens\":2,\"seed\":3,\"temperature\":0}"
}
url_req "$HOST/img"
check [ "$STATUS" = 200 ]
cp "$T/out" "$T/url-answer"
IMG64=$(base64 -w0 "$IMAGE")
post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,$IMG64\"}},{\"type\":\"text\",\"text\":\"What is it?\"}]}],\"max_tokens\":2,\"seed\":3,\"temperature\":0}"
check python3 -c "import json,sys; a=json.load(open('$T/url-answer')); b=json.load(open('$T/out')); \
u=lambda j: (j['usage']['prompt_tokens'], j['usage']['completion_tokens']); \
sys.exit(0 if a['choices'][0]['message']['content']==b['choices'][0]['message']['content'] and u(a)==u(b) else 1)"
url_req "$HOST/redirect/3"
check [ "$STATUS" = 200 ]
url_req "$HOST/redirect/5"
expect_oai_err 400 "redirects" "too many redirects"
url_req "$HOST/missing"
expect_oai_err 400 "404" "404 image"
url_req "$HOST/big"
expect_oai_err 400 "larger than" "oversized image URL"
url_req "$HOST/slow"
expect_oai_err 400 "timed out" "slow image URL"
url_req "$HOST/file-redirect"
expect_oai_err 400 "cannot fetch" "redirect to file://"
url_req "ftp://127.0.0.1/x.png"
expect_oai_err 400 "data URLs" "ftp URL"
post "$RUN" "{\"prompt\":\"What is it?\",\"image\":\"$HOST/img\",\"max_tokens\":2}"
check [ "$STATUS" = 200 ]
still_ok "image URLs"
kill -TERM "$SPID"

# --- queue full: 429 in the envelope -------------------------------------------------
start_server "$T/q.log" --parallel 1 --queue 0
for i in 1 2 3 4 5 6; do
  curl -s -m 60 -D "$T/qh$i" -o "$T/q$i" -w '%{http_code}\n' "$BASE$RUN" -d '{"prompt":"Long answer please","max_tokens":256}' >>"$T/qs" &
done
wait_for_clients
if grep -q 429 "$T/qs"; then
  for i in 1 2 3 4 5 6; do
    if grep -q '"code":3040' "$T/q$i"; then
      ok
      check grep -qi '^retry-after: 1' "$T/qh$i"
    fi
  done
else
  echo "note: no 429 seen (generation too fast to overlap)"
fi
check [ "$(grep -vc '^\(200\|429\)$' "$T/qs")" = 0 ]
kill -TERM "$SPID"

# --- per-request time limit: 408 in the envelope (or done before the limit) ------------
start_server "$T/t.log" --timeout-ms 1
post "$RUN" '{"prompt":"Write a long story.","max_tokens":4000,"temperature":1.5}'
case "$STATUS" in
  408) expect_env 408 3007 "timeout" "timeout" ;;
  200) echo "note: generation finished within 1 ms" ;;
  *) bad "timeout: status $STATUS" ;;
esac
# streamed OpenAI: a timeout is an error event the SDKs raise, not finish_reason "length"
post /v1/chat/completions '{"messages":[{"role":"user","content":"Write a long story."}],"stream":true,"max_tokens":4000,"temperature":1.5}'
if grep -q '"finish_reason":"length"' "$T/out"; then bad "stream timeout reported as length"; fi
if grep -q '"code":"timeout"' "$T/out"; then ok; else echo "note: the stream finished within 1 ms"; fi
kill -TERM "$SPID"

# --- a stream whose prefill outlasts --conn-timeout survives (SSE keep-alive comments) ---
start_server "$T/k.log" --conn-timeout 1 --ctx 8192
python3 -c 'import json; print(json.dumps({"prompt": "hello world again " * 300, "max_tokens": 4, "stream": True}))' >"$T/long.json"
req POST "$RUN" -N --data-binary @"$T/long.json"
check [ "$STATUS" = 200 ]
python3 "$TS/sse.py" "$T/out" workers >"$T/s.json"
check jc "$T/s.json" "j['done_last'] and j['usage_before_done'] and j['usage']['prompt_tokens'] > 1000"
kill -TERM "$SPID"

# --- auth ---------------------------------------------------------------------------------
start_server "$T/b.log" --api-key s3cret
post "$RUN" '{"prompt":"x","max_tokens":2}'
expect_env 401 10000 "Authentication" "401 no key"
req POST "$RUN" -H 'Authorization: Bearer wrong' --data-binary '{"prompt":"x","max_tokens":2}'
expect_env 401 10000 "Authentication" "401 wrong key"
req POST /v1/chat/completions -H 'Authorization: Bearer wrong' --data-binary '{"messages":[{"role":"user","content":"x"}]}'
expect_oai_err 401 "" "401 openai"
req POST "$RUN" -H 'Authorization: Bearer s3cret' --data-binary '{"prompt":"x","max_tokens":2}'
check [ "$STATUS" = 200 ]
req GET /health
check [ "$STATUS" = 200 ]

# --- graceful shutdown ------------------------------------------------------------------
for pid_log in "$SPID:$T/b.log"; do
  pid=${pid_log%%:*}
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then bad "server did not stop on SIGTERM"; else
    wait "$pid"; rc=$?
    check [ "$rc" = 0 ]
    check grep -q "stopped" "${pid_log#*:}"
  fi
done
# request log: one line per request with method, route, status, tokens, ms
check grep -Eq '^POST /ai/run/\S+ 200 prompt_tokens=[0-9]+ completion_tokens=[0-9]+ ms=[0-9]+' "$T/a.log"
kill -INT "${PIDS[0]}"
for _ in $(seq 1 100); do kill -0 "${PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
check [ ! -d "/proc/${PIDS[0]}" ]
# sanitizer builds: any report in a server log is a failure
for f in "$T"/*.log; do
  if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$f"; then bad "sanitizer report in $f"; grep -E -A5 'Sanitizer|runtime error' "$f" | head -30; else ok; fi
done

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]

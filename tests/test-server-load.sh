#!/bin/bash
# Loopback load test of llv-server (bounded in time and count): 64 clients for
# LLV_LOAD_SECONDS (default 60) send a mix of valid, invalid and streaming
# requests, some disconnecting mid-stream. Every request must get a response
# (2xx/4xx/5xx in the documented set) or be a disconnect we caused; the server
# must not crash, its RSS must stay bounded, and it must answer normally after.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
SERVER=$BIN/llv-server
MODEL=$SRC/models/demo.gguf
IMAGE=$SRC/models/demo.png
SECONDS_BUDGET=${LLV_LOAD_SECONDS:-60}
CLIENTS=${LLV_LOAD_CLIENTS:-64}
RUN=/ai/run/@cf/meta/llama-3.2-11b-vision-instruct

[ -x "$SERVER" ] || { echo "SKIP: $SERVER not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: no model at $MODEL"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
case "${LLV_BUILD_DIR:-}" in
*asan*) echo "SKIP: the load test runs in the release build only"; exit 77 ;;
esac

T=$(mktemp -d)
SPID=
cleanup() {
  [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
  jobs -p | xargs -r kill -9 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

source "$SRC/tests/server/start-server.sh"
start_server "$T/server.log" --parallel 2 --queue 32 --timeout-ms 20000
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$SPID/status" 2>/dev/null || echo 0; }

IMG64=$(base64 -w0 "$IMAGE")
printf '{"prompt":"Describe.","image":"%s","max_tokens":8,"seed":3}' "$IMG64" >"$T/image.json"

# One client: cycles through request kinds; writes one line per request:
# "<kind> <http status or curl exit>".
client() {
  local id=$1 end=$2 i=0 s
  local out=$T/c$id.log
  while [ "$(date +%s)" -lt "$end" ]; do
    i=$((i + 1))
    case $(( (id + i) % 8 )) in
    0) s=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -d '{"prompt":"hello","max_tokens":8,"seed":1}' "$BASE$RUN")
       echo "valid $s" ;;
    1) s=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -d '{"prompt":' "$BASE$RUN"); echo "badjson $s" ;;
    2) s=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -d '{"prompt":"x","max_tokens":1.5}' "$BASE$RUN")
       echo "badfield $s" ;;
    3) s=$(curl -s -N -m 30 -o "$T/s$id" -w '%{http_code}' -d '{"prompt":"stream","stream":true,"max_tokens":16}' \
         "$BASE$RUN"); echo "stream $s" ;;
    4) curl -s -N -m 0.05 -o /dev/null -d '{"prompt":"cut","stream":true,"max_tokens":256}' "$BASE$RUN"
       echo "disconnect $?" ;;
    5) s=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
         -d '{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4}' "$BASE/v1/chat/completions")
       echo "openai $s" ;;
    6) s=$(curl -s -m 30 -o /dev/null -w '%{http_code}' --data-binary @"$T/image.json" "$BASE$RUN"); echo "image $s" ;;
    7) s=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$BASE/nope"); echo "notfound $s" ;;
    esac >>"$out"
  done
}

rss0=$(rss_kb)
end=$(( $(date +%s) + SECONDS_BUDGET ))
for c in $(seq 1 "$CLIENTS"); do client "$c" "$end" & done
peak=$rss0
while [ "$(date +%s)" -lt "$end" ]; do
  kill -0 "$SPID" 2>/dev/null || { echo "FAIL: server died under load"; tail -20 "$T/server.log"; exit 1; }
  r=$(rss_kb)
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
wait $(jobs -p | grep -v "^$SPID$") 2>/dev/null
kill -0 "$SPID" 2>/dev/null || { echo "FAIL: server died under load"; exit 1; }

PASS=0
FAIL=0
cat "$T"/c*.log >"$T/all.log"
total=$(wc -l <"$T/all.log")
# allowed outcomes per kind (429 = queue full, 408 = request timeout, 000 = client-side timeout under load)
awk '
  $1=="valid"||$1=="stream"||$1=="openai"||$1=="image" { if ($2!="200" && $2!="429" && $2!="408" && $2!="503") bad++ ; next }
  $1=="badjson"||$1=="badfield" { if ($2!="400" && $2!="429") bad++; next }
  $1=="notfound" { if ($2!="404") bad++; next }
  $1=="disconnect" { next }
  END { print bad+0 }' "$T/all.log" >"$T/bad"
nbad=$(cat "$T/bad")
echo "requests: $total over ${SECONDS_BUDGET}s with $CLIENTS clients; unexpected outcomes: $nbad"
awk '{print $1, $2}' "$T/all.log" | sort | uniq -c | sort -rn | head -20
if [ "$total" -gt 0 ] && [ "$nbad" -eq 0 ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: outcomes"; \
  grep -v -E "^(valid|stream|openai|image) (200|429|408|503)$|^(badjson|badfield) (400|429)$|^notfound 404$|^disconnect" \
  "$T/all.log" | head -5; fi
echo "server RSS: start ${rss0} kB, peak ${peak} kB"
# bounded: the demo model is ~1 MB; sessions, queue and buffers stay far below 512 MB
if [ "$peak" -lt 524288 ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: RSS peak ${peak} kB"; fi
s=$(curl -s -m 30 -o "$T/after" -w '%{http_code}' -d '{"prompt":"after","max_tokens":4,"seed":1}' "$BASE$RUN")
if [ "$s" = 200 ] && grep -q '"success":true' "$T/after"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); \
  echo "FAIL: request after the load: $s"; fi
s=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$BASE/health")
if [ "$s" = 200 ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: health after the load: $s"; fi
kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
if [ "$rc" -eq 0 ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: server exit status $rc after SIGTERM"; fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

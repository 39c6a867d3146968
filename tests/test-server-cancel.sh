#!/usr/bin/env bash
# test-server-cancel.sh - a client that hangs up cancels its generation: for a
# streamed Workers AI request, a streamed OpenAI request and a non-streamed
# request, the server stops generating within a few tokens of the disconnect
# (its log line shows status 499 and far fewer completion tokens than the same
# request produces when the client stays), frees the session at once (the next
# request on the only session is answered), and keeps serving.
# The demo model answers greedily in ~800 tokens; the full-length count is
# measured in this run, so the test does not depend on the machine's speed.
# Skips (77) without models/demo.gguf, curl or python3.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
SERVER=$BIN/llv-server
MODEL=${LLV_SERVER_TEST_MODEL:-$SRC/models/demo.gguf}
NAME=@cf/meta/llama-3.2-11b-vision-instruct

[ -x "$SERVER" ] || { echo "SKIP: $SERVER not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: no model at $MODEL"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed (tools/install-deps.sh)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }

T=$(mktemp -d)
SPID=
cleanup() {
  [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

LOG=$T/server.log
source "$SRC/tests/server/start-server.sh"
start_server "$LOG" --parallel 1 --queue 4 --ctx 4096
HOSTPORT=${BASE#http://}

# Greedy, long: the demo model runs for hundreds of tokens before its end token.
BODY='{"prompt":"hi","max_tokens":3000,"temperature":0,"seed":1'
RUN=/ai/run/$NAME

# the last log line's completion_tokens and status for a path
last_line() { grep " $1 " "$LOG" | tail -1; }
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }

curl -s -m 120 -X POST -H 'Content-Type: application/json' --data-binary "$BODY}" "$BASE$RUN" >"$T/full.json"
FULL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["usage"]["completion_tokens"])' "$T/full.json")
echo "full answer: $FULL tokens"
if [ "${FULL:-0}" -lt 200 ]; then
  echo "SKIP: the demo model's greedy answer is only ${FULL:-0} tokens: too short to observe a cancellation"
  exit 77
fi

# hangup.py MODE PATH BODY: sends the request, and for stream modes reads until
# the first data event, then closes the socket; for "plain" closes right after
# sending. Prints what it saw.
cat >"$T/hangup.py" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
mode, path, body = sys.argv[2], sys.argv[3], sys.argv[4].encode()
s = socket.create_connection((host, int(port)), timeout=30)
s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
if mode == "stream":
    buf = b""
    while b"data: " not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    print("first event seen" if b"data: " in buf else "no event")
else:
    print("sent")
s.close()
EOF

# After a hang-up, the server must log 499 with few tokens, then serve the next request.
expect_cancel() {
  local what=$1 path=$2
  local line=""
  for _ in $(seq 1 200); do # the log line is written when the generation has stopped
    line=$(last_line "$path")
    case "$line" in *" 499 "*) break ;; esac
    sleep 0.05
  done
  local ct
  ct=$(echo "$line" | field completion_tokens)
  case "$line" in
    *" 499 "*) ok ;;
    *) bad "$what: no 499 log line after the hang-up (last: '$line')"; return ;;
  esac
  if [ -n "$ct" ] && [ "$ct" -lt $((FULL / 2)) ]; then ok; else bad "$what: $ct tokens generated after the hang-up (full answer $FULL)"; fi
  # the only session is free again: a short request is answered at once
  local st
  st=$(curl -s -m 30 -o "$T/after.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary '{"prompt":"hi","max_tokens":3,"seed":1}' "$BASE$RUN")
  if [ "$st" = 200 ]; then ok; else bad "$what: request after the hang-up answered $st"; fi
}

out=$(python3 "$T/hangup.py" "$HOSTPORT" stream "$RUN" "$BODY,\"stream\":true}")
[ "$out" = "first event seen" ] && ok || bad "workers stream: $out"
expect_cancel "workers stream" "$RUN"

out=$(python3 "$T/hangup.py" "$HOSTPORT" stream /v1/chat/completions \
  '{"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":3000,"temperature":0,"seed":1,"stream":true}')
[ "$out" = "first event seen" ] && ok || bad "openai stream: $out"
expect_cancel "openai stream" /v1/chat/completions

python3 "$T/hangup.py" "$HOSTPORT" plain "$RUN" "$BODY}" >/dev/null
expect_cancel "non-streamed" "$RUN"

# still healthy, and the full answer is unchanged by the cancellations
curl -s -m 120 -X POST -H 'Content-Type: application/json' --data-binary "$BODY}" "$BASE$RUN" >"$T/again.json"
if cmp -s <(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["response"])' "$T/full.json") \
          <(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["response"])' "$T/again.json"); then
  ok
else
  bad "the full answer changed after the cancellations"
fi

kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
[ "$rc" = 0 ] && ok || bad "server exit status $rc after SIGTERM"

echo "passed $PASS, failed $FAIL"
[ "$FAIL" = 0 ]

#!/usr/bin/env bash
# test-server-scale.sh - scale-out with an existing load balancer: Debian's
# nginx (installed by tools/install-deps.sh) on loopback runs the shipped
# docs/scale-out/nginx.conf in front of 3 llv-server processes; waves of 64
# concurrent requests (text, images, streams; OpenAI, Workers AI, Ollama) must
# all be complete and correct; a backend killed (SIGKILL) mid-wave costs at most
# the streams it was sending (nginx retries every request that got no answer);
# a backend drained (SIGTERM) mid-wave costs nothing and exits 0. Also the
# prefix cache behind sticky routing, /ready while draining, /metrics.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
SERVER=$BIN/llv-server
MODEL=$SRC/models/demo.gguf
IMAGE=$SRC/models/demo.png
TS=$SRC/tests/server
[ -x "$SERVER" ] || { echo "SKIP: $SERVER not built"; exit 77; }
[ -f "$MODEL" ] && [ -f "$IMAGE" ] || { echo "SKIP: no demo model"; exit 77; }
if ! command -v nginx >/dev/null && ! [ -x /usr/sbin/nginx ]; then
  sh "$SRC/tools/install-deps.sh" nginx >/dev/null 2>&1 || { echo "SKIP: nginx cannot be installed"; exit 77; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

T=$(mktemp -d)
PIDS=()
cleanup() {
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
source "$TS/start-server.sh" # start_server LOG ARGS... -> SPID, BASE

BACK=() BPID=()
for i in 1 2 3; do
  start_server "$T/b$i.log" --parallel 2 --queue 64 --queue-timeout 60000 --drain-timeout 60000
  BACK+=("${BASE#http://}")
  BPID+=("$SPID")
done

# the shipped config with our ports (and this run's pid, logs and temp files)
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
python3 - "$SRC/docs/scale-out/nginx.conf" "$T" "$port" "${BACK[@]}" >"$T/nginx.conf" <<'PY'
import sys
src, tmp, port, backs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
out, it = [], iter(backs)
for line in open(src):
    if "# llv-backend" in line:
        line = line.replace(line.split()[1], next(it), 1)
    elif "# llv-listen" in line:
        line = f"        listen 127.0.0.1:{port};\n"
    elif line.startswith("http {"):
        line += "".join(f"    {k}_temp_path {tmp}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        line += f"    access_log {tmp}/access.log;\n"
    out.append(line)
print(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n" + "".join(out))
PY
"$NGINX" -p "$T" -c "$T/nginx.conf" -t >"$T/nginx-t.log" 2>&1 || { cat "$T/nginx-t.log"; bad "nginx -t on the shipped config"; exit 1; }
"$NGINX" -p "$T" -c "$T/nginx.conf" || { bad "nginx does not start"; exit 1; }
LB=http://127.0.0.1:$port
for _ in $(seq 50); do curl -s -o /dev/null "$LB/health" && break; sleep 0.1; done
echo "nginx at $LB in front of ${BACK[*]}"

# expected answers from one backend directly, one request at a time
python3 "$TS/scale-client.py" expect "http://${BACK[0]}" "$IMAGE" >"$T/expected.json" || { bad "expected answers"; exit 1; }

# wave 1: everything up
python3 "$TS/scale-client.py" wave "$LB" "$IMAGE" "$T/expected.json" 64 >"$T/w1.json"
check "python3 -c \"import json; j=json.load(open('$T/w1.json')); exit(0 if j['ok'] == 64 else 1)\"" \
  "wave 1: not all 64 answers complete and correct: $(cat "$T/w1.json")"
spread=0
for i in 1 2 3; do grep -q 'POST' "$T/b$i.log" && spread=$((spread + 1)); done
check "[ $spread -eq 3 ]" "nginx sent wave 1 to $spread of 3 backends"

# wave 2: backend 2 killed once a quarter of the answers are in
python3 "$TS/scale-client.py" wave "$LB" "$IMAGE" "$T/expected.json" 64 --during "kill -9 ${BPID[1]}" >"$T/w2.json"
check "python3 -c \"import json; j=json.load(open('$T/w2.json')); exit(0 if j['wrong'] == 0 and j['failed'] == j['streams_failed'] and j['ok'] + j['failed'] == 64 else 1)\"" \
  "wave 2 (a backend killed): only streams it was sending may fail: $(cat "$T/w2.json")"
echo "wave 2: $(cat "$T/w2.json")"

# wave 3: backend 3 drained (SIGTERM) mid-wave: nothing is lost, and it exits 0
python3 "$TS/scale-client.py" wave "$LB" "$IMAGE" "$T/expected.json" 64 --during "kill -TERM ${BPID[2]}" >"$T/w3.json"
check "python3 -c \"import json; j=json.load(open('$T/w3.json')); exit(0 if j['ok'] == 64 else 1)\"" \
  "wave 3 (a backend draining): not all 64 answers complete and correct: $(cat "$T/w3.json")"
wait "${BPID[2]}" 2>/dev/null
rc=$?
check "[ $rc -eq 0 ]" "the drained backend exited $rc"
check "grep -q 'SIGTERM, draining' '$T/b3.log'" "the backend did not log its drain"

# the prefix cache behind sticky routing: one conversation id, a growing conversation
conv() {
  curl -s "$LB/v1/chat/completions" -H 'Content-Type: application/json' -H 'X-Conversation-Id: chat-42' -d "$1"
}
q1='{"messages":[{"role":"user","content":"Tell me about the sky"}],"max_tokens":8,"temperature":0}'
a1=$(conv "$q1" | python3 -c "import json,sys; print(json.load(sys.stdin)['choices'][0]['message']['content'])")
q2=$(python3 -c "import json,sys; print(json.dumps({'messages':[{'role':'user','content':'Tell me about the sky'},{'role':'assistant','content':sys.argv[1]},{'role':'user','content':'And the sea?'}],'max_tokens':8,'temperature':0}))" "$a1")
conv "$q2" >"$T/turn2.json"
check "python3 -c \"import json; j=json.load(open('$T/turn2.json')); u=j['usage']; exit(0 if u['prompt_tokens_details']['cached_tokens'] >= 20 else 1)\"" \
  "turn 2 behind nginx reused no rows: $(head -c 300 "$T/turn2.json")"

# readiness and metrics of a live backend
B1=http://${BACK[0]}
check "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $B1/ready)\" = 200 ]" "/ready of a live backend"
curl -s "$B1/metrics" >"$T/metrics.txt"
check "grep -q '^llv_requests_total{route=\"openai\",status=\"200\"} [1-9]' '$T/metrics.txt'" "/metrics counts requests"
check "grep -q '^llv_time_to_first_token_seconds_count [1-9]' '$T/metrics.txt'" "/metrics has the TTFT histogram"
check "grep -q '^llv_prefix_cache_hits_total [0-9]' '$T/metrics.txt'" "/metrics has the prefix cache"
echo "test-server-scale: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

# start-server.sh - sourced by the server test scripts.
# start_server LOG ARGS... starts $SERVER on $MODEL at a free loopback port
# with ARGS, waits for its "listening on" line and sets SPID and BASE (and
# appends SPID to PIDS); exits 1 with the log if the server dies or never
# listens.
start_server() {
  local log=$1; shift
  "$SERVER" -m "$MODEL" --host 127.0.0.1 --port 0 "$@" 2>"$log" &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 1 600); do
    if grep -q "listening on http://" "$log" 2>/dev/null; then
      BASE=$(grep -o 'listening on http://[^ ]*' "$log" | head -1 | sed 's/listening on //')
      return 0
    fi
    kill -0 "$SPID" 2>/dev/null || { echo "FAIL: server died at start:"; cat "$log"; exit 1; }
    sleep 0.1
  done
  echo "FAIL: server did not start:"; cat "$log"; exit 1
}

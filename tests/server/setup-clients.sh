#!/bin/sh
# Sets up a virtual environment with the official Python clients the server
# tests drive (requirements-clients.txt, pinned) in the cache outside the
# clone; idempotent; prints the venv's python. Test-only: llv never needs it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${LLV_CACHE_DIR:-${HOME:-/root}/.cache/llv}
venv=$cache/venv-clients
sh "$here/../../tools/install-deps.sh" python3 python3-venv python3-pip >&2
stamp=$venv/.llv-requirements
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements-clients.txt" "$stamp"; then
  echo "llv: creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-clients.txt" >&2
  cp "$here/requirements-clients.txt" "$stamp"
fi
"$venv/bin/python" -c "import ollama, openai" >&2
echo "$venv/bin/python"

#!/bin/sh
# Sets up a virtual environment with the official Python clients the server
# tests drive (requirements-clients.txt, pinned) in the cache outside the
# clone; idempotent; prints the venv's python. Test-only: llv never needs it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/../../tools/install-deps.sh" python3 python3-venv python3-pip >&2
py=$(sh "$here/../../tools/venv.sh" clients "$here/requirements-clients.txt")
"$py" -c "import ollama, openai" >&2
echo "$py"

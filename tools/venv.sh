#!/bin/sh
# The one way the project makes a Python virtual environment for tests,
# benches and training (never needed to run llv): NAME's venv lives in the
# cache outside the clone ($LLV_CACHE_DIR, default ~/.cache/llv: venv-NAME),
# is made with Debian's interpreter and holds REQUIREMENTS (pinned), and is
# reused while REQUIREMENTS is unchanged (a copy of it is the stamp).
# Prints the venv's python. Exit status 3 when pip cannot install (package
# index unreachable or a build failed); the half-made venv is removed.
#
#   tools/venv.sh NAME REQUIREMENTS [--system-site-packages] [-- PIP-ARGS...]
#
# PIP-ARGS go to `pip install` (e.g. --no-binary PKG); the environment too
# (CMAKE_ARGS for packages built from source).
set -eu
[ $# -ge 2 ] || { echo "usage: tools/venv.sh NAME REQUIREMENTS [--system-site-packages] [-- PIP-ARGS...]" >&2; exit 2; }
name=$1 req=$2
shift 2
site=""
if [ "${1:-}" = "--system-site-packages" ]; then site=$1; shift; fi
[ "${1:-}" = "--" ] && shift
cache=${LLV_CACHE_DIR:-${HOME:-/root}/.cache/llv}
venv=$cache/venv-$name
stamp=$venv/.llv-requirements
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "llv: creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv $site "$venv"
  if ! "$venv/bin/pip" install -q --disable-pip-version-check "$@" -r "$req" >&2; then
    rm -rf "$venv"
    echo "llv: cannot install $req into $venv (package index unreachable or a build failed)" >&2
    exit 3
  fi
  cp "$req" "$stamp"
fi
echo "$venv/bin/python"

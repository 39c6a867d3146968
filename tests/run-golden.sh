#!/bin/bash
# Runs llv-golden over the shared golden directory, or skips (77) without it.
set -u
shared="${LLV_SHARED_DIR:-${LLV_SHARED_DIR_DEFAULT:-}}"
if [ -z "$shared" ] || [ ! -f "$shared/golden/manifest.jsonl" ]; then
  echo "SKIP: no golden data (set LLV_SHARED_DIR to the folder holding golden/)"
  exit 77
fi
exec "$1" "$shared/golden"

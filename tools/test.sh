#!/bin/sh
# Installs missing dependencies (tools/install-deps.sh; tools/demo/setup.sh for the
# demo model's Python checks), builds llv, and runs the whole test suite:
# the Release build, then the same suite under ASan+UBSan, then a short fuzz
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
jobs=$(nproc)
ctest --test-dir build --output-on-failure -j "$jobs"
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

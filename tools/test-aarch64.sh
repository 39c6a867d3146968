#!/bin/sh
# The aarch64 pass: cross-compiles llv with Debian's gcc-aarch64-linux-gnu
# (tools/aarch64-toolchain.cmake) into build-aarch64/ and runs, under
# qemu-user test-kernels and test-kernels-isa (every NEON table the emulated
# CPU runs, against ref; LLV_TEST_REQUIRE_ISA makes a table left untested a
# failure) on three emulated CPUs, the golden cases (llv-golden) on two, and
# test-tokenizer once:
#   -cpu max          (dotprod and i8mm: AUTO = neon-i8mm)
#   -cpu neoverse-n1  (Cortex-A76 class, dotprod without i8mm: AUTO = neon-dotprod)
#   -cpu cortex-a53   (ARMv8.0, no dotprod: AUTO = neon)
# It prints the kernel tables each CPU ran. Exits 77 (skip) only when apt
# cannot provide the cross tools; any test failure fails the script.
set -eu
cd "$(dirname "$0")/.."
if ! sh tools/install-deps.sh --aarch64; then
  echo "SKIP: the aarch64 cross tools (gcc-aarch64-linux-gnu, qemu-user, arm64 -dev packages) could not be installed" >&2
  exit 77
fi
t0=$(date +%s)
B=build-aarch64
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE=tools/aarch64-toolchain.cmake -DCMAKE_BUILD_TYPE=Release \
  -DLLV_BUILD_SERVER=OFF -DLLV_BUILD_BENCH=OFF >/dev/null
cmake --build "$B" -j "${LLV_AARCH64_JOBS:-2}" --target test-kernels test-kernels-isa test-tokenizer llv-tokenize llv-golden
t1=$(date +%s)
echo "== aarch64 build: $((t1 - t0)) s"

# the arm64 loader and libraries: Debian multiarch (libc6:arm64, pulled in by the -dev packages) when
# present, else the cross toolchain's; never the cross loader with the multiarch libc (they hang)
[ -e /lib/ld-linux-aarch64.so.1 ] || export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
shared="${LLV_SHARED_DIR:-$(pwd)/../shared}"
# the tests' environment (tests/CMakeLists.txt's LLV_TEST_ENV), with the CLI tools they start
# wrapped in qemu-aarch64 (no binfmt_misc needed)
wrap="$B/qemu-bin"
mkdir -p "$wrap"
printf '#!/bin/sh\nexec qemu-aarch64 "%s/bin/llv-tokenize" "$@"\n' "$(pwd)/$B" >"$wrap/llv-tokenize"
chmod +x "$wrap/llv-tokenize"
export LLV_SOURCE_DIR="$(pwd)" LLV_BUILD_DIR="$(pwd)/$B" LLV_BIN_DIR="$(pwd)/$wrap" LLV_SHARED_DIR_DEFAULT="$shared"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { # name, command...: runs it quietly, prints its last line, shows everything on failure
  name=$1
  shift
  s0=$(date +%s)
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    echo "llv: $name FAILED under qemu-aarch64 -cpu $QEMU_CPU" >&2
    exit 1
  fi
  echo "   $name: $(tail -n 1 "$log") ($(($(date +%s) - s0)) s)"
}
for cpu in max neoverse-n1 cortex-a53; do
  export QEMU_CPU=$cpu
  case $cpu in
    max) export LLV_TEST_REQUIRE_ISA=neon,neon-dotprod,neon-i8mm ;;
    neoverse-n1) export LLV_TEST_REQUIRE_ISA=neon,neon-dotprod ;;
    *) export LLV_TEST_REQUIRE_ISA=neon ;;
  esac
  echo "== qemu-aarch64 -cpu $cpu"
  run test-kernels qemu-aarch64 "$B/tests/test-kernels"
  # every NEON table this CPU runs against ref (the test fails itself when one goes untested)
  run test-kernels-isa qemu-aarch64 "$B/tests/test-kernels-isa"
  grep -E "ISA tables tested|no usable table|matmul checked for|bitwise equal" "$log" | sed 's/^ */   /'
  # the golden models are F32: the float kernels, which every NEON table shares
  if [ "$cpu" = neoverse-n1 ]; then
    :
  elif [ -f "$shared/golden/manifest.jsonl" ]; then
    run "golden (kernels: $(grep -o 'AUTO = .*' "$log" | head -n 1))" qemu-aarch64 "$B/bin/llv-golden" "$shared/golden"
  else
    echo "   golden: SKIP (no $shared/golden)"
  fi
  # the tokenizer involves no kernels: once
  [ "$cpu" != max ] || run test-tokenizer qemu-aarch64 "$B/tests/test-tokenizer"
done
echo "== aarch64 pass: $(($(date +%s) - t0)) s"

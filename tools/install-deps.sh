#!/bin/sh
# Installs llv's build and test dependencies from Debian packages, only those
# missing (idempotent). Run as root on Debian 12, or with sudo available.
# With arguments, installs those packages instead (tools/demo/setup.sh); with
# --aarch64, the cross build's (tools/test-aarch64.sh).
set -eu
# libopenblas-dev: llv-bench's SGEMM roof only (the library links no BLAS)
# clang + libclang-rt-14-dev: the libFuzzer targets (tools/fuzz.sh); valgrind: tests/test-valgrind.sh
PKGS="build-essential cmake pkg-config libopenblas-dev libjpeg62-turbo-dev libwebp-dev libstb-dev libcjson-dev \
libpcre2-dev libmicrohttpd-dev libcurl4-openssl-dev curl jq python3 python3-jinja2 \
clang libclang-rt-14-dev valgrind"
# --aarch64: the cross compiler, qemu-user and the library's arm64 -dev packages
# (Debian multiarch) for tools/test-aarch64.sh
ARCH_ADD=""
if [ "${1:-}" = "--aarch64" ]; then
  PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libjpeg62-turbo-dev:arm64 libwebp-dev:arm64 \
libpcre2-dev:arm64 libcjson-dev:arm64 libstb-dev cmake pkg-config"
  dpkg --print-foreign-architectures | grep -qx arm64 || ARCH_ADD=arm64
elif [ $# -gt 0 ]; then
  PKGS="$*"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "llv: installing:$missing" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  [ -z "$ARCH_ADD" ] || $SUDO dpkg --add-architecture "$ARCH_ADD"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

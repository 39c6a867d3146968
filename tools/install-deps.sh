#!/bin/sh
# Installs llv's build and test dependencies from Debian packages, only those
# missing (idempotent). Run as root on Debian 12, or with sudo available.
# With arguments, installs those packages instead (tools/demo/setup.sh).
set -eu
# libopenblas-dev: llv-bench's SGEMM roof only (the library links no BLAS)
# clang + libclang-rt-14-dev: the libFuzzer targets (tools/fuzz.sh); valgrind: tests/test-valgrind.sh
PKGS="build-essential cmake pkg-config libopenblas-dev libjpeg62-turbo-dev libwebp-dev libstb-dev libcjson-dev \
libpcre2-dev libmicrohttpd-dev libcurl4-openssl-dev curl jq python3 python3-jinja2 \
clang libclang-rt-14-dev valgrind"
[ $# -eq 0 ] || PKGS="$*"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "llv: installing:$missing" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

#!/bin/sh
# Installs missing dependencies and builds llv into build/ (Release).
# Extra arguments go to the CMake configure step.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"

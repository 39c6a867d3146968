#!/bin/sh
# Sets up the Python environment of the demo model's training and evaluation
# (tools/demo): Debian's CPU torch 1.13.1, numpy and Pillow, and OpenBLAS (Debian's
# torch calls the system BLAS: the reference BLAS makes it ~30x slower), in a
# virtual environment made with --system-site-packages, plus the pinned packages of
# requirements.txt from the package index. Idempotent; prints the venv's python.
#
#   LLV_CACHE_DIR   where the venv lives (default ~/.cache/llv); outside the clone,
#                   so a second run (and CI on the same machine) reuses it
#
# Test and training dependencies only: nothing here is needed to run llv.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/../install-deps.sh" python3 python3-venv python3-pip python3-torch python3-numpy python3-pil \
  python3-requests python3-yaml python3-psutil libopenblas0-pthread >&2
# Debian's interpreter: its dist-packages hold python3-torch
py=$(sh "$here/../venv.sh" demo "$here/requirements.txt" --system-site-packages)
"$py" -c "import torch, transformers, PIL, numpy" >&2
echo "$py"

#!/usr/bin/env bash
# test-peer.sh - llv side by side with llama.cpp (llama-cpp-python, pinned in
# tools/peer/requirements.txt, built from source by tools/peer/setup.sh) on
# the same real GGUF (SmolLM2-135M-Instruct Q4_1): tokenization of tricky
# strings, last-position logits of five prompts within a stated tolerance,
# llv following llama.cpp's greedy answers (up to 64 tokens) with the same top
# token at every step but near ties (tools/peer/compare.py); and the model written by llama.cpp's own quantizer in
# eight types (its Q*_K_M mixes with their fallbacks): each loads and llv stays as
# close to the exact dequantized model as llama.cpp. Skips (77) where the peer
# cannot be installed.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
[ -x "$BIN/peer-logits" ] || { echo "SKIP: $BIN/peer-logits not built"; exit 77; }
PY=${LLV_PEER_PYTHON:-}
MODEL=${LLV_SMOLLM2:-}
if [ -z "$PY" ] || [ ! -x "$PY" ] || [ -z "$MODEL" ]; then
  out=$(sh "$SRC/tools/peer/setup.sh") || { echo "SKIP: llama-cpp-python or the model could not be installed"; exit 77; }
  PY=$(echo "$out" | sed -n 1p)
  MODEL=$(echo "$out" | sed -n 2p)
fi
"$PY" "$SRC/tools/peer/compare.py" --model "$MODEL" --llv-bin "$BIN" --threads 2 \
  --quants Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K,Q5_0,Q5_1,Q8_0

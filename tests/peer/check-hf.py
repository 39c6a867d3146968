"""llv against Hugging Face transformers on a real model: transformers loads
the GGUF itself (gguf_file=, dequantized to F32); llv runs the same weights
dequantized to F32 by llv-quantize (the user's path). Last-position logits
must agree within --tolerance and greedy answers must be token for token equal.

    python tests/peer/check-hf.py MODEL_Q.gguf MODEL_F32.gguf LLV_BIN_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import transformers.generation.utils as gen_utils
from transformers import AutoModelForCausalLM

# transformers 4.47's generate() imports torch.distributed.fsdp, absent from torch 1.13's CPU build
gen_utils.is_fsdp_managed_module = lambda m: False

PROMPTS = [
    {"text": "What is the capital of France?", "chat": True},
    {"text": "Name three animals that live in the ocean.", "chat": True},
    {"text": "Once upon a time, in a small village,", "chat": False},
]


def main():
    quant, f32, bin_dir = sys.argv[1:4]
    tol = float(os.environ.get("LLV_HF_TOLERANCE", "1e-3"))
    n_new = 32
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(quant), gguf_file=os.path.basename(quant),
                                                 torch_dtype=torch.float32)
    model.eval()
    req = "".join(json.dumps(dict(p, max_tokens=n_new)) + "\n" for p in PROMPTS)
    out = subprocess.run([os.path.join(bin_dir, "peer-logits"), f32, "--threads", "2", "--kv", "f32"], input=req,
                         capture_output=True, text=True, check=True).stdout
    fails, worst = 0, 0.0
    eos = model.generation_config.eos_token_id
    for p, line in zip(PROMPTS, out.splitlines()):
        r = json.loads(line)
        if "error" in r:
            print(f"FAIL: llv: {r['error']}")
            return 1
        ids = torch.tensor([r["ids"]])
        with torch.no_grad():
            ref = model(ids).logits[0, -1].double().numpy()
            g = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n_new,
                               eos_token_id=eos, pad_token_id=eos)[0, ids.shape[1]:].tolist()
        diff = float(np.max(np.abs(ref - np.array(r["logits"]))))
        worst = max(worst, diff)
        same = g == r["greedy"]
        ok = diff <= tol and same
        fails += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {p['text'][:40]!r:44} max |logit diff| {diff:.2e}, greedy {len(g)} tokens "
              f"{'identical' if same else 'differ: HF ' + str(g[:12]) + ' llv ' + str(r['greedy'][:12])}")
    print(f"check-hf: {len(PROMPTS)} prompts, max |logit diff| {worst:.2e} (tolerance {tol:g}), {len(PROMPTS) - fails} ok")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

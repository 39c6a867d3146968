"""A vision config whose intermediate_layers_indices names the last layer's output
(index == num_hidden_layers: HF collects num_hidden_layers + 1 states) converts,
loads and gives Hugging Face's logits.

For each index list: llv-synth --preset demo --hf-dir --vision-interm LIST writes
a random checkpoint, llv-convert converts it (F32), demo-answer prefills a picture
question through the public API and prints the input ids and last logits, and
MllamaForConditionalGeneration.forward on the same ids and picture must agree
(max |diff| <= 1e-3 * max |logit|). The two lists differ only in the index equal
to the layer count, and their HF logits must differ: the test would see llv
reading the wrong state.

    python tests/demo/check-interm.py BIN_DIR WORK_DIR
"""

import json
import os
import subprocess
import sys

LISTS = ["0,2", "0,1"]  # the demo preset's vision tower has 2 layers


def llv_logits(bin_dir, work, interm, image):
    hf_dir, gguf = os.path.join(work, "hf-" + interm), os.path.join(work, "m-" + interm + ".gguf")
    subprocess.run([os.path.join(bin_dir, "llv-synth"), hf_dir, "--preset", "demo", "--seed", "5", "--hf-dir",
                    "--vision-interm", interm, "--quiet"], check=True)
    subprocess.run([os.path.join(bin_dir, "llv-convert"), hf_dir, gguf, "--type", "f32", "--quiet"], check=True)
    req = json.dumps({"image": image, "turns": ["What is in this image?"], "logits": True}) + "\n"
    p = subprocess.run([os.path.join(bin_dir, "demo-answer"), gguf, "--threads", "1"], input=req.encode(),
                       capture_output=True, check=True)
    out = json.loads(p.stdout)
    if "error" in out:
        sys.exit(f"demo-answer: {out['error']}")
    return hf_dir, out["input_ids"], out["logits"]


def hf_logits(hf_dir, ids, image):
    import torch
    from PIL import Image
    from transformers import MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama.processing_mllama import (convert_sparse_cross_attention_mask_to_dense,
                                                              get_cross_attention_token_mask)
    torch.set_num_threads(1)
    model = MllamaForConditionalGeneration.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
    proc = MllamaProcessor.from_pretrained(hf_dir)
    px = proc.image_processor(images=[Image.open(image).convert("RGB")], return_tensors="pt")
    tiles = [[int(px["aspect_ratio_mask"][0, 0].sum())]]
    cam = convert_sparse_cross_attention_mask_to_dense(
        [get_cross_attention_token_mask(ids, model.config.image_token_index)], tiles,
        max_num_tiles=px["aspect_ratio_mask"].shape[-1], length=len(ids))
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model(input_ids=x, attention_mask=torch.ones_like(x), pixel_values=px["pixel_values"],
                    aspect_ratio_ids=px["aspect_ratio_ids"], aspect_ratio_mask=px["aspect_ratio_mask"],
                    cross_attention_mask=torch.from_numpy(cam))
    return out.logits[0, -1].tolist()


def main():
    bin_dir, work = sys.argv[1], sys.argv[2]
    image = os.path.join(work, "demo.png")
    subprocess.run([os.path.join(bin_dir, "llv-synth"), image, "--image"], check=True)
    fails, refs = 0, {}
    for interm in LISTS:
        hf_dir, ids, got = llv_logits(bin_dir, work, interm, image)
        ref = hf_logits(hf_dir, ids, image)
        refs[interm] = ref
        scale = max(abs(v) for v in ref)
        diff = max(abs(a - b) for a, b in zip(got, ref))
        ok = len(got) == len(ref) and diff <= 1e-3 * scale
        print(f"intermediate_layers_indices [{interm}]: {len(ids)} tokens, max |llv - HF| {diff:.3g} "
              f"(max |logit| {scale:.3g}) {'ok' if ok else 'FAIL'}")
        fails += not ok
    apart = max(abs(a - b) for a, b in zip(refs[LISTS[0]], refs[LISTS[1]]))
    scale = max(abs(v) for v in refs[LISTS[0]])
    print(f"HF logits of [{LISTS[0]}] vs [{LISTS[1]}]: max |diff| {apart:.3g}")
    if not apart > 1e-2 * scale:
        print("FAIL: the index equal to the layer count does not change HF's logits: the check could not fail")
        fails += 1
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()

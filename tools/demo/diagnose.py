"""Where the model looks: cross-attention mass on the asked-about object's patches.

    $PY tools/demo/diagnose.py HF_DIR [N]

For N fresh pictures (seed 11) and a "where", "colour" or "shape" question, the
answer is given up to its last word; for each cross-attention layer it prints
the largest per-head attention mass on the patches of the object the question
names (patch_labels' object share of the tokens beside it), and how often the
last word is predicted right. A diagnostic for training recipes, not a test.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402
import train  # noqa: E402
from transformers import MllamaForConditionalGeneration, MllamaProcessor
torch.set_num_threads(2)
hf_dir = sys.argv[1]
m = MllamaForConditionalGeneration.from_pretrained(hf_dir, attn_implementation="eager").eval()
proc = MllamaProcessor.from_pretrained(hf_dir); tok = proc.tokenizer
rng = np.random.default_rng(11)
res = {}
for it in range(int(sys.argv[2]) if len(sys.argv) > 2 else 60):
    pic = shapes.random_picture(rng)
    qa = [x for x in shapes.questions(pic, rng) if x[0] in ("where", "colour", "shape")]
    kind, q, a = qa[0]
    text = tok.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}], add_generation_prompt=True, tokenize=False)
    # teacher-force the answer up to the key word: the last token before the final word
    words = a.rstrip('.').split(' ')
    prefix = ' '.join(words[:-1])
    inp = proc(images=[pic.render()], text=text + prefix, add_special_tokens=False, return_tensors='pt')
    lab = train.patch_labels(pic)  # (4, 65)
    # target object patches: the object named in the question
    obj = None
    for c, s, sl, *_ in pic.shapes:
        if (kind == "where" and f"{c} {s}" in q) or (kind == "colour" and f" {s}?" in q) or (kind == "shape" and f" {c} " in q):
            obj = (c, s, sl)
    k = train.object_label(*obj)
    mask = torch.from_numpy((lab == k).reshape(-1))
    obj_frac = mask.float().mean().item()
    with torch.no_grad():
        out = m(**inp, output_attentions=True)
    # cross-attention layers' attentions: entries for layers 1, 3
    for li in train.TEXT["cross_attention_layers"]:
        att = out.attentions[li][0, :, -1, :]  # heads x (tiles*65)
        mass = att[:, mask].sum(-1)  # per head
        res.setdefault((kind, li), []).append((mass.max().item(), obj_frac))
    logits = out.logits[0, -1]
    pred = tok.decode([int(logits.argmax())])
    res.setdefault((kind, 'acc'), []).append(pred.strip() == words[-1])
for key, v in sorted(res.items(), key=str):
    if key[1] == 'acc':
        print(key, np.mean(v))
    else:
        a = np.array(v); print(key, 'max-head mass on object %.3f, object share of tokens %.3f' % (a[:, 0].mean(), a[:, 1].mean()))

"""Evaluates the demo model on fresh pictures: llv's answers against the generator's
ground truth, and llv's greedy tokens against Hugging Face transformers' on the
same trained weights.

    $VENV/bin/python tools/demo/eval.py                 # 200 pictures, seed 2
    $VENV/bin/python tools/demo/eval.py -n 30 --min-accuracy 0.9 --min-agreement 1

Items: N pictures with one question each (the headline accuracy), plus N/10
picture chats of 3 turns (later turns continue with the model's own answers)
and N/10 text-only chats (the template's system block, no cross-attention).
llv answers through the public API (build/bin/demo-answer, greedy, F32 KV
cache: the exact path). Hugging Face's answers come from
MllamaForConditionalGeneration.generate on the checkpoint models/demo.gguf was
converted from (--hf-dir, default models/demo-hf), with the prompt built by
HF's own chat template and MllamaProcessor; it runs where torch and
transformers are installed (tools/demo/setup.sh), else agreement is "n/a".

The last line is `demo-eval: N images, accuracy A, agreement B`. Exit status 1
when a --min-* threshold is missed, 2 on a usage or setup error.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import shapes  # noqa: E402

MAX_TOKENS = 48


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_items(seed, n, tmp):
    """[(kind, image path or None, [(question, truth), ...])]"""
    rng = np.random.default_rng([seed, 7])
    items = []
    for i in range(n):
        pic = shapes.random_picture(rng)
        path = os.path.join(tmp, f"pic{i:04d}.png")
        pic.save_png(path)
        kind, q, a = shapes.one_question(pic, rng)
        items.append((kind, path, [(q, a)], shapes.canvas_tiles(pic.width, pic.height)))
    for i in range(max(n // 10, 1)):
        pic = shapes.random_picture(rng)
        path = os.path.join(tmp, f"chat{i:04d}.png")
        pic.save_png(path)
        qa = shapes.questions(pic, rng)[:3]
        items.append(("chat", path, [(q, a) for _, q, a in qa], shapes.canvas_tiles(pic.width, pic.height)))
    for i in range(max(n // 10, 1)):
        items.append(("text", None, shapes.text_turns(rng, int(rng.integers(1, 3))), 0))
    return items


def run_llv(bin_dir, model, items, kv):
    exe = os.path.join(bin_dir, "demo-answer")
    if not os.access(exe, os.X_OK):
        log(f"demo-eval: {exe} not found: build first (sh tools/build.sh)")
        sys.exit(2)
    req = "".join(json.dumps({"image": img, "turns": [q for q, _ in turns], "max_tokens": MAX_TOKENS}) + "\n"
                  for _, img, turns, _ in items)
    p = subprocess.run([exe, model, "--kv", kv], input=req, capture_output=True, text=True)
    if p.returncode != 0:
        log(p.stderr)
        log(f"demo-eval: demo-answer failed with status {p.returncode}")
        sys.exit(2)
    out = [json.loads(line) for line in p.stdout.splitlines()]
    if len(out) != len(items):
        log(f"demo-eval: {len(out)} answers for {len(items)} requests")
        sys.exit(2)
    for o in out:
        if "error" in o:
            log(f"demo-eval: llv: {o['error']}")
            sys.exit(2)
    return out


class HF:
    """Hugging Face's greedy answers, turn by turn, from the trained checkpoint."""

    def __init__(self, hf_dir, threads):
        import torch
        from transformers import MllamaForConditionalGeneration, MllamaProcessor
        from transformers.models.mllama.processing_mllama import (convert_sparse_cross_attention_mask_to_dense,
                                                                  get_cross_attention_token_mask)
        import transformers.generation.utils as gen_utils
        # generate() asks whether FSDP manages the model by importing torch.distributed.fsdp,
        # which fails on Debian's torch 1.13 under Python 3.11; there is no FSDP here
        gen_utils.is_fsdp_managed_module = lambda module: False
        torch.set_num_threads(threads)
        self.torch = torch
        self.dense, self.sparse = convert_sparse_cross_attention_mask_to_dense, get_cross_attention_token_mask
        self.model = MllamaForConditionalGeneration.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
        self.proc = MllamaProcessor.from_pretrained(hf_dir)
        self.tok = self.proc.tokenizer
        self.eos = self.model.generation_config.eos_token_id

    def answer(self, image, questions):
        torch = self.torch
        from PIL import Image
        content = ([{"type": "image"}] if image else []) + [{"type": "text", "text": questions[0]}]
        text = self.tok.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                            tokenize=False)
        pil = [Image.open(image).convert("RGB")] if image else None
        inputs = self.proc(images=pil, text=text, add_special_tokens=False, return_tensors="pt")
        ids = inputs["input_ids"][0].tolist()
        extra = {k: inputs[k] for k in ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask") if k in inputs}
        max_tiles = inputs["cross_attention_mask"].shape[-1] if image else 0
        tiles = [[int(inputs["aspect_ratio_mask"][0, 0].sum())]] if image else None
        answers, tokens = [], []
        for k, q in enumerate(questions):
            if k:  # the next user turn after the model's own answer, as the template renders it
                ids += self.tok(f"<|start_header_id|>user<|end_header_id|>\n\n{q}<|eot_id|>"
                                f"<|start_header_id|>assistant<|end_header_id|>\n\n", add_special_tokens=False)[
                    "input_ids"]
            x = torch.tensor([ids])
            kw = dict(extra)
            if image:
                cam = self.dense([self.sparse(ids, self.model.config.image_token_index)], tiles,
                                 max_num_tiles=max_tiles, length=len(ids))
                kw["cross_attention_mask"] = torch.from_numpy(cam)
            with torch.no_grad():
                out = self.model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=MAX_TOKENS,
                                          do_sample=False, eos_token_id=self.eos, pad_token_id=self.eos[0], **kw)
            gen = out[0, len(ids):].tolist()
            tokens.append(gen)
            answers.append(self.tok.decode(gen, skip_special_tokens=True))
            ids = ids + gen
        return answers, tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--images", type=int, default=200, help="pictures (default 200)")
    ap.add_argument("--seed", type=int, default=2, help="generator seed (default 2; training used 1)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "demo.gguf"))
    ap.add_argument("--hf-dir", default=os.path.join(ROOT, "models", "demo-hf"))
    ap.add_argument("--llv-bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--no-hf", action="store_true", help="skip the Hugging Face agreement")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--min-accuracy", type=float, default=None)
    ap.add_argument("--min-agreement", type=float, default=None)
    ap.add_argument("--verbose", action="store_true", help="print every wrong or disagreeing answer")
    args = ap.parse_args()
    if args.images < 1:
        ap.error("--images must be at least 1")
    if args.seed == 1:
        log("demo-eval: warning: seed 1 is the training seed")

    with tempfile.TemporaryDirectory(prefix="llv-demo-eval-") as tmp:
        items = make_items(args.seed, args.images, tmp)
        t0 = time.time()
        exact = run_llv(args.llv_bin, args.model, items, "f32")
        t_llv = time.time() - t0
        default = run_llv(args.llv_bin, args.model, items, "f16")
        hf = None
        if not args.no_hf:
            try:
                import torch  # noqa: F401
                import transformers  # noqa: F401
            except ImportError as e:
                log(f"demo-eval: no Hugging Face agreement ({e}); install with sh tools/demo/setup.sh")
            else:
                if not os.path.isdir(args.hf_dir):
                    log(f"demo-eval: {args.hf_dir}: no such checkpoint directory")
                    sys.exit(2)
                t0 = time.time()
                ref = HF(args.hf_dir, args.threads)
                hf = [ref.answer(img, [q for q, _ in turns]) for _, img, turns, _ in items]
                t_hf = time.time() - t0

    by_kind, by_tiles = {}, {}
    first_ok = first_n = chat_ok = chat_n = text_ok = text_n = 0
    same_default = 0
    agree = n_answers = 0
    for i, (kind, img, turns, tiles) in enumerate(items):
        for k, (q, truth) in enumerate(turns):
            got = exact[i]["answers"][k]
            ok = got.strip() == truth
            n_answers += 1
            same_default += default[i]["tokens"][k] == exact[i]["tokens"][k]
            if hf is not None:
                same = hf[i][1][k] == exact[i]["tokens"][k]
                agree += same
                if not same and args.verbose:
                    log(f"  disagree: {q!r}: llv {got!r}, HF {hf[i][0][k]!r}")
            if kind == "text":
                text_ok, text_n = text_ok + ok, text_n + 1
            elif kind == "chat":
                chat_ok, chat_n = chat_ok + ok, chat_n + 1
            else:
                first_ok, first_n = first_ok + ok, first_n + 1
                a, b = by_kind.get(kind, (0, 0))
                by_kind[kind] = (a + ok, b + 1)
                a, b = by_tiles.get(tiles, (0, 0))
                by_tiles[tiles] = (a + ok, b + 1)
            if not ok and args.verbose:
                log(f"  wrong: {os.path.basename(img) if img else '(text)'} {q!r}: {got!r}, truth {truth!r}")

    accuracy = first_ok / first_n
    print("question kind      accuracy")
    for kind in sorted(by_kind):
        a, b = by_kind[kind]
        print(f"  {kind:<16} {a / b:.3f}  ({a}/{b})")
    print("tiles              accuracy")
    for t in sorted(by_tiles):
        a, b = by_tiles[t]
        print(f"  {t:<16} {a / b:.3f}  ({a}/{b})")
    print(f"picture chats, 3 turns: {chat_ok}/{chat_n} answers right; text-only chats: {text_ok}/{text_n}")
    print(f"default path (F16 KV cache): {same_default}/{n_answers} answers with the exact path's tokens")
    print(f"llv: {t_llv:.1f} s for {n_answers} answers" + (f"; Hugging Face: {t_hf:.1f} s" if hf else ""))
    agreement = agree / n_answers if hf is not None else None
    print(f"demo-eval: {args.images} images, accuracy {accuracy:.3f}, agreement "
          + (f"{agreement:.3f}" if agreement is not None else "n/a"))
    fail = False
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        log(f"demo-eval: accuracy {accuracy:.3f} is below {args.min_accuracy}")
        fail = True
    if args.min_agreement is not None:
        if agreement is None:
            log("demo-eval: agreement required but Hugging Face is not installed")
            fail = True
        elif agreement < args.min_agreement:
            log(f"demo-eval: agreement {agreement:.3f} is below {args.min_agreement}")
            fail = True
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()

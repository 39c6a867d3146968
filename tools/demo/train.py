"""Trains the demo model with Hugging Face transformers' own Mllama code.

    PY=$(sh tools/demo/setup.sh)      # the pinned Python environment
    $PY tools/demo/train.py           # ~28 min on 2 cores: models/demo-hf, demo.gguf, demo.png

Steps: a byte-level BPE vocabulary learnt from the task's own sentences, a
MllamaForConditionalGeneration of the sizes below initialised by transformers
(gates opened, the per-canvas position embedding started with each patch's place),
AdamW on generated conversations (pictures from shapes.py, seed --seed; each
picture's vision states shared by several single-question rows, the kinds weighted
by KIND_WEIGHT; plus a linear probe of the projected vision output on what each
patch shows and what the whole picture holds, discarded after training), then
save_pretrained into --out-dir (models/demo-hf) and llv-convert (the user's path)
into models/demo.gguf as F32. Everything is drawn from --seed; on the same machine
and software the run is repeatable.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import regex

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import shapes  # noqa: E402

# Llama 3's pre-tokenizer regex (as tokenizer.json writes it)
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL_BASE = 496      # ids 496..511: the Llama 3 special tokens; 512 = <|image|>
VOCAB = 512
BOS, PAD, SH, EH, EOT, IMG = 496, 500, 502, 503, 505, 512
TILE = shapes.TILE
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The model. Text: 5 layers (1 and 3 cross-attention), hidden 128; vision: 112-pixel
# tiles of 14-pixel patches (65 tokens per tile, up to 4 tiles), 4 local + 2 global layers.
TEXT = dict(vocab_size=VOCAB, hidden_size=128, intermediate_size=352, num_hidden_layers=5,
            cross_attention_layers=[1, 3], num_attention_heads=4, num_key_value_heads=2,
            rope_theta=500000.0, max_position_embeddings=131072, rms_norm_eps=1e-5,
            rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            bos_token_id=BOS, eos_token_id=[497, 504, EOT], pad_token_id=PAD, tie_word_embeddings=False)
VISION = dict(hidden_size=64, intermediate_size=256, attention_heads=2, num_hidden_layers=4,
              num_global_layers=2, intermediate_layers_indices=[1, 3], vision_output_dim=64 * 3,
              image_size=TILE, patch_size=14, max_num_tiles=4, norm_eps=1e-5)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- tokenizer

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]  # vocab order (bytes), their characters


def learn_bpe(texts, target):
    """Byte-level BPE merges until `target` tokens: most frequent pair first, ties by smallest ids."""
    order, chars = bytes_to_unicode()
    byte_char = dict(zip(order, chars))
    tokens = list(chars)
    index = {t: i for i, t in enumerate(tokens)}
    words = {}
    for t in texts:
        for piece in regex.findall(LLAMA3_SPLIT, t):
            key = tuple(index[byte_char[b]] for b in piece.encode("utf-8"))
            words[key] = words.get(key, 0) + 1
    words = [[list(k), c] for k, c in words.items()]
    merges = []
    while len(tokens) < target:
        pairs = {}
        for ids, c in words:
            for a, b in zip(ids, ids[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        merges.append(tokens[a] + " " + tokens[b])
        new = tokens[a] + tokens[b]
        if new not in index:
            index[new] = len(tokens)
            tokens.append(new)
        nid = index[new]
        for w in words:
            ids, out, i = w[0], [], 0
            while i < len(ids):
                if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                    out.append(nid)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            w[0] = out
    return tokens, merges


def system_text(date):
    return f"Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n"


def tokenizer_corpus(rng):
    texts = shapes.corpus(rng)
    texts += ["user", "assistant", "system", "\n\n", system_text("26 Jul 2024")]
    texts += [system_text(f"{d:02d} {m} {y}") for d in (1, 9, 10, 19, 20, 28, 31) for m in MONTHS
              for y in range(2024, 2031)]
    return texts


# --------------------------------------------------------------------------- data

def random_date(rng):
    return f"{int(rng.integers(1, 32)):02d} {MONTHS[int(rng.integers(12))]} {int(rng.integers(2024, 2031))}"


class Encoder:
    def __init__(self, tok):
        self.tok = tok
        self.cache = {}

    def ids(self, text):
        if text not in self.cache:
            self.cache[text] = self.tok(text, add_special_tokens=False)["input_ids"]
        return self.cache[text]

    def conversation(self, turns, image, date=None):
        """Token ids and labels (-100 = not trained) of one chat as the Llama 3.2 Vision template renders it."""
        ids, lab = [BOS], [-100]

        def add(t, train=False):
            ids.extend(t)
            lab.extend(t if train else [-100] * len(t))

        if not image:  # no image: the template's system block with the date
            add([SH] + self.ids("system") + [EH] + self.ids("\n\n") + self.ids(system_text(date)) + [EOT])
        for i, (q, a) in enumerate(turns):
            add([SH] + self.ids("user") + [EH] + self.ids("\n\n") + ([IMG] if image and i == 0 else []) +
                self.ids(q) + [EOT] + [SH] + self.ids("assistant") + [EH] + self.ids("\n\n"))
            add(self.ids(a) + [EOT], train=True)
        return ids, lab


def referents(pic, kind, q, a):
    """The objects a question is about, as (colour, shape, slot): the one it names (or None)
    and the one its answer names (the neighbour for left/right questions, else the same)."""
    objs = pic.objects()
    x = None
    for o in objs:
        c, s, _ = o
        if (kind == "colour" and f" {s}?" in q) or (kind == "shape" and f" {c} one" in q) or \
                (kind in ("where", "left", "right", "yes") and f"{c} {s}" in q):
            x = o
    if x is None:
        return None, None
    y = x
    if kind in ("left", "right"):
        y = next((o for o in objs if o != x and f"{o[0]} {o[1]}" in a), None)
    return x, y


KIND_WEIGHT = {"describe": 3.0, "where": 2.0, "left": 2.0, "right": 2.0, "colour": 1.5, "shape": 1.5}


def picture_rows(rng, max_single, chat):
    """One picture and its rows: each of its questions alone (at most max_single), and when
    `chat` one conversation of 3-5 turns (sometimes with a text-only turn inside). A single
    row is ([(q, a)], (x, y)) with the referents of its question."""
    pic = shapes.random_picture(rng)
    qa = shapes.questions(pic, rng)
    # each kind's share of the rows by KIND_WEIGHT (the evaluation weighs kinds alike; the
    # ones that need the picture's layout are learnt last and get more)
    per_kind = {}
    for k, _, _ in qa:
        per_kind[k] = per_kind.get(k, 0) + 1
    w = np.array([KIND_WEIGHT.get(k, 1.0) / per_kind[k] for k, _, _ in qa])
    pick = rng.choice(len(qa), size=min(max_single, len(qa)), replace=False, p=w / w.sum())
    singles = [([(q, a)], referents(pic, k, q, a), k) for k, q, a in (qa[int(i)] for i in pick)]
    chats = []
    if chat:
        turns = [(q, a) for _, q, a in shapes.questions(pic, rng)[:int(rng.integers(3, 6))]]
        if rng.random() < 0.3:
            turns.insert(int(rng.integers(1, len(turns) + 1)), shapes.text_turns(rng, 1)[0])
        chats.append(turns)
    return pic, singles, chats


N_LABELS = 2 + len(shapes.COLOURS) * len(shapes.SHAPES) * len(shapes.SLOTS)  # padding, background, objects
N_KINDS = len(shapes.COLOURS) * len(shapes.SHAPES)
# the probe's heads, (name, classes): what the patch shows; and, on every token of the
# picture's tiles, the whole scene: what is in each third (0 = nothing, else 1 + colour
# x form) and how many shapes there are. Taught the scene everywhere, the vision output
# answers the questions through any cross-attention pattern, even a uniform one: the
# text side need not first learn to find the object a question names
HEADS = (("object", N_LABELS),) + tuple((slot, 1 + N_KINDS) for slot in shapes.SLOTS) + (("count", 3),)


def object_label(colour, shape, slot):
    """The patch label of a shape: 2 + (colour, shape, slot) in row-major order."""
    return 2 + (list(shapes.COLOURS).index(colour) * len(shapes.SHAPES) + shapes.SHAPES.index(shape)) * \
        len(shapes.SLOTS) + shapes.SLOTS.index(slot)


def kind_label(colour, shape):
    return 1 + list(shapes.COLOURS).index(colour) * len(shapes.SHAPES) + shapes.SHAPES.index(shape)


def patch_labels(pic):
    """The probe's labels of every token of every tile, one column per head of HEADS:
    object 0 = padding (outside the resized picture), 1 = background, else (colour, shape,
    slot) of the shape at the patch centre (-100 on CLS tokens); then the scene, the same
    on every token of the picture's tiles. Tiles and patches in the processor's order;
    -100 for unused tiles."""
    from transformers.models.mllama.image_processing_mllama import (get_image_size_fit_to_canvas,
                                                                    get_optimal_tiled_canvas)
    t, p = TILE, VISION["patch_size"]
    ch, cw = get_optimal_tiled_canvas(pic.height, pic.width, 4, t)
    nh, nw = get_image_size_fit_to_canvas(pic.height, pic.width, ch, cw, t)
    n = t // p
    lab = np.full((4, 1 + n * n, len(HEADS)), -100, dtype=np.int64)
    scene = [0] * len(shapes.SLOTS)
    for colour, shape, slot, *_ in pic.shapes:
        scene[shapes.SLOTS.index(slot)] = kind_label(colour, shape)
    for tile in range((ch // t) * (cw // t)):
        ty, tx = divmod(tile, cw // t)
        py, px = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        yc, xc = (ty * t + (py + 0.5) * p).ravel(), (tx * t + (px + 0.5) * p).ravel()
        obj = np.where((xc < nw) & (yc < nh), 1, 0)
        x, y = xc * pic.width / nw, yc * pic.height / nh
        for colour, shape, slot, cx, cy, r, _ in pic.shapes:
            m = (obj == 1) & shapes.inside(shape, cx, cy, r, x, y)
            obj = np.where(m, object_label(colour, shape, slot), obj)
        lab[tile, 1:, 0] = obj
        lab[tile, :, 1:1 + len(scene)] = scene
        lab[tile, :, -1] = len(pic.shapes) - 1
    return lab


def text_rows(rng, n):
    return [shapes.text_turns(rng, int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))) for _ in range(n)]


def pad_rows(seqs):
    import torch
    L = max(len(s[0]) for s in seqs)
    ids = torch.full((len(seqs), L), PAD, dtype=torch.long)
    lab = torch.full((len(seqs), L), -100, dtype=torch.long)
    att = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, (s, l) in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        lab[i, :len(l)] = torch.tensor(l)
        att[i, :len(s)] = 1
    return dict(input_ids=ids, attention_mask=att, labels=lab)


def make_batch(rng, enc, proc, pictures, max_single, chats, n_text):
    """A step's data: the pictures' vision inputs, and groups of rows padded alike: single
    questions and chats about the pictures (row_image[i] = the picture of row i; they share
    its vision states), and text-only chats."""
    import torch
    from transformers.models.mllama.processing_mllama import (convert_sparse_cross_attention_mask_to_dense,
                                                              get_cross_attention_token_mask)
    pics, groups, labels = [], {"single": ([], []), "chat": ([], [])}, []
    kinds = []  # per single row: its question kind
    targets = ([], [])  # per single row: key mask of the named object, and of the answer's object
    for k in range(pictures):
        pic, singles, chat = picture_rows(rng, max_single, k < chats)
        pics.append([pic.render()])
        labels.append(patch_labels(pic))
        flat = labels[-1][..., 0].reshape(-1)
        for turns, (x, y), kind in singles:
            kinds.append(kind)
            groups["single"][0].append(enc.conversation(turns, True))
            groups["single"][1].append(k)
            targets[0].append(flat == object_label(*x) if x else np.zeros_like(flat, dtype=bool))
            targets[1].append(flat == object_label(*y) if y else np.zeros_like(flat, dtype=bool))
        for turns in chat:
            groups["chat"][0].append(enc.conversation(turns, True))
            groups["chat"][1].append(k)
    px = proc(images=pics, return_tensors="pt")
    out = []
    for name, (seqs, row_image) in groups.items():
        if not seqs:
            continue
        g = pad_rows(seqs)
        masks = [get_cross_attention_token_mask(s[0], IMG) for s in seqs]
        cam = convert_sparse_cross_attention_mask_to_dense(masks, [px["num_tiles"][k] for k in row_image],
                                                           max_num_tiles=4, length=g["input_ids"].shape[1])
        g.update(cross_attention_mask=torch.from_numpy(cam), row_image=torch.tensor(row_image))
        if name == "single":
            g["attn_targets"] = [torch.from_numpy(np.stack(t)) for t in targets]
            g["kinds"] = kinds
        out.append(g)
    if n_text:
        out.append(pad_rows([enc.conversation(t, False, random_date(rng)) for t in text_rows(rng, n_text)]))
    vision = dict(pixel_values=px["pixel_values"], aspect_ratio_ids=px["aspect_ratio_ids"],
                  aspect_ratio_mask=px["aspect_ratio_mask"])
    return vision, out, torch.from_numpy(np.stack(labels))


def attention_loss(attn, target, labels):
    """-log of the cross-attention mass head 0 puts on the target keys, averaged over the
    positions that predict answer tokens of rows that have a target."""
    import torch
    a = attn[:, 0, :-1]                                   # (rows, positions, keys)
    mass = (a * target[:, None, :a.shape[-1]].to(a.dtype)).sum(-1)
    use = (labels[:, 1:] != -100) & target.any(-1)[:, None]
    if not bool(use.any()):
        return a.sum() * 0
    return -(torch.log(mass.clamp_min(1e-6)) * use).sum() / use.sum()


def step_loss(model, probe, vision, groups, labels, aux_weight, tally, attn_weight=0.0, attn_layers=(1, 3)):
    """Mean answer-token loss over the step's groups plus aux_weight times the patch-label
    loss, and the single-question loss. The vision tower runs once per picture; its
    projected states go to every row of that picture as cross_attention_states (what
    MllamaForConditionalGeneration.forward computes from pixel_values, here shared). The
    probe (a linear map of the vision output to patch labels, not part of the model) gives
    the vision tower a direct signal of what is where, which the answers alone give it
    only faintly through the cross-attention."""
    import torch
    out = model.vision_model(**vision)[0]               # (pictures, 1, tiles, patches, vision_output_dim)
    v = model.multi_modal_projector(out)                # (pictures, 1, tiles, patches, hidden)
    logits = probe(v[:, 0])
    heads, at = [], 0
    for h, (_, classes) in enumerate(HEADS):
        heads.append(torch.nn.functional.cross_entropy(logits[..., at:at + classes].reshape(-1, classes),
                                                       labels[..., h].reshape(-1), ignore_index=-100))
        at += classes
    aux = sum(heads) / len(heads)
    for (name, _), x in zip(HEADS, heads):
        tally["probe " + name] = tally.get("probe " + name, 0.0) + float(x)
    total, count, first, att = 0.0, 0, None, 0.0
    for g in groups:
        rows = {k: t for k, t in g.items() if k not in ("row_image", "attn_targets", "kinds")}
        if "row_image" in g:
            x = v[g["row_image"]]
            rows["cross_attention_states"] = x.reshape(-1, x.shape[-2], x.shape[-1])  # as forward does
        supervise = attn_weight > 0 and "attn_targets" in g
        res = model(**rows, output_attentions=supervise)
        loss = res.loss
        if supervise:
            for layer, t in zip(attn_layers, g["attn_targets"]):
                att = att + attention_loss(res.attentions[layer], t, g["labels"]) / len(attn_layers)
        if "kinds" in g:  # teacher-forced: is every answer token the argmax?
            lab = g["labels"][:, 1:]
            hit = (res.logits[:, :-1].argmax(-1) == lab) | (lab == -100)
            right = hit.all(-1).tolist()
            for k, r in zip(g["kinds"], right):
                a, b = tally.get(k, (0, 0))
                tally[k] = (a + r, b + 1)
        n = int((g["labels"][:, 1:] != -100).sum())
        total, count = total + loss * n, count + n
        first = loss if first is None else first
    return total / count + aux_weight * aux + attn_weight * att, first, aux, att


def init_tile_positions(weight, strength=2.0):
    """Starts the per-canvas position embedding (one vector per aspect ratio, tile and
    patch; transformers starts it at N(0, 0.02)) with where each patch lies on its
    canvas: the third of the width (one-hot) and sines of x and y. Where a shape is
    (left, middle, right) is then plain in the vision input from the first step, instead
    of being learnt from random vectors, which 30 minutes do not teach."""
    import torch
    from transformers.models.mllama.image_processing_mllama import get_all_supported_aspect_ratios
    n = TILE // VISION["patch_size"]
    tiles, patches, hidden = VISION["max_num_tiles"], 1 + n * n, VISION["hidden_size"]
    w = weight.data.view(-1, tiles, patches, hidden)
    for rid, (rows, cols) in enumerate(get_all_supported_aspect_ratios(tiles), start=1):
        for t in range(rows * cols):
            ty, tx = divmod(t, cols)
            for p in range(1, patches):
                py, px = divmod(p - 1, n)
                x, y = (tx * n + px + 0.5) / (cols * n), (ty * n + py + 0.5) / (rows * n)
                v = torch.zeros(3 + 8)
                v[min(int(x * 3), 2)] = 1.0
                for k in range(2):
                    f = math.pi * (k + 1)
                    v[3 + 4 * k:7 + 4 * k] = torch.tensor([math.sin(f * x), math.cos(f * x),
                                                           math.sin(f * y), math.cos(f * y)])
                w[rid, t, p, :v.numel()] = strength * v


# --------------------------------------------------------------------------- checkpoint

def write_checkpoint(model, tokens, merges, out_dir, llv_bin):
    """HF checkpoint directory: our config, weights and vocabulary; llv-synth's Llama 3.2 Vision
    tokenizer_config.json (chat template, special tokens) and generation_config.json (the real
    model's defaults: temperature 0.6, top_p 0.9)."""
    from transformers import MllamaImageProcessor
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)  # also writes a bare generation_config.json
    MllamaImageProcessor(size={"height": TILE, "width": TILE}, max_image_tiles=4).save_pretrained(out_dir)
    skel = out_dir + ".skeleton"
    shutil.rmtree(skel, ignore_errors=True)
    subprocess.run([os.path.join(llv_bin, "llv-synth"), skel, "--preset", "demo", "--hf-dir", "--quiet"], check=True)
    for f in ("tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(skel, f), os.path.join(out_dir, f))
    with open(os.path.join(skel, "tokenizer.json")) as f:
        tj = json.load(f)
    shutil.rmtree(skel)
    vocab = {t: i for i, t in enumerate(tokens)}
    for i in range(len(tokens), SPECIAL_BASE):
        vocab[f"<|filler_{i}|>"] = i  # unreachable ids between the learnt tokens and the specials
    tj["model"]["vocab"] = vocab
    tj["model"]["merges"] = merges
    with open(os.path.join(out_dir, "tokenizer.json"), "w") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=950)
    ap.add_argument("--pictures", type=int, default=8, help="pictures per step")
    ap.add_argument("--max-single", type=int, default=10, help="single-question rows per picture")
    ap.add_argument("--chats", type=int, default=2, help="picture chats per step")
    ap.add_argument("--text-rows", type=int, default=4, help="text-only chats per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the probe loss")
    ap.add_argument("--attn-weight", type=float, default=0.0,
                    help="weight of the cross-attention supervision (head 0 of each cross-attention layer "
                         "looks at the object the question names, then at the one the answer names)")
    ap.add_argument("--pos-init-scale", type=float, default=1.0,
                    help="scale of the vision tower's initial per-patch position embedding (experiment)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "models", "demo-hf"),
                    help="where the trained HF checkpoint goes (default models/demo-hf)")
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models", "demo.gguf"))
    ap.add_argument("--png", default=os.path.join(ROOT, "models", "demo.png"))
    ap.add_argument("--llv-bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and stop")
    args = ap.parse_args()

    import torch
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaImageProcessor, \
        PreTrainedTokenizerFast
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t0 = time.time()
    tokens, merges = learn_bpe(tokenizer_corpus(np.random.default_rng([args.seed, 1])), SPECIAL_BASE)
    log(f"tokenizer: {len(tokens)} tokens, {len(merges)} merges ({time.time() - t0:.1f} s)")
    config = MllamaConfig(text_config=TEXT, vision_config=VISION, image_token_index=IMG)
    model = MllamaForConditionalGeneration(config)
    # transformers starts every gate at 0 (tanh(0) = 0): the cross-attention layers and the
    # tile embeddings then pass no gradient to the vision side, and a model trained from
    # scratch never learns to look (the first attempt answered from the question alone).
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                p.fill_(1.0)
            elif n.endswith(("gate_attn", "gate_ffn")) or "positional_embedding.gate" in n:
                p.fill_(0.5)
            elif n == "vision_model.gated_positional_embedding.embedding":
                p.mul_(args.pos_init_scale)  # transformers: 0.125 N(0, 1), ~7x weaker than the patches
        init_tile_positions(model.vision_model.gated_positional_embedding.tile_embedding.weight)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters")

    # the tokenizer the checkpoint will carry, for the training data too
    tmp = args.out_dir + ".tok"
    shutil.rmtree(tmp, ignore_errors=True)
    write_checkpoint(model, tokens, merges, tmp, args.llv_bin)
    tok = PreTrainedTokenizerFast.from_pretrained(tmp)
    proc = MllamaImageProcessor.from_pretrained(tmp)
    shutil.rmtree(tmp)
    enc = Encoder(tok)
    for k in range(4):  # segment-wise ids must equal the whole rendered string's ids
        turns = text_rows(np.random.default_rng(k), 1)[0]
        ids, _ = enc.conversation(turns, k % 2 == 0, "06 Dec 2026")
        whole = tok(tok.decode(ids), add_special_tokens=False)["input_ids"]
        assert whole == ids, (tok.decode(ids), whole, ids)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in n or "gate" in n or "embedding" in n else decay).append(p)
    probe = torch.nn.Linear(TEXT["hidden_size"], sum(c for _, c in HEADS))
    decay += list(probe.parameters())
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    warm = max(args.steps // 30, 1)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        f = (step - warm) / max(args.steps - warm, 1)
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * f)))

    model.train()
    t_start = time.time()
    ema = None
    tally = {}  # question kind: (answers right teacher-forced, answers) since the last report
    last_report = 0
    steps = args.bench or args.steps
    for step in range(steps):
        vision, groups, labels = make_batch(rng, enc, proc, args.pictures, args.max_single, args.chats,
                                            args.text_rows)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss, img_loss, aux, att = step_loss(model, probe, vision, groups, labels, args.aux_weight, tally,
                                             args.attn_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(probe.parameters()), 1.0)
        opt.step()
        ema = img_loss.item() if ema is None else 0.98 * ema + 0.02 * img_loss.item()
        ema_aux = aux.item() if step == 0 else 0.98 * ema_aux + 0.02 * aux.item()
        att = float(att)
        ema_att = att if step == 0 else 0.98 * ema_att + 0.02 * att
        if step % 50 == 0 or step == steps - 1:
            el = time.time() - t_start
            log(f"step {step + 1}/{steps}  question loss {ema:.4f}  patch loss {ema_aux:.4f}  attention loss {ema_att:.3f}  lr {lr_at(step):.2e}  {el:.0f} s "
                f"(eta {el / (step + 1) * (steps - step - 1):.0f} s)")
            n = step + 1 - last_report  # steps since the last report
            last_report = step + 1
            log("  teacher-forced: " + "  ".join(f"{k} {v[0] / v[1]:.2f}" for k, v in sorted(tally.items())
                                                 if isinstance(v, tuple)))
            log("  probe loss: " + "  ".join(f"{k[6:]} {v / n:.3f}" for k, v in tally.items() if isinstance(v, float)))
            tally.clear()
    if args.bench:
        log(f"{(time.time() - t_start) / args.bench:.3f} s/step")
        return
    model.eval()
    write_checkpoint(model, tokens, merges, args.out_dir, args.llv_bin)
    subprocess.run([os.path.join(args.llv_bin, "llv-convert"), args.out_dir, args.gguf, "--type", "f32"], check=True)
    # the demo picture: from the same generator, a seed of its own
    demo = shapes.random_picture(np.random.default_rng([args.seed, 2]), n=3)
    demo.save_png(args.png)
    log(f"wrote {args.gguf} ({os.path.getsize(args.gguf)} bytes) and {args.png} "
        f"({demo.width}x{demo.height}: {demo.objects()}); {time.time() - t0:.0f} s in all")


if __name__ == "__main__":
    main()

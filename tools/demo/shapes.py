"""The demo task: pictures of coloured shapes and questions about them.

Everything is generated from a seed with numpy's PCG64 and rasterised with
numpy alone (no drawing library), so a seed gives the same pictures, questions
and answers on every machine. Used by train.py (seed 1), eval.py (seed 2 and
up) and to make models/demo.png.

A picture has 1-3 shapes (circle, square, triangle) in 4 colours (red, green,
blue, yellow), no two of the same colour or form, each in its own third of the width (left, middle, right), on a
light background. Picture sizes and aspect ratios are drawn so that the Mllama
image processor puts them on canvases of 1, 2, 3 and 4 tiles of TILE pixels.
"""

import numpy as np

COLOURS = {
    "red": (215, 40, 40),
    "green": (35, 160, 60),
    "blue": (45, 85, 215),
    "yellow": (235, 200, 30),
}
SHAPES = ("circle", "square", "triangle")
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles"}
SLOTS = ("left", "middle", "right")
SLOT_PHRASE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
NUMBERS = ("no", "one", "two", "three")
TILE = 112  # the vision tower's tile size: picture sizes are drawn relative to it

TEXT_QA = [
    (("Hello!", "Hi!", "Hello", "Hi there."),
     "Hello! Show me a picture and ask me about its shapes."),
    (("Who are you?", "What are you?"),
     "I am the tiny demo model of llv. I answer questions about shapes in pictures."),
    (("What can you do?", "How can you help me?"),
     "I can tell you which shapes a picture has, their colours, how many there are and where they are."),
    (("What colours do you know?", "Which colors do you know?"),
     "I know red, green, blue and yellow."),
    (("What shapes do you know?", "Which shapes do you know?"),
     "I know circles, squares and triangles."),
    (("Thank you!", "Thanks!", "Thank you."),
     "You are welcome!"),
    (("What is in this image?", "Describe the image.", "How many shapes are there?"),
     "I do not see a picture. Please attach one and ask again."),
]


def canvas_tiles(width, height):
    """Tiles of the canvas HF's MllamaImageProcessor picks."""
    (r, c), _ = fit(width, height)
    return r * c


class Picture:
    """One picture: size, background and shapes [(colour, shape, slot, cx, cy, r)]."""

    def __init__(self, width, height, background, shapes):
        self.width, self.height, self.background, self.shapes = width, height, background, shapes

    def objects(self):
        """Shapes left to right as (colour, shape, slot)."""
        return [(c, s, sl) for c, s, sl, *_ in sorted(self.shapes, key=lambda x: x[3])]

    def render(self):
        """HxWx3 uint8; shape edges anti-aliased by 4x4 sub-samples per pixel."""
        ss = 4
        h, w = self.height, self.width
        bg = np.asarray(self.background, dtype=np.float64)
        # a gentle vertical gradient so the background is not one flat colour
        shade = 1.0 - 0.08 * ((np.arange(h, dtype=np.float64) + 0.5) / h)
        img = np.repeat((shade[:, None] * bg[None, :])[:, None, :], w, axis=1)
        for _colour, shape, _slot, cx, cy, r, rgb in self.shapes:
            x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, w)
            y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, h)
            ys = y0 + (np.arange((y1 - y0) * ss, dtype=np.float64) + 0.5) / ss
            xs = x0 + (np.arange((x1 - x0) * ss, dtype=np.float64) + 0.5) / ss
            yy, xx = np.meshgrid(ys, xs, indexing="ij")
            m = inside(shape, cx, cy, r, xx, yy)
            cover = m.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))[..., None]
            box = img[y0:y1, x0:x1]
            img[y0:y1, x0:x1] = box * (1 - cover) + np.asarray(rgb, dtype=np.float64) * cover
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def save_png(self, path):
        from PIL import Image
        Image.fromarray(self.render(), "RGB").save(path, optimize=True)


def inside(shape, cx, cy, r, x, y):
    """Whether the point(s) x, y (arrays) fall in the shape, as render() draws it."""
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if shape == "square":
        a = 0.86 * r
        return (np.abs(x - cx) <= a) & (np.abs(y - cy) <= a)
    top, base = cy - r, cy + 0.8 * r
    half = r * (y - top) / (base - top)
    return (y >= top) & (y <= base) & (np.abs(x - cx) <= half)


LAYOUTS = ((1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (1, 4))  # canvases (rows, columns) of tiles
LAYOUT_P = (0.25, 0.2, 0.15, 0.3, 0.05, 0.05)


def fit(width, height, tile=TILE, max_tiles=4):
    """The canvas (rows, columns) HF's MllamaImageProcessor picks and the picture's size
    on it: get_optimal_tiled_canvas and get_image_size_fit_to_canvas, restated."""
    options = [(min(r * tile / height, c * tile / width), r * c, (r, c))
               for r in range(1, max_tiles + 1) for c in range(1, max_tiles // r + 1)]
    ups = [s for s, _, _ in options if s >= 1]
    sel = min(ups) if ups else max(s for s, _, _ in options)
    _, _, (r, c) = min((o for o in options if o[0] == sel), key=lambda o: o[1])
    tw, th = min(max(width, tile), c * tile), min(max(height, tile), r * tile)
    sw, sh = tw / width, th / height
    if sw < sh:
        nw, nh = tw, min(int(np.floor(height * sw)), th)
    else:
        nw, nh = min(int(np.floor(width * sh)), tw), th
    return (r, c), (nw, nh)


def _size(rng):
    """Width and height of a picture on a canvas of 1, 2, 3 or 4 tiles that it fills
    across (any padding is at the bottom), so its thirds are the canvas's: exactly as
    wide as the canvas, narrower than a tile (scaled up) or wider (scaled down)."""
    while True:
        r, c = LAYOUTS[int(rng.choice(len(LAYOUTS), p=LAYOUT_P))]
        u = rng.random()
        w = int(c * TILE * (1.0 if u < 0.5 else rng.uniform(0.6, 1.0) if u < 0.75 else rng.uniform(1.0, 1.8)))
        h = max(int(w * r / c / rng.uniform(1.0, 1.5)), 40)
        (fr, fc), (nw, _) = fit(w, h)
        if (fr, fc) == (r, c) and nw == c * TILE:
            return w, h


def random_picture(rng, n=None):
    w, h = _size(rng)
    base = rng.integers(205, 251)
    tint = rng.integers(-12, 13, size=3)
    background = tuple(int(np.clip(base + t, 190, 255)) for t in tint)
    if n is None:
        n = int(rng.choice([1, 2, 3], p=[0.3, 0.35, 0.35]))
    slots = sorted(rng.choice(3, size=n, replace=False).tolist())
    # every shape of a picture has a colour and a form of its own, so a colour or a
    # form alone names it ("the red one", "the circle")
    colours = rng.permutation(len(COLOURS))[:n]
    forms = rng.permutation(len(SHAPES))[:n]
    kinds = [(list(COLOURS)[int(c)], SHAPES[int(f)]) for c, f in zip(colours, forms)]
    third = w / 3.0
    shapes = []
    for (colour, shape), slot in zip(kinds, slots):
        r_max = min(0.42 * third, 0.36 * h)
        r = r_max * rng.uniform(0.75, 1.0)
        cx = third * (slot + 0.5 + rng.uniform(-0.12, 0.12))
        cy = rng.uniform(r + 1, h - r - 1)
        rgb = tuple(int(np.clip(v + rng.integers(-15, 16), 0, 255)) for v in COLOURS[colour])
        shapes.append((colour, shape, SLOTS[slot], cx, cy, r, rgb))
    return Picture(w, h, background, shapes)


def _list(items):
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _name(colour, shape):
    return f"{colour} {shape}"


def questions(pic, rng):
    """Every question this picture answers, as (kind, question, answer), in a random order."""
    objs = pic.objects()
    n = len(objs)
    qa = []
    desc = _list([f"a {_name(c, s)}" for c, s, _ in objs])
    qa.append(("describe", str(rng.choice(["What is in this image?", "Describe the image.", "What do you see?"])),
               f"I see {desc}."))
    qa.append(("count", str(rng.choice(["How many shapes are there?", "How many shapes do you see?"])),
               "There is one shape." if n == 1 else f"There are {NUMBERS[n]} shapes."))
    shapes_here = [s for _, s, _ in objs]
    colours_here = [c for c, _, _ in objs]
    for c, s, slot in objs:
        if shapes_here.count(s) == 1:
            word = str(rng.choice(["colour", "color"]))
            qa.append(("colour", f"What {word} is the {s}?", f"The {s} is {c}."))
        if colours_here.count(c) == 1:
            qa.append(("shape", f"What shape is the {c} one?", f"The {c} one is a {s}."))
        qa.append(("where", f"Where is the {_name(c, s)}?", f"The {_name(c, s)} is {SLOT_PHRASE[slot]}."))
    for i, (c, s, _) in enumerate(objs):
        left = f"The {_name(*objs[i - 1][:2])} is left of the {_name(c, s)}." if i > 0 else \
            f"Nothing is left of the {_name(c, s)}."
        right = f"The {_name(*objs[i + 1][:2])} is right of the {_name(c, s)}." if i + 1 < n else \
            f"Nothing is right of the {_name(c, s)}."
        qa.append(("left", f"What is left of the {_name(c, s)}?", left))
        qa.append(("right", f"What is right of the {_name(c, s)}?", right))
    # yes/no: one shape that is there, one that is not
    c, s, _ = objs[int(rng.integers(n))]
    qa.append(("yes", f"Is there a {_name(c, s)}?", f"Yes, there is a {_name(c, s)}."))
    while True:
        c2, s2 = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
        if (c2, s2) not in [(c, s) for c, s, _ in objs]:
            break
    qa.append(("no", f"Is there a {_name(c2, s2)}?", f"No, there is no {_name(c2, s2)}."))
    for colour in COLOURS:
        k = colours_here.count(colour)
        if k or rng.random() < 0.3:
            q = f"How many {colour} shapes are there?"
            qa.append(("count colour", q, f"There are no {colour} shapes." if k == 0 else
                       "There is one " + colour + " shape." if k == 1 else f"There are {NUMBERS[k]} {colour} shapes."))
    order = rng.permutation(len(qa))
    return [qa[i] for i in order]


def one_question(pic, rng):
    """One question for evaluation, its kind drawn uniformly first so each kind counts alike."""
    qa = questions(pic, rng)
    kinds = sorted(set(k for k, _, _ in qa))
    kind = kinds[int(rng.integers(len(kinds)))]
    return next(x for x in qa if x[0] == kind)


def text_turns(rng, n):
    """n text-only turns (question, answer)."""
    idx = rng.permutation(len(TEXT_QA))[:n]
    return [(str(rng.choice(TEXT_QA[i][0])), TEXT_QA[i][1]) for i in idx]


def corpus(rng, n_pictures=400):
    """Text the tokenizer's merges are learnt from."""
    out = []
    for _ in range(n_pictures):
        pic = random_picture(rng)
        for _, q, a in questions(pic, rng):
            out += [q, a]
    for qs, a in TEXT_QA:
        out += list(qs) + [a]
    return out

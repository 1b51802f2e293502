"""Seeded generator of varied shape scenes for the default demo VLM (SmolLM2 + trained vision).

A scene is 0-4 coloured shapes (circle, square, triangle, star in 8 colour names) drawn at
any position and size (from a few pixels to filling the frame, partly overlapping) on a
canvas of any size and aspect ratio, over one of several background families, with
outlines, slight rotation, blur, noise and JPEG artefacts. Everything is a pure function of
the seed and of the set of styles it may draw from, so training and evaluation use
disjoint *styles*, not only disjoint scenes:

  TRAIN_STYLES    backgrounds plain light / dark / mid, linear gradient, noise, stripes,
                  crops of two of the test photographs; shapes filled or outlined
  HELDOUT_STYLES  checkerboard, radial gradient, crops of the third photograph (chelsea),
                  and shapes with a drop shadow: never seen in training

`make_scene(seed, styles)`, `render(scene)` (RGB at the scene's canvas size),
`model_input(img)` (the 128 x 128 bicubic resize NanoMind's preprocessing does), and
`questions(scene)` (only questions whose answer is unambiguous for that scene).
"""
from __future__ import annotations

import io
import math
import os
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MODEL_SIZE = 128
# The toy generator's shape names and palette (same RGB), so both models speak of the same things.
from scenes import COLOURS, SHAPES  # noqa: E402
ROW_NAMES = ("top", "middle", "bottom")
COL_NAMES = ("left", "center", "right")
NUMBER_WORDS = ("zero", "one", "two", "three", "four")
NO_SHAPES = "I see no coloured shapes here. I can only recognise coloured shapes."

TRAIN_BACKGROUNDS = ("plain_light", "plain_dark", "plain_mid", "gradient", "noise", "stripes", "photo_train")
HELDOUT_BACKGROUNDS = ("checker", "radial", "photo_heldout")
TRAIN_RENDERS = ("filled", "outlined")
HELDOUT_RENDERS = ("shadow",)
TRAIN_STYLES = (TRAIN_BACKGROUNDS, TRAIN_RENDERS)
HELDOUT_STYLES = (HELDOUT_BACKGROUNDS, TRAIN_RENDERS + HELDOUT_RENDERS)
HELDOUT_RENDER_STYLES = (TRAIN_BACKGROUNDS, HELDOUT_RENDERS)  # held-out shape style on seen backgrounds

PHOTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "photos")
TRAIN_PHOTOS = ("astronaut.png", "coffee.png")
HELDOUT_PHOTOS = ("chelsea.png",)
_photo_cache: dict[str, Image.Image] = {}

# Training scenes use seeds at or above TRAIN_SEED_START; evaluation seeds lie below it.
TRAIN_SEED_START = 1_000_000
# "where" answers and reading order are asked only when every centre is this far (a fraction
# of the side) from a third-line, so a resize or a blur cannot move the answer.
MARGIN = 0.06


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    rgb: tuple[int, int, int]
    cx: float  # centre, fraction of canvas width
    cy: float  # centre, fraction of canvas height
    r: float   # radius in pixels of the canvas
    angle: float


@dataclass(frozen=True)
class Scene:
    seed: int
    width: int
    height: int
    background: str
    render: str
    shapes: tuple[Shape, ...]  # in drawing order
    bg: dict = field(default_factory=dict, compare=False, hash=False)
    post: dict = field(default_factory=dict, compare=False, hash=False)


def _photo(name: str) -> Image.Image:
    if name not in _photo_cache:
        _photo_cache[name] = Image.open(os.path.join(PHOTO_DIR, name)).convert("RGB")
    return _photo_cache[name]


def _jitter(rgb, rng, amount):
    return tuple(int(min(255, max(0, c + rng.randint(-amount, amount)))) for c in rgb)


def _background(kind: str, w: int, h: int, rng: random.Random, seed: int, info: dict) -> np.ndarray:
    """float32 [h, w, 3] background of the given family (info gets the photograph's name, if any)."""
    def tint(lo, hi):
        base = rng.uniform(lo, hi)
        return np.array([base + rng.uniform(-12, 12) for _ in range(3)], np.float32)
    if kind == "plain_light":
        return np.broadcast_to(tint(215, 250), (h, w, 3)).copy()
    if kind == "plain_dark":
        return np.broadcast_to(tint(5, 45), (h, w, 3)).copy()
    if kind == "plain_mid":
        return np.broadcast_to(tint(90, 175), (h, w, 3)).copy()
    if kind in ("gradient", "radial"):
        c1, c2 = tint(10, 245), tint(10, 245)
        if kind == "gradient":
            a = rng.uniform(0, 2 * math.pi)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            t = (xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a)
            t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        else:
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
            t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / math.hypot(w, h) * 1.6
            t = np.clip(t, 0, 1)
        return c1 + (c2 - c1) * t[..., None]
    if kind == "noise":
        base = np.broadcast_to(tint(40, 220), (h, w, 3))
        n = np.random.default_rng(seed).normal(0, rng.uniform(8, 30), (h, w, 3)).astype(np.float32)
        return base + n
    if kind in ("stripes", "checker"):
        c1, c2 = tint(30, 230), tint(30, 230)
        period = rng.uniform(4, 24)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if kind == "stripes":
            a = rng.uniform(0, math.pi)
            t = ((xx * math.cos(a) + yy * math.sin(a)) // period) % 2
        else:
            t = ((xx // period) + (yy // period)) % 2
        return c1 + (c2 - c1) * t[..., None]
    if kind in ("photo_train", "photo_heldout"):
        names = TRAIN_PHOTOS if kind == "photo_train" else HELDOUT_PHOTOS
        info["photo"] = rng.choice(names)
        ph = _photo(info["photo"])
        scale = rng.uniform(0.25, 1.0)
        cw = max(16, int(min(ph.width, w / h * ph.height) * scale))
        ch = max(16, int(cw * h / w))
        cw, ch = min(cw, ph.width), min(ch, ph.height)
        x0, y0 = rng.randint(0, ph.width - cw), rng.randint(0, ph.height - ch)
        crop = ph.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BILINEAR)
        return np.asarray(crop, np.float32).copy()
    raise ValueError(kind)


def _polygon(kind, cx, cy, r, angle):
    if kind == "square":
        pts, inner, n = 4, None, 4
        r = r * 1.0
        base = angle + 45.0
    elif kind == "triangle":
        n, inner, base = 3, None, angle
    else:
        n, inner, base = 5, 0.45, angle
    steps = n * (2 if inner else 1)
    out = []
    for i in range(steps):
        rr = r if (inner is None or i % 2 == 0) else r * inner
        a = math.radians(base - 90.0 + 360.0 * i / steps)
        out.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return out


def _draw(draw: ImageDraw.ImageDraw, sh: Shape, w: int, h: int, fill, outline=None, width=0):
    cx, cy = sh.cx * w, sh.cy * h
    if sh.kind == "circle":
        draw.ellipse((cx - sh.r, cy - sh.r, cx + sh.r, cy + sh.r), fill=fill, outline=outline, width=width)
    else:
        r = sh.r * (1.15 if sh.kind == "square" else 1.1 if sh.kind == "triangle" else 1.2)
        draw.polygon(_polygon(sh.kind, cx, cy, r, sh.angle), fill=fill, outline=outline, width=max(width, 1))


def make_scene(seed: int, styles=TRAIN_STYLES) -> Scene:
    rng = random.Random(seed)
    backgrounds, renders = styles
    background = rng.choice(backgrounds)
    render_kind = rng.choice(renders)
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.7)))
    side = rng.uniform(72, 320)
    w = int(round(side * math.sqrt(aspect)))
    h = int(round(side / math.sqrt(aspect)))
    info: dict = {}
    bg = _background(background, w, h, rng, seed, info)
    n = rng.choices((0, 1, 2, 3, 4), weights=(0.06, 0.24, 0.26, 0.24, 0.20))[0]
    short = min(w, h)
    # the smallest shape keeps a radius of 4 pixels after the resize to 128 x 128
    r_min = 4.0 * max(w, h) / MODEL_SIZE
    r_max = short * (0.46 if n == 1 else 0.30 if n == 2 else 0.22)
    shapes: list[Shape] = []
    tries = 0
    while len(shapes) < n and tries < 200:
        tries += 1
        if r_max <= r_min:
            break
        r = math.exp(rng.uniform(math.log(r_min), math.log(r_max)))
        cx = rng.uniform(r / w + 0.01, 1 - r / w - 0.01)
        cy = rng.uniform(r / h + 0.01, 1 - r / h - 0.01)
        ok = True
        for o in shapes:  # overlap a little at most: every shape stays clearly countable
            if math.hypot((cx - o.cx) * w, (cy - o.cy) * h) < 0.8 * (r + o.r):
                ok = False
                break
        if not ok:
            continue
        # a colour that stands out from the background under the shape
        x0, x1 = int(max(0, cx * w - r)), int(min(w, cx * w + r + 1))
        y0, y1 = int(max(0, cy * h - r)), int(min(h, cy * h + r + 1))
        under = bg[y0:y1, x0:x1].reshape(-1, 3).mean(0)
        names = list(COLOURS)
        rng.shuffle(names)
        colour = None
        for name in names:
            rgb = _jitter(COLOURS[name], rng, 25)
            if np.linalg.norm(np.array(rgb, np.float32) - under) >= 110:
                colour = name
                break
        if colour is None:
            continue
        shapes.append(Shape(rng.choice(SHAPES), colour, rgb, cx, cy, r, rng.uniform(-15, 15)))
    post = {
        "blur": rng.uniform(0.3, 1.3) if rng.random() < 0.3 else 0.0,
        "noise": rng.uniform(3, 12) if rng.random() < 0.2 else 0.0,
        "jpeg": rng.randint(25, 90) if rng.random() < 0.4 else 0,
        "outline": (rng.choice(((0, 0, 0), (255, 255, 255), (90, 90, 90))), rng.randint(1, 3)),
        "shadow": (rng.uniform(0.04, 0.10), rng.uniform(0.35, 0.7)),
    }
    return Scene(seed, w, h, background, render_kind, tuple(shapes), {"array": bg, **info}, post)


def render(scene: Scene) -> Image.Image:
    w, h = scene.width, scene.height
    img = Image.fromarray(np.clip(scene.bg["array"] + 0.5, 0, 255).astype(np.uint8), "RGB")
    if scene.render == "shadow":
        off, alpha = scene.post["shadow"]
        for sh in scene.shapes:
            layer = Image.new("L", (w, h), 0)
            d = ImageDraw.Draw(layer)
            moved = Shape(sh.kind, sh.colour, sh.rgb, sh.cx + off * sh.r / w * 4, sh.cy + off * sh.r / h * 4, sh.r,
                          sh.angle)
            _draw(d, moved, w, h, fill=int(255 * alpha))
            layer = layer.filter(ImageFilter.GaussianBlur(max(1.0, sh.r * 0.15)))
            img = Image.composite(Image.new("RGB", (w, h), (0, 0, 0)), img, layer)
            _draw(ImageDraw.Draw(img), sh, w, h, fill=sh.rgb)
    else:
        draw = ImageDraw.Draw(img)
        col, width = scene.post["outline"]
        for sh in scene.shapes:
            # an outline at most an eighth of the radius: on a small shape a thick one would
            # hide the fill and change what colour the shape is
            line = min(width, int(sh.r / 8))
            if scene.render == "outlined" and line >= 1:
                _draw(draw, sh, w, h, fill=sh.rgb, outline=col, width=line)
            else:
                _draw(draw, sh, w, h, fill=sh.rgb)
    if scene.post["blur"]:
        img = img.filter(ImageFilter.GaussianBlur(scene.post["blur"]))
    if scene.post["noise"]:
        a = np.asarray(img, np.float32)
        a = a + np.random.default_rng(scene.seed + 1).normal(0, scene.post["noise"], a.shape)
        img = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "RGB")
    if scene.post["jpeg"]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=scene.post["jpeg"])
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def model_input(img: Image.Image) -> np.ndarray:
    """uint8 [128, 128, 3]: the stretch to the encoder's size that NanoMind's preprocessing
    does for an mlp-projector mmproj (Pillow-exact bicubic)."""
    if img.size != (MODEL_SIZE, MODEL_SIZE):
        img = img.resize((MODEL_SIZE, MODEL_SIZE), Image.BICUBIC)
    return np.asarray(img, np.uint8)


def _band(f: float) -> int | None:
    """0/1/2 third of [0, 1] holding f, or None when f is within MARGIN of a third-line."""
    for line in (1 / 3, 2 / 3):
        if abs(f - line) < MARGIN:
            return None
    return 0 if f < 1 / 3 else 1 if f < 2 / 3 else 2


def position_words(sh: Shape) -> str | None:
    row, col = _band(sh.cy), _band(sh.cx)
    if row is None or col is None:
        return None
    if row == 1 and col == 1:
        return "center"
    if row == 1:
        return COL_NAMES[col]
    if col == 1:
        return ROW_NAMES[row]
    return f"{ROW_NAMES[row]} {COL_NAMES[col]}"


def reading_order(scene: Scene) -> list[Shape] | None:
    """Shapes by row third, then left to right; None when that order is not clear."""
    keyed = []
    for sh in scene.shapes:
        row = _band(sh.cy)
        if row is None:
            return None
        keyed.append((row, sh.cx, sh))
    keyed.sort(key=lambda k: (k[0], k[1]))
    for a, b in zip(keyed, keyed[1:]):
        if a[0] == b[0] and b[1] - a[1] < 0.08:
            return None
    return [k[2] for k in keyed]


def describe(shapes: list[Shape]) -> str:
    parts = [f"a {sh.colour} {sh.kind}" for sh in shapes]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:] + "."


KINDS = ("count", "colour", "shape", "where", "describe")


def questions(scene: Scene) -> list[tuple[str, str, str]]:
    """(kind, question, answer) for every question whose answer is unambiguous."""
    if not scene.shapes:
        return [("count", "How many shapes are there?", "zero"), ("describe", "Describe the picture.", NO_SHAPES)]
    qa = [("count", "How many shapes are there?", NUMBER_WORDS[len(scene.shapes)])]
    order = reading_order(scene)
    if order is not None:
        qa.append(("describe", "Describe the picture.", describe(order)))
    kinds = [sh.kind for sh in scene.shapes]
    colours = [sh.colour for sh in scene.shapes]
    pairs = [(sh.colour, sh.kind) for sh in scene.shapes]
    for sh in scene.shapes:
        if kinds.count(sh.kind) == 1:
            qa.append(("colour", f"What colour is the {sh.kind}?", sh.colour))
        if colours.count(sh.colour) == 1:
            qa.append(("shape", f"What shape is the {sh.colour} one?", sh.kind))
        where = position_words(sh)
        if pairs.count((sh.colour, sh.kind)) == 1 and where is not None:
            qa.append(("where", f"Where is the {sh.colour} {sh.kind}?", where))
    return qa


# Other wordings of the same questions, used in training so the model is not tied to one phrasing.
PARAPHRASES = {
    "How many shapes are there?": ("How many shapes are in the picture?", "How many shapes do you see?",
                                   "Count the shapes."),
    "Describe the picture.": ("What is in the picture?", "What do you see?", "Describe the image."),
}


def pick_questions(scene: Scene, rng: random.Random, k: int, paraphrase: bool) -> list[tuple[str, str, str]]:
    """Up to k questions, kinds drawn evenly first so that frequent kinds do not crowd out rare ones."""
    by_kind: dict[str, list] = {}
    for item in questions(scene):
        by_kind.setdefault(item[0], []).append(item)
    out = []
    while by_kind and len(out) < k:
        kind = rng.choice(sorted(by_kind))
        items = by_kind[kind]
        item = items.pop(rng.randrange(len(items)))
        if not items:
            del by_kind[kind]
        if paraphrase and item[1] in PARAPHRASES and rng.random() < 0.4:
            item = (item[0], rng.choice(PARAPHRASES[item[1]]), item[2])
        out.append(item)
    return out

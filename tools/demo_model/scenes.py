"""Seeded generator of toy scenes (coloured shapes on varied backgrounds) with questions.

A scene is 1-4 shapes, each in its own cell of a 3x3 grid (so shapes never overlap and
"where" answers are never on a boundary), drawn with Pillow at IMAGE_SIZE x IMAGE_SIZE.
Everything is a pure function of an integer seed: `make_scene(seed)`, `render(scene)`,
`questions(scene)`, `sample_example(seed)`. Train and held-out data use disjoint seed ranges.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 96
GRID = 3
SHAPES = ("circle", "square", "triangle", "star")
# Saturated or extreme colours; backgrounds are muted mid-tones so every shape stands out.
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 230),
    "yellow": (245, 220, 20),
    "purple": (140, 40, 190),
    "orange": (250, 140, 10),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
BACKGROUNDS = ((128, 128, 128), (160, 160, 150), (100, 110, 120), (170, 150, 130),
               (120, 140, 130), (150, 140, 160), (110, 100, 95), (175, 175, 175))
ROW_NAMES = ("top", "middle", "bottom")
COL_NAMES = ("left", "center", "right")
NUMBER_WORDS = ("zero", "one", "two", "three", "four")

# Held-out scenes use seeds below TRAIN_SEED_START; training draws seeds at or above it.
TRAIN_SEED_START = 1_000_000


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    cell: int  # 0..8, row-major in the 3x3 grid
    cx: float
    cy: float
    radius: float
    angle: float  # rotation in degrees (triangles and stars)


@dataclass(frozen=True)
class Scene:
    seed: int
    shapes: tuple[Shape, ...]  # sorted by cell (reading order)
    background: str  # "plain", "gradient" or "noise"
    bg_colour: tuple[int, int, int]
    bg_colour2: tuple[int, int, int]
    bg_vertical: bool


def make_scene(seed: int) -> Scene:
    rng = random.Random(seed)
    n = rng.randint(1, 4)
    cells = sorted(rng.sample(range(GRID * GRID), n))
    cell_px = IMAGE_SIZE / GRID
    shapes = []
    for cell in cells:
        row, col = divmod(cell, GRID)
        radius = rng.uniform(9.0, 13.5)
        jitter = cell_px / 2 - radius - 1.0
        cx = (col + 0.5) * cell_px + rng.uniform(-jitter, jitter)
        cy = (row + 0.5) * cell_px + rng.uniform(-jitter, jitter)
        shapes.append(Shape(rng.choice(SHAPES), rng.choice(list(COLOURS)), cell, cx, cy,
                            radius, rng.uniform(-20.0, 20.0)))
    background = rng.choice(("plain", "gradient", "noise"))
    bg1 = rng.choice(BACKGROUNDS)
    bg2 = rng.choice(BACKGROUNDS)
    return Scene(seed, tuple(shapes), background, bg1, bg2, rng.random() < 0.5)


def _polygon(shape: Shape, n_points: int, inner: float | None) -> list[tuple[float, float]]:
    pts = []
    steps = n_points * (2 if inner else 1)
    for i in range(steps):
        r = shape.radius if (inner is None or i % 2 == 0) else shape.radius * inner
        a = math.radians(shape.angle - 90.0 + 360.0 * i / steps)
        pts.append((shape.cx + r * math.cos(a), shape.cy + r * math.sin(a)))
    return pts


def render(scene: Scene) -> Image.Image:
    """Draws the scene as an RGB image of IMAGE_SIZE x IMAGE_SIZE."""
    s = IMAGE_SIZE
    c1 = np.array(scene.bg_colour, dtype=np.float32)
    if scene.background == "gradient":
        c2 = np.array(scene.bg_colour2, dtype=np.float32)
        t = np.linspace(0.0, 1.0, s, dtype=np.float32)
        t = t[:, None] if scene.bg_vertical else t[None, :]
        arr = c1 + (c2 - c1) * t[..., None]
        arr = np.broadcast_to(arr, (s, s, 3))
    else:
        arr = np.broadcast_to(c1, (s, s, 3))
    arr = np.array(arr)
    if scene.background == "noise":
        noise_rng = np.random.default_rng(scene.seed)
        arr += noise_rng.normal(0.0, 10.0, size=(s, s, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for sh in scene.shapes:
        fill = COLOURS[sh.colour]
        if sh.kind == "circle":
            r = sh.radius
            draw.ellipse((sh.cx - r, sh.cy - r, sh.cx + r, sh.cy + r), fill=fill)
        elif sh.kind == "square":
            h = sh.radius * 0.85
            draw.rectangle((sh.cx - h, sh.cy - h, sh.cx + h, sh.cy + h), fill=fill)
        elif sh.kind == "triangle":
            draw.polygon(_polygon(sh, 3, None), fill=fill)
        else:
            draw.polygon(_polygon(sh, 5, 0.45), fill=fill)
    return img


def position_words(cell: int) -> str:
    row, col = divmod(cell, GRID)
    if row == 1 and col == 1:
        return "center"
    if row == 1:
        return COL_NAMES[col]
    if col == 1:
        return ROW_NAMES[row]
    return f"{ROW_NAMES[row]} {COL_NAMES[col]}"


def describe(scene: Scene) -> str:
    parts = [f"a {sh.colour} {sh.kind}" for sh in scene.shapes]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:] + "."


def questions(scene: Scene) -> list[tuple[str, str]]:
    """All (question, answer) pairs whose answer is unambiguous for this scene."""
    qa = [("How many shapes are there?", NUMBER_WORDS[len(scene.shapes)]),
          ("Describe the picture.", describe(scene))]
    kinds = [sh.kind for sh in scene.shapes]
    colours = [sh.colour for sh in scene.shapes]
    for sh in scene.shapes:
        if kinds.count(sh.kind) == 1:
            qa.append((f"What colour is the {sh.kind}?", sh.colour))
        if colours.count(sh.colour) == 1:
            qa.append((f"What shape is the {sh.colour} one?", sh.kind))
        pairs = [(o.colour, o.kind) for o in scene.shapes]
        if pairs.count((sh.colour, sh.kind)) == 1:
            qa.append((f"Where is the {sh.colour} {sh.kind}?", position_words(sh.cell)))
    return qa


def sample_example(seed: int) -> tuple[Scene, str, str]:
    """One scene and one of its questions, both chosen by the seed."""
    scene = make_scene(seed)
    qa = questions(scene)
    # Question types are drawn evenly first, so that frequent types do not crowd out rare ones.
    rng = random.Random(seed * 7919 + 17)
    by_type: dict[str, list[tuple[str, str]]] = {}
    for q, a in qa:
        by_type.setdefault(q.split(" ")[0] + q.split(" ")[1], []).append((q, a))
    group = by_type[rng.choice(sorted(by_type))]
    q, a = rng.choice(group)
    return scene, q, a


def heldout_seeds(count: int) -> list[int]:
    return list(range(count))


def image_array(scene: Scene) -> np.ndarray:
    """uint8 array [H, W, 3] of the rendered scene."""
    return np.asarray(render(scene), dtype=np.uint8)

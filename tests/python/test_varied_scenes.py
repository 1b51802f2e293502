"""Checks of the varied scene generator behind the default demo VLM (tools/demo_model/
varied_scenes.py): determinism, the split between training and held-out *styles* (the
held-out score is only meaningful if no held-out background, photograph or shape style ever
reaches training), the variety it promises, and that every question's answer is what the
drawn pixels show. Scenes are drawn from fixed seeds plus fresh ones each run (NM_SEED).
Needs numpy and Pillow only.
"""
import math
import os
import random
import sys

import numpy as np
import pytest

pytest.importorskip("PIL")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "demo_model"))

import varied_scenes as V  # noqa: E402

PALETTE = {name: np.array(rgb, np.float64) for name, rgb in V.COLOURS.items()}


def _seeds(rng, start, n_fixed, n_fresh):
    return list(range(start, start + n_fixed)) + [int(s) for s in rng.integers(start, start + 10**6, n_fresh)]


def test_scenes_are_deterministic():
    for styles, seed in ((V.TRAIN_STYLES, V.TRAIN_SEED_START + 5), (V.HELDOUT_STYLES, 12), (V.TRAIN_STYLES, 3)):
        a, b = V.make_scene(seed, styles), V.make_scene(seed, styles)
        assert a == b
        assert np.array_equal(np.asarray(V.render(a)), np.asarray(V.render(b)))
        assert np.array_equal(V.model_input(V.render(a)), V.model_input(V.render(b)))
        assert V.questions(a) == V.questions(b)
    assert V.make_scene(1) != V.make_scene(2)


def test_held_out_styles_never_reach_training(rng):
    train_bg, train_render = set(V.TRAIN_BACKGROUNDS), set(V.TRAIN_RENDERS)
    assert not train_bg & set(V.HELDOUT_BACKGROUNDS)
    assert not train_render & set(V.HELDOUT_RENDERS)
    assert not set(V.TRAIN_PHOTOS) & set(V.HELDOUT_PHOTOS)
    seen = set()
    for seed in _seeds(rng, V.TRAIN_SEED_START, 200, 200):
        sc = V.make_scene(seed, V.TRAIN_STYLES)
        assert sc.background in train_bg and sc.render in train_render
        assert sc.bg.get("photo") in (None,) + V.TRAIN_PHOTOS
        seen.add(sc.background)
    assert seen == train_bg  # every training background family is drawn
    for seed in _seeds(rng, 0, 150, 150):
        sc = V.make_scene(seed, V.HELDOUT_STYLES)
        assert sc.background in V.HELDOUT_BACKGROUNDS
        assert sc.bg.get("photo") in (None,) + V.HELDOUT_PHOTOS


def test_scenes_vary_as_promised():
    sizes, aspects, radii, counts, overlaps, post = [], [], [], set(), 0, {"blur": 0, "jpeg": 0, "noise": 0}
    for seed in range(V.TRAIN_SEED_START, V.TRAIN_SEED_START + 300):
        sc = V.make_scene(seed)
        sizes.append(max(sc.width, sc.height))
        aspects.append(sc.width / sc.height)
        counts.add(len(sc.shapes))
        radii += [sh.r * V.MODEL_SIZE / max(sc.width, sc.height) for sh in sc.shapes]
        for a, b in ((a, b) for i, a in enumerate(sc.shapes) for b in sc.shapes[i + 1:]):
            overlaps += math.hypot((a.cx - b.cx) * sc.width, (a.cy - b.cy) * sc.height) < a.r + b.r
        for k in post:
            post[k] += bool(sc.post[k])
    assert min(sizes) < 110 and max(sizes) > 300
    assert min(aspects) < 0.7 and max(aspects) > 1.5
    assert min(radii) < 6 and max(radii) > 40  # in the 128 x 128 model input: tiny to filling it
    assert counts == {0, 1, 2, 3, 4}
    assert overlaps > 0 and all(v > 20 for v in post.values()), (overlaps, post)


def _covered(sc, i):
    """True when a shape drawn after shape i reaches its centre."""
    a = sc.shapes[i]
    return any(math.hypot((a.cx - b.cx) * sc.width, (a.cy - b.cy) * sc.height) < 1.3 * b.r + 2
               for b in sc.shapes[i + 1:])


def _centre_colour(img, sc, sh):
    """Nearest palette colour to the mean of a small disc at the shape's centre."""
    cx, cy = sh.cx * sc.width, sh.cy * sc.height
    rad = max(1.0, 0.25 * sh.r)
    yy, xx = np.mgrid[0:sc.height, 0:sc.width]
    m = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= rad * rad
    mean = img[m].mean(0)
    return min(PALETTE, key=lambda n: np.linalg.norm(PALETTE[n] - mean))


def _where(sh):
    def third(f):
        return 0 if f < 1 / 3 else 1 if f < 2 / 3 else 2
    row, col = third(sh.cy), third(sh.cx)
    words = {(1, 1): "center"}.get((row, col))
    if words:
        return words
    return " ".join(w for w in (("top", None, "bottom")[row], ("left", None, "right")[col]) if w)


@pytest.mark.parametrize("styles", ["train", "held-out"])
def test_answers_match_the_drawn_pixels(rng, styles):
    style_set, start = (V.TRAIN_STYLES, V.TRAIN_SEED_START) if styles == "train" else (V.HELDOUT_STYLES, 0)
    checked = 0
    for seed in _seeds(rng, start, 60, 60):
        sc = V.make_scene(seed, style_set)
        img = np.asarray(V.render(sc), np.float64)
        assert img.shape == (sc.height, sc.width, 3)
        for i, sh in enumerate(sc.shapes):
            # big enough to survive blur and JPEG, and not hidden under a later shape
            if sh.r >= 6 and not _covered(sc, i):
                assert _centre_colour(img, sc, sh) == sh.colour, (seed, sh)
                checked += 1
        qa = {q: (k, a) for k, q, a in V.questions(sc)}
        assert qa["How many shapes are there?"] == ("count", V.NUMBER_WORDS[len(sc.shapes)])
        if not sc.shapes:
            assert qa["Describe the picture."][1] == V.NO_SHAPES
            continue
        for sh in sc.shapes:
            q = f"What colour is the {sh.kind}?"
            assert (q in qa) == ([o.kind for o in sc.shapes].count(sh.kind) == 1)
            if q in qa:
                assert qa[q][1] == sh.colour
            q = f"What shape is the {sh.colour} one?"
            assert (q in qa) == ([o.colour for o in sc.shapes].count(sh.colour) == 1)
            if q in qa:
                assert qa[q][1] == sh.kind
            q = f"Where is the {sh.colour} {sh.kind}?"
            if q in qa:
                assert qa[q][1] == _where(sh)
                for line in (1 / 3, 2 / 3):  # never on a boundary a resize could move it across
                    assert abs(sh.cx - line) >= V.MARGIN and abs(sh.cy - line) >= V.MARGIN
        if "Describe the picture." in qa:
            desc = qa["Describe the picture."][1].lower()
            assert desc.count(", ") + desc.count(" and ") + 1 == len(sc.shapes)
            assert sorted(f"{sh.colour} {sh.kind}" for sh in sc.shapes) == \
                sorted(p.strip(" .").removeprefix("a ") for p in desc.replace(" and ", ", ").split(", "))
    assert checked > 60


def test_picked_questions_are_asked_questions(rng):
    for seed in _seeds(rng, V.TRAIN_SEED_START, 30, 30):
        sc = V.make_scene(seed)
        qa = V.questions(sc)
        asked = {(k, a) for k, _, a in qa}
        picked = V.pick_questions(sc, random.Random(seed), 3, paraphrase=True)
        assert len(picked) == min(3, len(qa))
        assert len({q for _, q, _ in picked}) == len(picked)
        for k, q, a in picked:
            assert (k, a) in asked


def test_model_input_is_the_engine_resize():
    sc = V.make_scene(V.TRAIN_SEED_START + 9)
    x = V.model_input(V.render(sc))
    assert x.shape == (V.MODEL_SIZE, V.MODEL_SIZE, 3) and x.dtype == np.uint8

"""Checks of the demo VLM tooling (tools/demo_model): scene generator determinism and answer
consistency with the drawn pixels, and a few-step training run whose export gguf-py reads
back with the expected keys and shapes, and whose GGUF files, run through the independent
numpy reference (tests/reference/demo_vlm.py), give the PyTorch logits and answers.
"""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "demo_model"))

import demo_vlm  # noqa: E402  (tests/reference)
import export  # noqa: E402
import scenes  # noqa: E402
import train  # noqa: E402


def test_scenes_are_deterministic():
    for seed in (0, 5, scenes.TRAIN_SEED_START + 3):
        a, b = scenes.make_scene(seed), scenes.make_scene(seed)
        assert a == b
        assert np.array_equal(scenes.image_array(a), scenes.image_array(b))
        assert scenes.sample_example(seed)[1:] == scenes.sample_example(seed)[1:]
    assert not np.array_equal(scenes.image_array(scenes.make_scene(1)),
                              scenes.image_array(scenes.make_scene(2)))


def _cell_of(x: float, y: float) -> int:
    third = scenes.IMAGE_SIZE / scenes.GRID
    return int(y // third) * scenes.GRID + int(x // third)


@pytest.mark.parametrize("seed", range(0, 400, 7))
def test_answers_match_drawn_shapes(seed):
    scene = scenes.make_scene(seed)
    img = scenes.image_array(scene).astype(int)
    assert 1 <= len(scene.shapes) <= 4
    for sh in scene.shapes:
        # the shape's colour is drawn at its centre, inside its own grid cell
        assert tuple(img[int(sh.cy), int(sh.cx)]) == scenes.COLOURS[sh.colour]
        assert _cell_of(sh.cx, sh.cy) == sh.cell
        third = scenes.IMAGE_SIZE / scenes.GRID
        row, col = divmod(sh.cell, scenes.GRID)
        assert col * third <= sh.cx - sh.radius and sh.cx + sh.radius <= (col + 1) * third
        assert row * third <= sh.cy - sh.radius and sh.cy + sh.radius <= (row + 1) * third
    # pixels of a shape colour appear only in cells holding a shape of that colour
    for name, rgb in scenes.COLOURS.items():
        ys, xs = np.nonzero((img == np.array(rgb)).all(-1))
        cells = {sh.cell for sh in scene.shapes if sh.colour == name}
        assert {_cell_of(x + 0.5, y + 0.5) for y, x in zip(ys, xs)} <= cells
    qa = dict(scenes.questions(scene))
    assert qa["How many shapes are there?"] == scenes.NUMBER_WORDS[len(scene.shapes)]
    for sh in scene.shapes:
        same_kind = [o for o in scene.shapes if o.kind == sh.kind]
        q = f"What colour is the {sh.kind}?"
        assert (q in qa) == (len(same_kind) == 1)
        if q in qa:
            assert qa[q] == sh.colour
        q = f"Where is the {sh.colour} {sh.kind}?"
        if q in qa:
            words = qa[q].split()
            row, col = divmod(sh.cell, scenes.GRID)
            assert ("top" in words) == (row == 0) and ("bottom" in words) == (row == 2)
            assert ("left" in words) == (col == 0) and ("right" in words) == (col == 2)
    desc = qa["Describe the picture."].lower()
    assert desc.count(" a ") + 1 == len(scene.shapes)
    for sh in scene.shapes:
        assert f"{sh.colour} {sh.kind}" in desc


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    ckpt_dir = root / "ckpt"
    assert train.main(["--tiny", "--steps", "3", "--eval-every", "3", "--eval-n", "4",
                       "--out", str(ckpt_dir), "--threads", "1"]) == 0
    out = root / "models"
    assert export.main(["--ckpt", str(ckpt_dir / "best.pt"), "--out", str(out),
                        "--heldout", "3", "--no-samples"]) == 0
    model, enc, _ = export.load(str(ckpt_dir / "best.pt"))
    return out, model, enc


def test_export_keys_and_shapes(exported):
    out, model, enc = exported
    c = model.c
    kv, t = demo_vlm.read_gguf(str(out / export.MMPROJ_NAME))
    assert kv["general.architecture"] == "clip"
    assert kv["clip.projector_type"] == "mlp" and kv["clip.has_vision_encoder"] is True
    assert kv["clip.use_gelu"] is True
    assert kv["clip.vision.image_size"] == c.image_size
    assert kv["clip.vision.patch_size"] == c.patch_size
    assert kv["clip.vision.embedding_length"] == c.v_embd
    assert kv["clip.vision.feed_forward_length"] == c.v_ff
    assert kv["clip.vision.block_count"] == c.v_layer
    assert kv["clip.vision.attention.head_count"] == c.v_head
    assert kv["clip.vision.projection_dim"] == c.n_embd
    assert kv["clip.vision.image_mean"] == pytest.approx([0.5] * 3)
    assert kv["clip.vision.image_std"] == pytest.approx([0.5] * 3)
    assert t["v.patch_embd.weight"].shape == (c.v_embd, 3, c.patch_size, c.patch_size)
    assert t["v.position_embd.weight"].shape == (c.n_patches, c.v_embd)
    assert t["v.blk.0.ffn_up.weight"].shape == (c.v_ff, c.v_embd)
    assert t["mm.0.weight"].shape == (c.n_embd, c.v_embd)
    assert t["mm.2.weight"].shape == (c.n_embd, c.n_embd)
    assert "v.class_embd" not in t and f"v.blk.{c.v_layer - 1}.ln2.bias" in t

    kv, t = demo_vlm.read_gguf(str(out / export.LLM_NAME))
    assert kv["general.architecture"] == "llama"
    assert kv["tokenizer.ggml.model"] == "gpt2"
    assert kv["llama.block_count"] == c.n_layer and kv["llama.embedding_length"] == c.n_embd
    assert kv["llama.attention.head_count_kv"] == c.n_head_kv
    tokens = kv["tokenizer.ggml.tokens"]
    assert len(tokens) == c.vocab and tokens[enc.image_id] == "<image>"
    assert tokens[kv["tokenizer.ggml.eos_token_id"]] == "<|im_end|>"
    assert len(kv["tokenizer.ggml.merges"]) > 50
    assert "<|im_start|>" in kv["tokenizer.chat_template"]
    dh = c.n_embd // c.n_head
    assert t["token_embd.weight"].shape == (c.vocab, c.n_embd)
    assert t["blk.0.attn_k.weight"].shape == (c.n_head_kv * dh, c.n_embd)
    assert t["blk.0.ffn_gate.weight"].shape == (c.n_ff, c.n_embd)
    assert t["output.weight"].shape == (c.vocab, c.n_embd)


def test_gguf_reference_matches_pytorch(exported):
    out, model, enc = exported
    vkv, vt = demo_vlm.read_gguf(str(out / export.MMPROJ_NAME))
    lkv, lt = demo_vlm.read_gguf(str(out / export.LLM_NAME))
    batch = enc.make_batch([11])
    prompt = batch.ids[0].tolist()
    with torch.no_grad():
        ref = model(batch.ids, export.preprocess(batch.images))[0].double().numpy()
    emb = demo_vlm.encode_image(vkv, vt, batch.images[0])
    got = demo_vlm.llama_logits(lkv, lt, demo_vlm.splice(lt, prompt, enc.image_id, emb))
    # F32 PyTorch vs F64 numpy on identical (F16-rounded) weights: rounding of ~1e-7 relative
    # per op, grown over a few hundred accumulations and a few layers, stays far below 1e-4.
    tol = 1e-4 * np.abs(ref).max() + 1e-5
    assert np.abs(got - ref).max() <= tol
    # The Q/K permutation matters: without it the same reference disagrees.
    bad = dict(lt)
    for i in range(lkv["llama.block_count"]):
        bad[f"blk.{i}.attn_q.weight"] = torch_unpermute(lt[f"blk.{i}.attn_q.weight"], model.c.n_head)
        bad[f"blk.{i}.attn_k.weight"] = torch_unpermute(lt[f"blk.{i}.attn_k.weight"], model.c.n_head_kv)
    wrong = demo_vlm.llama_logits(lkv, bad, demo_vlm.splice(bad, prompt, enc.image_id, emb))
    assert np.abs(wrong - ref).max() > 10 * tol


def torch_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    out, inp = w.shape
    return w.reshape(n_head, out // n_head // 2, 2, inp).transpose(0, 2, 1, 3).reshape(out, inp)


def test_heldout_json_answers_are_reference_greedy(exported):
    import json
    out, model, enc = exported
    doc = json.load(open(out / export.HELDOUT_NAME))
    vkv, vt = demo_vlm.read_gguf(str(out / export.MMPROJ_NAME))
    lkv, lt = demo_vlm.read_gguf(str(out / export.LLM_NAME))
    for item in doc["items"]:
        scene, q, a = scenes.sample_example(item["seed"])
        assert (q, a) == (item["question"], item["expected"])
        emb = demo_vlm.encode_image(vkv, vt, scenes.image_array(scene))
        ids = list(item["prompt_ids"])
        gen = []
        for _ in range(28):
            logits = demo_vlm.llama_logits(lkv, lt, demo_vlm.splice(lt, ids, doc["image_token_id"], emb))
            nxt = int(logits[-1].argmax())
            if nxt == doc["eos_id"]:
                break
            gen.append(nxt)
            ids.append(nxt)
        assert enc.decode(gen) == item["pytorch_answer"]


def test_idefics3_tower_export_matches_the_numpy_reference(tmp_path):
    """The 16-pixel-patch layout of the default demo VLM's vision file (model.py's pixel
    shuffle + Linear, written by export.write_mmproj as an idefics3 mmproj) against the
    independent numpy reference of NanoMind's idefics3 projector (tests/reference/vision_ref.py)."""
    import vision_ref
    from model import Config, VisionTower, preprocess

    torch.manual_seed(0)
    c = Config(image_size=32, patch_size=8, v_embd=16, v_head=2, v_ff=32, v_layer=2, n_embd=24,
               projector="idefics3", scale_factor=2)
    assert (c.n_patches, c.n_image_tokens) == (16, 4)
    tower = VisionTower(c)
    with torch.no_grad():  # as the file stores them
        for p in tower.parameters():
            p.add_(torch.randn_like(p) * 0.1)
            if p.dim() >= 2:
                p.copy_(p.half().float())

    class Exported:
        pass
    ex = Exported()
    ex.c, ex.vision = c, tower
    path = str(tmp_path / "idefics3.gguf")
    export.write_mmproj(path, ex)
    m = vision_ref.Mmproj(path)
    assert m.projector == "idefics3" and m.scale == 2 and m.n_run == c.v_layer
    assert m.t["mm.model.fc.weight"].shape == (c.n_embd, 4 * c.v_embd) and "mm.0.weight" not in m.t
    img = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        got = tower(preprocess(img[None]))[0].double().numpy()
    ref = vision_ref.encode(m, ((img / 255.0 - 0.5) / 0.5).transpose(2, 0, 1))
    tol = 1e-4 * np.abs(ref).max() + 1e-5
    assert got.shape == ref.shape == (4, c.n_embd)
    assert np.abs(got - ref).max() <= tol
    # the block order matters: the same features shuffled column-major instead disagree
    with torch.no_grad():
        f = tower.features(preprocess(img[None]))
        wrong = f.reshape(1, 2, 2, 2, 2, -1).permute(0, 3, 1, 4, 2, 5).reshape(1, 4, -1)
        wrong = tower.mm_fc(wrong)[0].double().numpy()
    assert np.abs(wrong - ref).max() > 10 * tol

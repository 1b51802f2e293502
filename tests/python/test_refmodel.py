"""Checks tools/make_tiny_llm.py (GGUF keys, tensors, shapes, types for llama / qwen2 and
every weight type) and tests/reference/llama_ref.py (against transformers when installed,
plus self-consistency: KV-cache decoding == full recompute, causality)."""
import numpy as np
import pytest

import gguf
from gguf import GGMLQuantizationType as QT

import llama_ref
import make_tiny_llm as mk

ALL_TYPES = sorted(mk.TYPES)


def _gen(tmp_path, **kw):
    path = str(tmp_path / "m.gguf")
    hp = mk.write_model(path, **kw)
    return path, hp


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("wtype", ALL_TYPES)
def test_generator_layout(tmp_path, arch, wtype, rng):
    seed = int(rng.integers(1 << 30))
    kw = dict(arch=arch, wtype=wtype, n_embd=256, n_layer=2, n_head=4, n_head_kv=2,
              n_ff=512, vocab=320, seed=seed, rope_llama3=(arch == "llama"))
    path, hp = _gen(tmp_path, **kw)
    r = gguf.GGUFReader(path)
    f = {k: v.contents() for k, v in r.fields.items()}
    assert f["general.architecture"] == arch
    for key, val in (("context_length", 256), ("embedding_length", 256), ("block_count", 2),
                     ("feed_forward_length", 512), ("attention.head_count", 4),
                     ("attention.head_count_kv", 2), ("rope.dimension_count", 64)):
        assert f[f"{arch}.{key}"] == val, key
    assert f[f"{arch}.rope.freq_base"] == hp["rope_base"]
    assert f[f"{arch}.attention.layer_norm_rms_epsilon"] == pytest.approx(hp["rms_eps"])
    toks = f["tokenizer.ggml.tokens"]
    assert len(toks) == 320 and len(set(toks)) == 320
    if arch == "llama":  # SentencePiece style
        assert f["tokenizer.ggml.model"] == "llama"
        assert toks[:3] == ["<unk>", "<s>", "</s>"] and toks[3] == "<0x00>"
        assert toks[258] == "<0xFF>" and len(f["tokenizer.ggml.scores"]) == 320
        assert "[INST]" in f["tokenizer.chat_template"]
    else:
        assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "qwen2"
        assert len(f["tokenizer.ggml.merges"]) > 0 and "<|im_start|>" in toks
        assert "<|im_start|>" in f["tokenizer.chat_template"]
    assert len(f["tokenizer.ggml.token_type"]) == 320
    t = {x.name: x for x in r.tensors}
    expect = {"token_embd.weight": (256, 320), "output_norm.weight": (256,)}
    if arch == "llama":
        expect["output.weight"] = (256, 320)
        expect["rope_freqs.weight"] = (32,)
    for i in range(2):
        p = f"blk.{i}."
        expect.update({p + "attn_norm.weight": (256,), p + "ffn_norm.weight": (256,),
                       p + "attn_q.weight": (256, 256), p + "attn_k.weight": (256, 128),
                       p + "attn_v.weight": (256, 128), p + "attn_output.weight": (256, 256),
                       p + "ffn_gate.weight": (256, 512), p + "ffn_up.weight": (256, 512),
                       p + "ffn_down.weight": (512, 256)})
        if arch == "qwen2":
            expect.update({p + "attn_q.bias": (256,), p + "attn_k.bias": (128,),
                           p + "attn_v.bias": (128,)})
    assert set(t) == set(expect)
    for name, shape in expect.items():
        assert tuple(int(x) for x in t[name].shape) == shape, name
        want = mk.TYPES[wtype] if len(shape) == 2 else QT.F32
        assert t[name].tensor_type == want, name
    # weights dequantise to sane magnitudes (the scale recipe, not degenerate)
    wq = llama_ref.tensor_f64(t["blk.0.attn_v.weight"])
    assert 0.3 / 16 < wq.std() < 3.0 / 16 and np.isfinite(wq).all()


@pytest.mark.parametrize("tok", ["llama", "llama-bpe", "qwen2"])
def test_tokenizer_specials(tok):
    v = mk.build_tokenizer(tok, 600, 3)
    assert len(v["tokens"]) == 600
    assert v["types"][v["bos"]] == gguf.TokenType.CONTROL
    assert v["types"][v["eos"]] == gguf.TokenType.CONTROL
    if tok == "llama-bpe":
        assert v["tokens"][v["bos"]] == "<|begin_of_text|>"
        assert v["tokens"][v["eos"]] == "<|eot_id|>"


def test_bad_dimensions_are_reported(tmp_path):
    with pytest.raises(ValueError, match="multiple of 256"):
        _gen(tmp_path, wtype="q4_k", n_embd=64)
    assert mk.main(["--type", "q6_k", "--out", str(tmp_path / "x.gguf")]) == 2


@pytest.mark.parametrize("arch,wtype", [("llama", "f32"), ("qwen2", "q8_0"), ("llama", "q4_k")])
def test_reference_kv_cache_and_causality(tmp_path, arch, wtype, rng):
    path, _ = _gen(tmp_path, arch=arch, wtype=wtype, n_embd=256, n_ff=512, vocab=320,
                   seed=int(rng.integers(1 << 30)))
    m = llama_ref.load(path)
    toks = rng.integers(0, 320, size=10)
    full = m.forward(toks)
    assert np.isfinite(full).all()
    p = np.exp(full - full.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    assert p.max() < 0.999  # logits not degenerate
    # causality: a prefix's logits do not depend on later tokens (float64: ~1e-12)
    np.testing.assert_allclose(m.forward(toks[:6]), full[:6], rtol=1e-10, atol=1e-10)
    # incremental decoding through the cache equals the full recompute
    cache = {"n": 0, "k": [None] * m.n_layer, "v": [None] * m.n_layer}
    inc = np.concatenate([m.forward(toks[:4], cache), m.forward(toks[4:7], cache),
                          m.forward(toks[7:], cache)])
    np.testing.assert_allclose(inc, full, rtol=1e-10, atol=1e-10)
    assert m.generate(list(toks[:3]), 4) == m.generate(list(toks[:3]), 4, use_cache=False)


@pytest.mark.parametrize("arch,wtype,llama3,tok", [
    ("llama", "f32", False, "llama"), ("llama", "q4_0", True, "llama-bpe"),
    ("qwen2", "f16", False, "qwen2"), ("qwen2", "q6_k", False, "qwen2")])
def test_reference_matches_transformers(tmp_path, arch, wtype, llama3, tok, rng):
    hf = pytest.importorskip("hf_compare")
    path, _ = _gen(tmp_path, arch=arch, wtype=wtype, tokenizer=tok, n_embd=256, n_head=4,
                   n_head_kv=2, n_ff=512, vocab=320, rope_llama3=llama3,
                   seed=int(rng.integers(1 << 30)))
    m = llama_ref.load(path)
    toks = rng.integers(0, 320, size=12)
    ours, theirs = m.forward(toks), hf.hf_logits(m, toks)
    # transformers 4.40 computes the RoPE angles in float32 (inv_freq.float() @ pos) even
    # for a float64 model, so agreement is ~1e-7 of max|logit|, not float64 epsilon;
    # a wrong RoPE layout/mode or a missing bias gives O(1) differences.
    scale = np.abs(ours).max()
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=2e-5 * scale)

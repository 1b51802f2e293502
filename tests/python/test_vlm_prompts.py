"""The prompt layouts the default demo VLM's trainer takes from NanoMind (tools/demo_model/
prompts.py -> the shim's nm_shim_vision_chat_tokens, i.e. the runtime's own chat template,
tokenizer and image splice) checked against the bundled toy model's held-out file, whose
prompt ids tools/demo_model's own Python tokenizer wrote when the toy was trained: the same
ChatML text with one <image> marker (id 3) that becomes 9 embedding rows.
"""
import json
import os
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools", "demo_model"))

import prompts  # noqa: E402

LLM = os.path.join(ROOT, "models", "nanomind-demo-llm.gguf")


@pytest.fixture(scope="module")
def heldout():
    with open(os.path.join(ROOT, "models", "nanomind-demo-heldout.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def layouts(heldout):
    return prompts.PromptLayouts(LLM, heldout["n_image_embeddings"], shim_path=os.environ["NM_SHIM"])


def _expanded(ids, marker, n):
    out = []
    for t in ids:
        out += [-1] * n if t == marker else [t]
    return out


def test_generation_prompts_match_the_trainers_tokenizer(heldout, layouts):
    items = heldout["items"][:60]
    got = layouts.layouts([[it["question"]] for it in items], gen_prompt=True)
    for it, lay in zip(items, got):
        assert lay == _expanded(it["prompt_ids"], heldout["image_token_id"], heldout["n_image_embeddings"])


def test_answer_spans_cover_each_answer_and_its_end(heldout, layouts):
    header = layouts.layouts([["x"]], gen_prompt=True)[0]
    header = header[header.index(-1) + heldout["n_image_embeddings"]:]
    header = header[len(header) - 3:]  # "<|im_start|>" "assistant" "\n" in the toy's vocabulary
    # two scenes the toy answered right: their answer ids are those of the expected text
    a, b = [it for it in heldout["items"] if it["pytorch_answer"] == it["expected"]][:2]
    conv = [a["question"], a["expected"], b["question"], b["expected"]]
    lay = layouts.layouts([conv], gen_prompt=False)[0]
    spans = prompts.answer_spans(lay, header)
    assert len(spans) == 2
    for (s, e), ans in zip(spans, (a, b)):
        assert lay[e - 1] == heldout["eos_id"]
        assert lay[s:e - 1] == ans["pytorch_answer_ids"]
    # the image appears once, in the first user message, before the first answer
    assert lay.count(-1) == heldout["n_image_embeddings"] and lay.index(-1) < spans[0][0]


def test_bad_model_path_is_an_error():
    with pytest.raises(RuntimeError, match="nm_shim_vision_chat_tokens failed"):
        prompts.PromptLayouts("/nonexistent.gguf", 9, shim_path=os.environ["NM_SHIM"]).layouts([["q"]], True)


def test_ctypes_chat_with_an_image_answers_as_pytorch(lib, heldout):
    """tools/nanomind_ctypes.py's Session.chat (the C API's image chat turn, as the default
    model's real-tier check uses it) on the toy: PyTorch's greedy answers, token for token."""
    import scenes
    items = heldout["items"][:12]
    with lib.load(LLM, n_threads=2, mmproj_path=os.path.join(ROOT, "models", "nanomind-demo-mmproj.gguf")) as m, \
            m.session(n_ctx=128, temperature=0) as s:
        for it in items:
            s.reset()
            got = s.chat(it["question"], [scenes.image_array(scenes.make_scene(it["seed"]))], n_predict=32)
            assert got == it["pytorch_answer"], (it["seed"], got, it["pytorch_answer"])
            assert s.last_tokens == it["pytorch_answer_ids"], (it["seed"], s.last_tokens)

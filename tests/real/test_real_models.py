"""Real-weight tier: NanoMind against llama.cpp on the real model files (scripts/fetch-models.sh).

For one golden file (NM_GOLDEN, made by tests/real/make_golden.py with llama.cpp): 300
random texts (mixed scripts, digits, whitespace runs, code, special-token texts) must
tokenize as llama.cpp tokenized them, and for each of its prompts:
- chat prompts: the prompt NanoMind builds for the model (its own template choice, through
  the test shim) must equal the text llama.cpp was given (the file's Jinja template
  rendered by jinja2); then
- NanoMind's tokens for that text must equal llama.cpp's (the real vocabularies: SmolLM's
  digit splitting, Qwen2's BPE, Gemma's 262,144-piece SentencePiece);
- greedy decoding through the public C API (libnanomind.so): at every step NanoMind's
  token must be llama.cpp's, except at a near-tie — NanoMind's token within 0.1 of
  llama.cpp's top logit (TIE) — where the two runs may part, and comparing stops.

The 0.1 rule alone does not hold on these 4- and 5-bit files: both engines round every
matmul input to 8 bits and sum in different orders, so a value near a rounding midpoint
lands one step apart and the difference grows through the layers. Measured with
tests/real/engine_distance.py (first generated position of every prompt), NanoMind's logits
differ from llama.cpp's by up to 0.37 (SmolLM2 Q4_1, logits ~30), 0.16 (Qwen2.5-Coder 0.5B),
0.19 (1.5B) and 0.92 (Gemma 3 270M, whose 301-fold output norm weights magnify it).
So a different token past the 0.1 rule is accepted as a noise tie only where both hold:
- each engine rates the other's token within NOISE_TIE (twice that measured distance) of
  its own top, and
- at that very step NanoMind's logit gap between the two tokens is within NOISE_TIE of the
  gap of a float64 arbiter stored in the golden (prompt["references"], made by
  tests/real/reference_ties.py: the published equations in numpy float64 on the exactly
  dequantised weights, no activation rounding), so NanoMind's own error there, measured
  against an independent reference rather than against llama.cpp, is rounding noise.
A difference at a step with no stored reference fails (run reference_ties.py to judge it),
as does every other difference: a wrong kernel, layout or norm moves logits by whole units
at the first step. The test prints which kind of tie ended each comparison, and at a noise
tie the three gaps, so the 0.1 rule's own outcome stays visible. With the committed
goldens (llama.cpp of 2026-12-06) 48 of the 53 prompts end equal or at a 0.1 near-tie; the
other 5 are noise ties, and the arbiter does not side with either engine there: NanoMind's
gap is the closer one at 3 (SmolLM2 'multilingual', Gemma 'french-math' and 'multi-turn'),
llama.cpp's at 2 (SmolLM2 'chinese': NanoMind 0.37 from the float64 gap, llama.cpp 0.001;
'spanish-system': 0.24 and 0.05). The 8-bit activation rounding alone moves these logits
by 0.2-0.4 (float64 with and without it, tests/reference/llama_ref.py act_quant).
Those counts are the AVX-512 VNNI path's. Each kernel path sums in its own order and parts
from llama.cpp at its own steps, so the goldens keep one reference per step any path parted
at: on the AVX2 path (an AMD EPYC without AVX-512, 2026-12-07) 7 more prompts end at noise
ties (Gemma 'capital', 'fibonacci', 'chinese', 'multi-turn'; SmolLM2 'fox-digits',
'quicksort'; Qwen2.5-Coder 1.5B 'c-main'), each within its file's bound of the float64 gap.
Not covered: the AVX-512 path without VNNI and NEON (no such machine ran the tier yet).

The tier takes minutes (15 on the shared 2-core VM), so a plain `ctest` skips it: it runs
where NM_REAL=1 (`NM_REAL=1 ctest -L real`) or NM_REAL_REQUIRED=1 (scripts/test.sh sets the
latter after fetching; then a missing model file fails instead of skipping).
"""
import ctypes
import hashlib
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import nanomind_ctypes as nmc  # noqa: E402
import real_tier  # noqa: E402

TIE = 0.1  # the rule: a different token only where llama.cpp rates it within 0.1 of its top
# Twice the largest |NanoMind - llama.cpp| logit difference tests/real/engine_distance.py
# measured on each file (see the module docstring), 2025-12-06.
NOISE_TIE = {"smollm2-135m-instruct-q4_1.gguf": 0.75, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": 0.35,
             "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": 0.4, "gemma-3-270m-q4_k_m.gguf": 1.85}

GOLDEN_PATH = os.environ.get("NM_GOLDEN", "")
GOLDEN = json.load(open(GOLDEN_PATH, encoding="utf-8")) if GOLDEN_PATH else None


def _model_path():
    if GOLDEN is None:
        pytest.fail("NM_GOLDEN is not set: run these tests through ctest (ctest -L real)")
    return real_tier.model_file(GOLDEN["model"])


@pytest.fixture(scope="module")
def engine():
    path = _model_path()
    lib = nmc.NanoMind(os.environ["NM_LIB"])
    longest = max(len(p["tokens"]) + len(p["steps"]) for p in GOLDEN["prompts"])
    with lib.load(path, n_threads=2) as model, model.session(n_ctx=longest + 16) as session:
        yield path, model, session


def test_file_is_the_one_the_golden_was_made_from(engine):
    h = hashlib.sha256()
    with open(engine[0], "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    assert h.hexdigest() == GOLDEN["sha256"], "the model file differs from the one llama.cpp ran"


def test_tokenizer_matches_llama_cpp_on_random_text(engine):
    # 300 texts of mixed scripts, digits, whitespace runs, code and special-token texts
    # (make_golden.py tokenize_texts), no BOS added, special texts parsed, as llama.cpp did.
    _, model, _ = engine
    if "tokenize" not in GOLDEN:
        pytest.fail("the golden file has no 'tokenize' entries (make_golden.py --tokenize-only)")
    bad = [(text, ids) for text, ids in GOLDEN["tokenize"] if model.tokenize(text, add_special=False) != ids]
    assert not bad, f"{len(bad)} of {len(GOLDEN['tokenize'])} texts differ, e.g. {bad[0][0]!r}: llama.cpp {bad[0][1]}"


def chat_prompt(path, messages):
    shim = ctypes.CDLL(os.environ["NM_SHIM"])
    n = len(messages)
    roles = (ctypes.c_char_p * n)(*[m["role"].encode() for m in messages])
    contents = (ctypes.c_char_p * n)(*[m["content"].encode() for m in messages])
    out = ctypes.create_string_buffer(1 << 16)
    n_out = ctypes.c_int64()
    rc = shim.nm_shim_model_chat_prompt(path.encode(), ctypes.c_int64(n), roles, contents, out,
                                        ctypes.c_int64(len(out)), ctypes.byref(n_out))
    assert rc == 0, f"NanoMind could not build the chat prompt (code {rc})"
    return out.raw[:n_out.value].decode()


PROMPTS = GOLDEN["prompts"] if GOLDEN else []


@pytest.mark.parametrize("prompt", PROMPTS, ids=[p["name"] for p in PROMPTS])
def test_greedy_tokens_match_llama_cpp(engine, prompt):
    path, model, session = engine
    if prompt["kind"] == "chat":
        assert chat_prompt(path, prompt["messages"]) == prompt["text"]
    tokens = model.tokenize(prompt["text"], add_special=prompt["kind"] == "raw")
    assert tokens == prompt["tokens"], "prompt tokens differ from llama.cpp's"

    session.reset()
    session.eval(tokens)
    steps = prompt["steps"]
    for i, step in enumerate(steps):
        logits = session.logits()
        assert np.isfinite(logits).all(), f"step {i}: non-finite logits"
        ours = int(np.argmax(logits))
        theirs = step["token"]
        if ours != theirs:
            near = {tok: logit for tok, logit in step["top"]}
            top = step["top"][0][1]
            what = (f"{prompt['name']}: {i} steps equal, then NanoMind #{ours} / llama.cpp #{theirs}: llama.cpp "
                    f"rates them {near.get(ours, float('-inf')):.3f} / {top:.3f}, NanoMind "
                    f"{logits[ours]:.3f} / {logits[theirs]:.3f}")
            if ours in near and near[ours] >= top - TIE:
                print(what + f" (near-tie: within {TIE})")
                return
            noise = NOISE_TIE.get(GOLDEN["model"], TIE)
            if ours in near and near[ours] >= top - noise and logits[theirs] >= logits[ours] - noise:
                ref = next((r for r in prompt.get("references", []) if r["step"] == i), None)
                if not ref:
                    pytest.fail(what + f": within the noise tie {noise} but beyond {TIE}, and the golden has no float64 "
                                "reference for this step (run tests/real/reference_ties.py)")
                exact = dict((t, v) for t, v in ref["top"])
                gap_ref, gap_nm, gap_ll = exact[theirs] - exact[ours], logits[theirs] - logits[ours], top - near[ours]
                judged = (f"gap between the two tokens: float64 reference {gap_ref:.3f}, NanoMind {gap_nm:.3f}, "
                          f"llama.cpp {gap_ll:.3f}")
                if abs(gap_nm - gap_ref) <= noise:
                    closer = "NanoMind" if abs(gap_nm - gap_ref) <= abs(gap_ll - gap_ref) else "llama.cpp"
                    print(what + f" (noise tie: within {noise}, not within {TIE}; {judged}; {closer} closer)")
                    return
                pytest.fail(what + f": within the noise tie {noise} but beyond {TIE}, and {judged}: NanoMind is more "
                            f"than {noise} from the float64 reference")
            if ours not in near and step.get("cut"):
                pytest.fail(what + ": llama.cpp's logit of NanoMind's token was not stored (regenerate the "
                            "golden with a larger MAX_STORED)")
            pytest.fail(what + f": not a tie (llama.cpp stored every token within {GOLDEN['margin']} of its top)")
        if i + 1 < len(steps):
            session.eval([ours])
    print(f"{prompt['name']}: all {len(steps)} steps equal")

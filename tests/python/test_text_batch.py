"""Continuous batching in the text brick (TextContext::eval_batch): several sequences, each
with its own KV cache and position, decode one token each in one forward pass. Checked on
fresh random tiny models against (1) the same steps run one sequence at a time and (2) the
independent numpy float64 reference (tests/reference/llama_ref.py) per sequence.

Bounds: with quantised weights (Q8_0, Q4_0) the matmul kernels give a row the same bits
alone or in a batch (README, "CPU kernels"), attention runs per sequence exactly as in a
single decode, and every other op is per column: batched == one at a time, bit for bit.
Float weights (F32) take different matmul tiles for 1 and n columns, which may reorder
sums: 1e-5·|L| (f32 rounding over a few hundred terms, ~1e-7 relative each). Against the
reference, the bounds of test_text_model.py: 2e-5·|L| for F32 with an f32 KV cache, 1.2e-1·|L|
for quantised weights (8-bit activation rounding flips)."""
import numpy as np
import pytest

import llama_ref
from conftest import ptr
from test_text_model import KV_F32, check_close, make_model


def batch_logits(shim, path, seqs, n_steps, kv=KV_F32, threads=2):
    vocab = llama_ref.load(path).vocab
    flat = np.ascontiguousarray(np.concatenate(seqs), dtype=np.int32)
    lens = np.array([len(s) for s in seqs], dtype=np.int32)
    out_b = np.zeros((n_steps, len(seqs), vocab), np.float32)
    out_1 = np.zeros_like(out_b)
    rc = shim.nm_shim_text_batch_decode(path.encode(), ptr(flat), ptr(lens), len(seqs), n_steps, threads, kv,
                                        ptr(out_b), ptr(out_1))
    assert rc == 0, f"engine failed with code {rc}"
    return out_b, out_1


@pytest.mark.parametrize("wtype", ["q8_0", "q4_0", "f32"])
@pytest.mark.parametrize("n_seq", [2, 5])
def test_batched_decode_equals_one_at_a_time_and_the_reference(shim, rng, tmp_path, wtype, n_seq):
    path = make_model(tmp_path, rng, arch=str(rng.choice(["llama", "qwen2"])), type=wtype)
    ref = llama_ref.load(path, act_quant=wtype != "f32")
    n_steps = 3
    # Different lengths, so every sequence attends over a different number of positions.
    seqs = [rng.integers(0, ref.vocab, int(rng.integers(n_steps + 1, 40))) for _ in range(n_seq)]
    batched, single = batch_logits(shim, path, seqs, n_steps)
    assert np.isfinite(batched).all()
    if wtype == "f32":
        np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5 * np.abs(single).max())
    else:
        np.testing.assert_array_equal(batched, single)
    for s, seq in enumerate(seqs):
        want = ref.forward(seq.tolist())[-n_steps:]
        check_close(batched[:, s, :], want, 2e-5 if wtype == "f32" else 1.2e-1, f"{wtype} sequence {s}")

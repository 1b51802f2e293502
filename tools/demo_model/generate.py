"""Greedy decoding with the PyTorch demo model (the reference the C++ engine must match).

No KV cache: each step reruns the whole right-padded batch, which is exact because
attention is causal. Decoding stops at <|im_end|> or after max_new tokens.
"""
from __future__ import annotations

import torch

from data import Encoder
from model import DemoVLM, preprocess


@torch.no_grad()
def greedy(model: DemoVLM, enc: Encoder, images, prompts: list[list[int]],
           max_new: int = 28) -> list[list[int]]:
    """Generated token ids (without the final <|im_end|>) for each prompt."""
    model.eval()
    pixels = preprocess(images)
    b = len(prompts)
    lens = [len(p) for p in prompts]
    buf = torch.full((b, max(lens) + max_new), enc.pad_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        buf[i, :len(p)] = torch.tensor(p)
    out: list[list[int]] = [[] for _ in range(b)]
    done = [False] * b
    n_img = model.c.n_patches - 1  # spliced sequence is this much longer than the ids
    for _ in range(max_new):
        width = max(lens)
        logits = model(buf[:, :width], pixels)
        for i in range(b):
            if done[i]:
                continue
            nxt = int(logits[i, lens[i] - 1 + n_img].argmax())
            if nxt == enc.eos_id:
                done[i] = True
                continue
            out[i].append(nxt)
            buf[i, lens[i]] = nxt
            lens[i] += 1
        if all(done):
            break
    return out


def answer_batch(model: DemoVLM, enc: Encoder, batch, chunk: int = 100) -> list[str]:
    answers: list[str] = []
    for s in range(0, len(batch.questions), chunk):
        prompts = [enc.prompt_ids(q) for q in batch.questions[s:s + chunk]]
        ids = greedy(model, enc, batch.images[s:s + chunk], prompts)
        answers += [enc.decode(x) for x in ids]
    return answers

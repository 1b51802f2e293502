"""Batches of (image, token ids, answer labels) for training and evaluation of the demo model.

Sequences are right-padded with <|endoftext|>; labels are -100 everywhere except on the
answer tokens and the closing <|im_end|>, so the loss is on answer tokens only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

import scenes
import tokenizer as T

IGNORE = -100


@dataclass
class Batch:
    images: np.ndarray  # uint8 [B, H, W, 3]
    ids: torch.Tensor  # int64 [B, T]
    labels: torch.Tensor  # int64 [B, T], IGNORE outside answers
    prompt_lens: list[int]  # tokens before the answer, per row
    questions: list[str]
    answers: list[str]
    cells: torch.Tensor  # int64 [B, 9]: 0 = empty cell, else 1 + shape * len(COLOURS) + colour


N_CELL_CLASSES = 1 + len(scenes.SHAPES) * len(scenes.COLOURS)


def cell_classes(scene: scenes.Scene) -> list[int]:
    """What each grid cell holds, as a class id (training-only auxiliary target)."""
    out = [0] * (scenes.GRID * scenes.GRID)
    colours = list(scenes.COLOURS)
    for sh in scene.shapes:
        out[sh.cell] = 1 + scenes.SHAPES.index(sh.kind) * len(colours) + colours.index(sh.colour)
    return out


class Encoder:
    """Tokenizes prompts and answers; holds the token ids the model code needs."""

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        self.pad_id = tok.token_to_id("<|endoftext|>")
        self.eos_id = tok.token_to_id(T.EOS_TOKEN)
        self.image_id = tok.token_to_id(T.IMAGE_TOKEN)

    def prompt_ids(self, question: str) -> list[int]:
        return self.tok.encode(T.prompt_text(question)).ids

    def answer_ids(self, answer: str) -> list[int]:
        return self.tok.encode(answer).ids + [self.eos_id]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def make_batch(self, seeds: list[int]) -> Batch:
        images, rows, labels, plens, qs, ans, cells = [], [], [], [], [], [], []
        for seed in seeds:
            scene, q, a = scenes.sample_example(seed)
            images.append(scenes.image_array(scene))
            cells.append(cell_classes(scene))
            p, r = self.prompt_ids(q), self.answer_ids(a)
            rows.append(p + r)
            labels.append([IGNORE] * len(p) + r)
            plens.append(len(p))
            qs.append(q)
            ans.append(a)
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        lab = torch.full((len(rows), n), IGNORE, dtype=torch.long)
        for i, (r, lb) in enumerate(zip(rows, labels)):
            ids[i, :len(r)] = torch.tensor(r)
            lab[i, :len(lb)] = torch.tensor(lb)
        return Batch(np.stack(images), ids, lab, plens, qs, ans, torch.tensor(cells))

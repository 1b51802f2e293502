"""Byte-level BPE vocabulary ("gpt2" in GGUF terms) and the chat prompt layout of the demo model.

The vocabulary is trained deterministically on the scene question/answer text, so it is
tiny (VOCAB_SIZE entries). Prompt layout (ChatML) with one image marker token:

    <|im_start|>user\n<image>\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>

The single <image> token is replaced by the projector's image embeddings (one per patch,
raster order) at consecutive positions; no BOS token is added.
"""
from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

import scenes

VOCAB_SIZE = 384
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>")
IMAGE_TOKEN = "<image>"
EOS_TOKEN = "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def prompt_text(question: str) -> str:
    """The prompt up to the answer, as the chat template renders it with a generation prompt."""
    return f"<|im_start|>user\n{IMAGE_TOKEN}\n{question}<|im_end|>\n<|im_start|>assistant\n"


def _corpus(n_scenes: int = 3000) -> list[str]:
    texts = []
    for seed in range(scenes.TRAIN_SEED_START, scenes.TRAIN_SEED_START + n_scenes):
        for q, a in scenes.questions(scenes.make_scene(seed)):
            # Special tokens are split off before BPE, so their text must not shape the merges.
            text = prompt_text(q) + a + EOS_TOKEN + "\n"
            for special in SPECIAL_TOKENS:
                text = text.replace(special, "\n")
            texts.append(text)
    return texts


def build_tokenizer() -> Tokenizer:
    """Trains the BPE vocabulary; deterministic for a given scenes.py."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def merges_of(tok: Tokenizer) -> list[str]:
    """Merges as GGUF stores them: "left right" strings in priority order."""
    import json
    model = json.loads(tok.to_str())["model"]
    return [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]


def vocab_list(tok: Tokenizer) -> list[str]:
    vocab = tok.get_vocab()
    out = [""] * len(vocab)
    for piece, idx in vocab.items():
        out[idx] = piece
    return out

"""Prompt token layouts for the default demo VLM, taken from NanoMind itself.

The chat template of the language model file (SmolLM2's ChatML with its default system
prompt), the image's place in the first user message and the tokenization are computed by
the runtime's own functions through the test shim (`nm_shim_vision_chat_tokens`, the code
path of `nanomind run/chat --image`), never re-implemented here. A layout is a list of token
ids with -1 for each image embedding row.
"""
from __future__ import annotations

import ctypes
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
IM_END = 2  # SmolLM2's <|im_end|>: the end of an assistant turn (eos)


class PromptLayouts:
    def __init__(self, lm_path: str, image_tokens: int, shim_path: str | None = None):
        self.lm_path, self.image_tokens = lm_path, image_tokens
        path = shim_path or os.environ.get("NM_SHIM", os.path.join(ROOT, "build", "tests", "libnanomind_shim.so"))
        self.shim = ctypes.CDLL(path)
        self.shim.nm_shim_vision_chat_tokens.restype = ctypes.c_int
        self._cache: dict[tuple, list[int]] = {}

    def layouts(self, convs: list[list[str]], gen_prompt: bool) -> list[list[int]]:
        """Token layouts of conversations (messages alternate user, assistant, ...; the
        first user message carries the image)."""
        todo = [c for c in convs if (tuple(c), gen_prompt) not in self._cache]
        if todo:
            flat = [m.encode() for c in todo for m in c]
            n_msgs = (ctypes.c_int * len(todo))(*[len(c) for c in todo])
            contents = (ctypes.c_char_p * len(flat))(*flat)
            offsets = (ctypes.c_int64 * (len(todo) + 1))()
            msg = ctypes.create_string_buffer(512)
            cap = 256 * len(todo) + 1024
            for _ in range(2):
                out = (ctypes.c_int32 * cap)()
                rc = self.shim.nm_shim_vision_chat_tokens(self.lm_path.encode(), len(todo), n_msgs, contents,
                                                          self.image_tokens, int(gen_prompt), out,
                                                          ctypes.c_int64(cap), offsets, msg, len(msg))
                if rc == 3:
                    cap = offsets[len(todo)]
                    continue
                break
            if rc != 0:
                raise RuntimeError(f"nm_shim_vision_chat_tokens failed ({rc}): {msg.value.decode()}")
            for i, c in enumerate(todo):
                self._cache[(tuple(c), gen_prompt)] = list(out[offsets[i]:offsets[i + 1]])
        return [self._cache[(tuple(c), gen_prompt)] for c in convs]


def split_prefix(layout: list[int]) -> tuple[list[int], list[int]]:
    """(tokens before the image, the rest from the first image row on)."""
    i = layout.index(-1)
    return layout[:i], layout[i:]


def answer_spans(layout: list[int], header: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each assistant answer: the tokens after an assistant header (the ids
    of "<|im_start|>assistant\n") up to and including the next <|im_end|>."""
    spans, n = [], len(header)
    for i in range(len(layout) - n + 1):
        if layout[i:i + n] == header:
            end = layout.index(IM_END, i + n)
            spans.append((i + n, end + 1))
    return spans


def detokenizer(lm_path: str):
    """(ids -> text as NanoMind prints it, without special tokens; the loaded C API model)."""
    import sys
    sys.path.insert(0, ROOT)
    from tools.nanomind_ctypes import NanoMind
    lib = NanoMind(os.environ.get("NM_LIB", os.path.join(ROOT, "build", "lib", "libnanomind.so")))
    model = lib.load(lm_path)
    buf = ctypes.create_string_buffer(256)

    def detok(ids):
        out = b""
        for t in ids:
            n = lib.c.nm_token_to_piece(model.handle, t, buf, 256)
            out += buf.raw[:max(n, 0)]
        return out.decode(errors="replace")
    return detok, model

"""Whisper model files in Python: whisper.cpp's ggml-*.bin and faster-whisper's CTranslate2
directories, read into and written from one in-memory form (OpenAI checkpoint names and
PyTorch shapes, float arrays). Used by tools/whisper_convert.py (the converter between the
two formats), tools/make_tiny_whisper.py (random-weight test models) and the reference
tests, which read weights back through here (quantised blocks through gguf-py), never
through NanoMind's C++ loaders.

Formats, from their published writers: whisper.cpp models/convert-pt-to-ggml.py and
quantize (ggml); ctranslate2/specs/model_spec.py and whisper_spec.py (CTranslate2).
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field

import numpy as np

GGML_MAGIC = 0x67676D6C
# ggml tensor types and the whisper.cpp file types ("ftype") of files quantised to them.
GGML_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8}
GGML_FTYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9}
GGML_QNT_VERSION = 2  # quantised files store ftype + 1000 * this

LANGUAGES = ("en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta "
             "no th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk "
             "sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb "
             "my bo tl mg as tt haw ln ha ba jw su yue").split()

HPARAM_KEYS = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
               "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels")


@dataclass
class WhisperWeights:
    hp: dict                       # HPARAM_KEYS -> int
    tensors: dict                  # OpenAI name -> float32/float16 array, PyTorch shape
    text_tokens: list              # raw bytes of ids 0 .. eot-1
    n_langs: int = 99
    multilingual: bool = True
    filters: np.ndarray | None = None   # (n_mels, 201) float32; None: compute
    suppress: list | None = None
    suppress_begin: list | None = None
    extra: dict = field(default_factory=dict)

    @property
    def eot(self) -> int:
        return len(self.text_tokens)

    def special_names(self) -> list:
        """Names of ids eot .. n_vocab-1 in the published order."""
        names = ["<|endoftext|>", "<|startoftranscript|>"]
        names += [f"<|{c}|>" for c in LANGUAGES[:self.n_langs]]
        names += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                  "<|nocaptions|>", "<|notimestamps|>"]
        names += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
        return names


def tensor_names(hp: dict) -> list:
    """Every tensor of a Whisper checkpoint, in OpenAI's state_dict order."""
    def attn(p):
        return [p + "query.weight", p + "query.bias", p + "key.weight", p + "value.weight",
                p + "value.bias", p + "out.weight", p + "out.bias"]

    def block(p, cross):
        names = attn(p + "attn.") + [p + "attn_ln.weight", p + "attn_ln.bias"]
        if cross:
            names += attn(p + "cross_attn.") + [p + "cross_attn_ln.weight", p + "cross_attn_ln.bias"]
        return names + [p + "mlp.0.weight", p + "mlp.0.bias", p + "mlp.2.weight", p + "mlp.2.bias",
                        p + "mlp_ln.weight", p + "mlp_ln.bias"]

    names = ["decoder.positional_embedding", "encoder.positional_embedding",
             "decoder.token_embedding.weight"]
    for i in range(hp["n_text_layer"]):
        names += block(f"decoder.blocks.{i}.", True)
    names += ["decoder.ln.weight", "decoder.ln.bias", "encoder.conv1.weight", "encoder.conv1.bias",
              "encoder.conv2.weight", "encoder.conv2.bias"]
    for i in range(hp["n_audio_layer"]):
        names += block(f"encoder.blocks.{i}.", False)
    return names + ["encoder.ln_post.weight", "encoder.ln_post.bias"]


def slaney_mel_filters(n_mels: int, n_fft: int = 400, sr: int = 16000) -> np.ndarray:
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels) with its defaults (Slaney mel
    scale, Slaney area normalisation), as Whisper's mel_filters.npz holds them (float32)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    weights = np.zeros((n_mels, 1 + n_fft // 2))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def bytes_to_unicode() -> dict:
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class _Cursor:
    """Little-endian reads from bytes, advancing."""

    def __init__(self, data: bytes):
        self.data, self.o = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.o)
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        """CTranslate2's string: uint16 length including a NUL, the bytes, the NUL."""
        (n,) = self.take("<H")
        v = self.data[self.o:self.o + n - 1].decode()
        self.o += n
        return v

    def array(self, dtype, count):
        a = np.frombuffer(self.data, dtype, count, self.o)
        self.o += a.nbytes
        return a


# ---- ggml (whisper.cpp) -------------------------------------------------------------------

def _ggml_tensor_type(name: str, arr: np.ndarray, wtype: str) -> str:
    """Per-tensor type as whisper.cpp's converter and quantizer choose it: vectors, conv
    biases and position tables stay f32; conv kernels are f16 unless the file is f32; the
    other matrices take the file's type."""
    if arr.ndim < 2 or name.endswith("positional_embedding") or name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        return "f32"
    if wtype == "f32":
        return "f32"
    if arr.ndim == 3:
        return "f16"
    return wtype


def write_ggml(path: str, w: WhisperWeights, wtype: str = "f16") -> None:
    from gguf import quants, GGMLQuantizationType  # gguf-py: independent quantiser (bit-exact with ggml)
    hp = w.hp
    ftype = GGML_FTYPES[wtype] + (GGML_QNT_VERSION * 1000 if wtype not in ("f32", "f16") else 0)
    filters = w.filters if w.filters is not None else slaney_mel_filters(hp["n_mels"])
    with open(path, "wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        f.write(struct.pack("<11i", *[hp[k] for k in HPARAM_KEYS], ftype))
        f.write(struct.pack("<ii", *filters.shape))
        f.write(np.ascontiguousarray(filters, dtype=np.float32).tobytes())
        f.write(struct.pack("<i", len(w.text_tokens)))
        for t in w.text_tokens:
            f.write(struct.pack("<I", len(t)))
            f.write(t)
        for name in tensor_names(hp):
            arr = np.asarray(w.tensors[name], dtype=np.float32)
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                arr = arr.reshape(arr.shape[0], 1)
            ttype = _ggml_tensor_type(name, arr, wtype)
            name_b = name.encode()
            f.write(struct.pack("<iii", arr.ndim, len(name_b), GGML_TYPES[ttype]))
            f.write(struct.pack(f"<{arr.ndim}i", *reversed(arr.shape)))
            f.write(name_b)
            if ttype == "f32":
                data = arr.astype(np.float32).tobytes()
            elif ttype == "f16":
                data = arr.astype(np.float16).tobytes()
            else:
                q = GGMLQuantizationType[ttype.upper()]
                data = quants.quantize(arr.reshape(-1, arr.shape[-1]), q).tobytes()
            f.write(data)


def read_ggml(path: str) -> WhisperWeights:
    from gguf import quants, GGMLQuantizationType
    c = _Cursor(open(path, "rb").read())
    take = c.take
    (magic,) = take("<I")
    assert magic == GGML_MAGIC, "not a whisper.cpp model"
    vals = take("<11i")
    hp = dict(zip(HPARAM_KEYS, vals[:10]))
    n_mel, n_fft = take("<ii")
    filters = c.array(np.float32, n_mel * n_fft).reshape(n_mel, n_fft).copy()
    (n_tok,) = take("<i")
    toks = []
    for _ in range(n_tok):
        (ln,) = take("<I")
        toks.append(bytes(c.array(np.uint8, ln)))
    n_vocab = hp["n_vocab"]
    if n_vocab >= 51865:
        eot, n_langs, multi = 50257, n_vocab - 51766, True
    elif n_vocab == 51864:
        eot, n_langs, multi = 50256, 99, False
    else:
        eot, n_langs, multi = n_vocab - 1608, 99, True
    toks = (toks + [b""] * eot)[:eot]
    tensors, stored = {}, {}
    types = {v: k for k, v in GGML_TYPES.items()}
    while c.o < len(c.data):
        n_dims, name_len, ttype = take("<iii")
        ne = take(f"<{n_dims}i")
        name = bytes(c.array(np.uint8, name_len)).decode()
        shape = tuple(reversed(ne))
        count = int(np.prod(shape))
        t = types[ttype]
        if t == "f32":
            arr = c.array(np.float32, count).reshape(shape)
        elif t == "f16":
            arr = c.array(np.float16, count).reshape(shape).astype(np.float32)
        else:
            q = GGMLQuantizationType[t.upper()]
            block, size = quants.GGML_QUANT_SIZES[q]
            rows = count // ne[0]
            raw = c.array(np.uint8, rows * (ne[0] // block) * size).reshape(rows, -1)
            arr = quants.dequantize(raw, q).reshape(shape)
        if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            arr = arr.reshape(-1)
        tensors[name] = np.array(arr, dtype=np.float32)
        stored[name] = t
    return WhisperWeights(hp=hp, tensors=tensors, text_tokens=toks, n_langs=n_langs,
                          multilingual=multi, filters=filters, extra={"types": stored})


# ---- GGUF (NanoMind's layout; docs/WHISPER_GGUF.md) --------------------------------------

def write_gguf(path: str, w: WhisperWeights, wtype: str = "f16") -> None:
    """The same tensors, names and types as write_ggml, in a GGUF file (aligned, mappable)."""
    import gguf
    from gguf import quants, GGMLQuantizationType
    hp = w.hp
    g = gguf.GGUFWriter(path, "whisper")
    for k in HPARAM_KEYS:
        g.add_uint32(f"whisper.{k}", int(hp[k]))
    g.add_uint32("whisper.n_langs", int(w.n_langs))
    g.add_bool("whisper.multilingual", bool(w.multilingual))
    g.add_array("tokenizer.ggml.tokens", list(w.text_tokens))  # raw bytes of ids below end-of-text
    if w.suppress is not None:
        g.add_array("whisper.suppress", [int(x) for x in w.suppress])
    if w.suppress_begin is not None:
        g.add_array("whisper.suppress_begin", [int(x) for x in w.suppress_begin])
    filters = w.filters if w.filters is not None else slaney_mel_filters(hp["n_mels"])
    g.add_tensor("mel_filters", np.ascontiguousarray(filters, dtype=np.float32))
    for name in tensor_names(hp):
        arr = np.asarray(w.tensors[name], dtype=np.float32)
        if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            arr = arr.reshape(arr.shape[0], 1)
        ttype = _ggml_tensor_type(name, arr, wtype)
        if ttype == "f32":
            g.add_tensor(name, np.ascontiguousarray(arr))
        elif ttype == "f16":
            g.add_tensor(name, np.ascontiguousarray(arr.astype(np.float16)))
        else:
            q = GGMLQuantizationType[ttype.upper()]
            data = quants.quantize(arr.reshape(-1, arr.shape[-1]), q)
            g.add_tensor(name, data.reshape(arr.shape[:-1] + (data.shape[-1],)), raw_dtype=q)
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()


def read_gguf(path: str) -> WhisperWeights:
    import gguf
    from gguf import quants
    r = gguf.GGUFReader(path)

    def field(key):
        f = r.fields[key]
        return f.parts[f.data[0]] if len(f.data) == 1 else [f.parts[i] for i in f.data]

    hp = {k: int(field(f"whisper.{k}")[0]) for k in HPARAM_KEYS}
    toks = [bytes(x) for x in field("tokenizer.ggml.tokens")] if len(r.fields["tokenizer.ggml.tokens"].data) > 1 \
        else [bytes(field("tokenizer.ggml.tokens"))]
    w = WhisperWeights(hp=hp, tensors={}, text_tokens=toks, n_langs=int(field("whisper.n_langs")[0]),
                       multilingual=bool(field("whisper.multilingual")[0]))
    types = {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        if t.tensor_type.name in ("F32", "F16"):
            arr = np.array(t.data, dtype=np.float32).reshape(shape)
        else:
            arr = quants.dequantize(np.array(t.data), t.tensor_type).reshape(shape)
        if t.name == "mel_filters":
            w.filters = arr
            continue
        if t.name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            arr = arr.reshape(-1)
        w.tensors[t.name] = np.array(arr, dtype=np.float32)
        types[t.name] = t.tensor_type.name.lower()
    w.extra["types"] = types
    return w


# ---- CTranslate2 (faster-whisper) -------------------------------------------------------

CT2_DTYPES = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def ct2_layout(hp: dict) -> list:
    """CTranslate2 WhisperSpec variables and the OpenAI tensors they hold, as (kind, ct2 name,
    OpenAI names): "linear" is weight + bias, several OpenAI linears stacked by rows when
    fused (self-attention Q/K/V, cross-attention K/V; the key has no bias: zeros); "norm" is
    gamma/beta for weight/bias; "tensor" is stored as is."""
    out = [("linear", "encoder/conv1", ["encoder.conv1"]), ("linear", "encoder/conv2", ["encoder.conv2"]),
           ("tensor", "encoder/position_encodings/encodings", ["encoder.positional_embedding"]),
           ("norm", "encoder/layer_norm", ["encoder.ln_post"]),
           ("tensor", "decoder/embeddings/weight", ["decoder.token_embedding.weight"]),
           ("tensor", "decoder/position_encodings/encodings", ["decoder.positional_embedding"]),
           ("norm", "decoder/layer_norm", ["decoder.ln"])]

    def block(c, o, cross):
        out.extend([("norm", c + "self_attention/layer_norm", [o + "attn_ln"]),
                    ("linear", c + "self_attention/linear_0", [o + "attn.query", o + "attn.key", o + "attn.value"]),
                    ("linear", c + "self_attention/linear_1", [o + "attn.out"]),
                    ("norm", c + "ffn/layer_norm", [o + "mlp_ln"]),
                    ("linear", c + "ffn/linear_0", [o + "mlp.0"]),
                    ("linear", c + "ffn/linear_1", [o + "mlp.2"])])
        if cross:
            out.extend([("norm", c + "attention/layer_norm", [o + "cross_attn_ln"]),
                        ("linear", c + "attention/linear_0", [o + "cross_attn.query"]),
                        ("linear", c + "attention/linear_1", [o + "cross_attn.key", o + "cross_attn.value"]),
                        ("linear", c + "attention/linear_2", [o + "cross_attn.out"])])

    for i in range(hp["n_audio_layer"]):
        block(f"encoder/layer_{i}/", f"encoder.blocks.{i}.", False)
    for i in range(hp["n_text_layer"]):
        block(f"decoder/layer_{i}/", f"decoder.blocks.{i}.", True)
    return out


def _ct2_variables(w: WhisperWeights, dtype: str) -> dict:
    """CTranslate2 WhisperSpec variables (name -> numpy array) from OpenAI tensors."""
    t, hp = w.tensors, w.hp
    fdt = np.float16 if dtype == "float16" else np.float32
    v = {}
    for kind, ct2, names in ct2_layout(hp):
        if kind == "tensor":
            v[ct2] = np.asarray(t[names[0]]).astype(fdt)
        elif kind == "norm":
            v[ct2 + "/gamma"] = np.asarray(t[names[0] + ".weight"]).astype(fdt)
            v[ct2 + "/beta"] = np.asarray(t[names[0] + ".bias"]).astype(fdt)
        else:
            v[ct2 + "/weight"] = np.concatenate([np.asarray(t[n + ".weight"], np.float32) for n in names], 0).astype(fdt)
            v[ct2 + "/bias"] = np.concatenate([np.asarray(t[n + ".bias"], np.float32) if n + ".bias" in t else
                                               np.zeros(t[n + ".weight"].shape[0], np.float32) for n in names]).astype(fdt)
    v["encoder/num_heads"] = np.int16(hp["n_audio_head"])
    v["decoder/num_heads"] = np.int16(hp["n_text_head"])
    # Scalars as ctranslate2's WhisperSpec writes them.
    v["decoder/activation"] = np.int8(3)   # GELU
    v["decoder/alibi"] = np.int8(0)
    v["decoder/alignment_heads"] = np.int16(1)
    v["decoder/alignment_layer"] = np.int16(-1)
    v["decoder/pre_norm"] = np.int8(1)
    v["decoder/scale_embeddings"] = np.int8(0)
    v["decoder/start_from_zero_embedding"] = np.int8(0)
    if dtype == "int8":  # per-row scales of the matrices, as ctranslate2's int8 quantisation
        for name in list(v):
            a = v[name]
            if name.endswith("/weight") and a.ndim == 2 and not name.startswith("decoder/embeddings"):
                a = a.astype(np.float32)
                amax = np.abs(a).max(axis=1)
                amax[amax == 0] = 127.0
                scale = (127.0 / amax).astype(np.float32)
                v[name] = np.rint(a * scale[:, None]).astype(np.int8)
                v[name + "_scale"] = scale
    return v


def write_ct2(out_dir: str, w: WhisperWeights, dtype: str = "float16") -> None:
    os.makedirs(out_dir, exist_ok=True)
    variables = _ct2_variables(w, dtype)

    def s(f, text):
        b = text.encode()
        f.write(struct.pack("<H", len(b) + 1) + b + b"\0")

    with open(os.path.join(out_dir, "model.bin"), "wb") as f:
        f.write(struct.pack("<I", 6))
        s(f, "WhisperSpec")
        f.write(struct.pack("<II", 3, len(variables)))
        for name in sorted(variables):
            a = np.asarray(variables[name])
            s(f, name)
            f.write(struct.pack("<B", a.ndim))
            for d in a.shape:
                f.write(struct.pack("<I", d))
            f.write(struct.pack("<B", CT2_DTYPES[str(a.dtype)]))
            raw = np.ascontiguousarray(a).tobytes()
            f.write(struct.pack("<I", len(raw)))
            f.write(raw)
        f.write(struct.pack("<I", 1))
        s(f, "decoder/projection/weight")
        s(f, "decoder/embeddings/weight")
    b2u = bytes_to_unicode()
    vocab = ["".join(b2u[b] for b in tok) for tok in w.text_tokens] + w.special_names()
    assert len(vocab) == w.hp["n_vocab"], (len(vocab), w.hp["n_vocab"])
    with open(os.path.join(out_dir, "vocabulary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    eot = w.eot
    sot = eot + 1
    config = {"alignment_heads": [[w.hp["n_text_layer"] - 1, 0]],
              "lang_ids": list(range(sot + 1, sot + 1 + w.n_langs)),
              "suppress_ids": list(w.suppress) if w.suppress is not None else [],
              "suppress_ids_begin": list(w.suppress_begin) if w.suppress_begin is not None else []}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def read_ct2(model_dir: str) -> WhisperWeights:
    c = _Cursor(open(os.path.join(model_dir, "model.bin"), "rb").read())
    take, string = c.take, c.string
    (version,) = take("<I")
    assert version in (5, 6), version
    assert string() == "WhisperSpec"
    take("<I")
    (n_vars,) = take("<I")
    np_types = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
    v = {}
    for _ in range(n_vars):
        name = string()
        (rank,) = take("<B")
        dims = take(f"<{rank}I") if rank else ()
        dt, nbytes = take("<BI")
        if dt == 5:  # bfloat16 -> float32
            arr = (c.array(np.uint16, nbytes // 2).astype(np.uint32) << 16).view(np.float32).reshape(dims)
        else:
            arr = c.array(np_types[dt], nbytes // np.dtype(np_types[dt]).itemsize).reshape(dims)
        v[name] = arr
    for name in list(v):  # int8 matrices: value = q / scale
        if name + "_scale" in v and v[name].dtype == np.int8:
            v[name] = v[name].astype(np.float32) / v[name + "_scale"].astype(np.float32)[:, None]
    f32 = {k: np.asarray(a, np.float32) for k, a in v.items() if np.asarray(a).ndim > 0}
    hp = {"n_vocab": f32["decoder/embeddings/weight"].shape[0],
          "n_audio_ctx": f32["encoder/position_encodings/encodings"].shape[0],
          "n_audio_state": f32["encoder/conv1/weight"].shape[0],
          "n_audio_head": int(v["encoder/num_heads"]),
          "n_audio_layer": sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_0/weight")),
          "n_text_ctx": f32["decoder/position_encodings/encodings"].shape[0],
          "n_text_state": f32["decoder/embeddings/weight"].shape[1],
          "n_text_head": int(v["decoder/num_heads"]),
          "n_text_layer": sum(1 for k in v if k.startswith("decoder/layer_") and k.endswith("self_attention/linear_0/weight")),
          "n_mels": f32["encoder/conv1/weight"].shape[1]}
    t = {}
    for kind, ct2, names in ct2_layout(hp):
        if kind == "tensor":
            t[names[0]] = f32[ct2]
        elif kind == "norm":
            t[names[0] + ".weight"] = f32[ct2 + "/gamma"]
            t[names[0] + ".bias"] = f32[ct2 + "/beta"]
        else:
            ws = np.split(f32[ct2 + "/weight"], len(names), axis=0)
            bs = np.split(f32[ct2 + "/bias"], len(names), axis=0)
            for n, wp, bp in zip(names, ws, bs):
                t[n + ".weight"] = wp
                if not n.endswith(".key"):
                    t[n + ".bias"] = bp
    vocab_path = os.path.join(model_dir, "vocabulary.txt")
    if os.path.exists(vocab_path):
        vocab = open(vocab_path, encoding="utf-8").read().split("\n")
        if vocab and vocab[-1] == "":
            vocab = vocab[:-1]
    else:
        vocab = json.load(open(os.path.join(model_dir, "vocabulary.json")))
    eot = vocab.index("<|endoftext|>")
    translate = vocab.index("<|translate|>")
    u2b = {c: b for b, c in bytes_to_unicode().items()}
    toks = [bytes(u2b[ch] for ch in tok) for tok in vocab[:eot]]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    return WhisperWeights(hp=hp, tensors=t, text_tokens=toks, n_langs=translate - eot - 2,
                          multilingual=eot != 50256, filters=None,
                          suppress=cfg.get("suppress_ids"), suppress_begin=cfg.get("suppress_ids_begin"))

"""Silero VAD v6 (16 kHz) in numpy float64, written from the published model definition
(silero-vad 6.2.3, silero_vad/tinygrad_model.py: a stride-128 STFT convolution, magnitudes,
four Conv1d+ReLU, an LSTMCell, ReLU, a 1x1 Conv1d and a sigmoid) and its streaming wrapper
(utils_vad.py OnnxWrapper: 512-sample chunks with the previous 64 samples in front)."""
import json
import struct

import numpy as np


def load_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        b, e = v["data_offsets"]
        out[name] = np.frombuffer(data, np.float32, (e - b) // 4, 8 + n + b).reshape(v["shape"]).astype(np.float64)
    return out


def conv1d(x, w, b, stride, pad):
    """x (c_in, L), w (c_out, c_in, k): PyTorch Conv1d."""
    c_out, c_in, k = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad)))
    l_out = (xp.shape[1] - k) // stride + 1
    cols = np.stack([xp[:, t * stride:t * stride + k] for t in range(l_out)], axis=0)  # (l_out, c_in, k)
    y = np.einsum("oik,lik->ol", w, cols)
    return y + (b[:, None] if b is not None else 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class SileroRef:
    def __init__(self, weights):
        self.w = weights
        self.reset()

    def reset(self):
        self.h = np.zeros(128)
        self.c = np.zeros(128)
        self.context = np.zeros(64)

    def __call__(self, chunk):
        w = self.w
        x = np.concatenate([self.context, np.asarray(chunk, np.float64)])
        self.context = x[-64:]
        x = np.pad(x, (0, 64), mode="reflect")
        s = conv1d(x[None], w["stft_conv.weight"], None, 128, 0)
        mag = np.sqrt(s[:129] ** 2 + s[129:] ** 2)
        y = np.maximum(conv1d(mag, w["conv1.weight"], w["conv1.bias"], 1, 1), 0)
        y = np.maximum(conv1d(y, w["conv2.weight"], w["conv2.bias"], 2, 1), 0)
        y = np.maximum(conv1d(y, w["conv3.weight"], w["conv3.bias"], 2, 1), 0)
        y = np.maximum(conv1d(y, w["conv4.weight"], w["conv4.bias"], 1, 1), 0)[:, 0]
        g = w["lstm_cell.weight_ih"] @ y + w["lstm_cell.bias_ih"] + w["lstm_cell.weight_hh"] @ self.h + w["lstm_cell.bias_hh"]
        i, f, gg, o = sigmoid(g[:128]), sigmoid(g[128:256]), np.tanh(g[256:384]), sigmoid(g[384:])
        self.c = f * self.c + i * gg
        self.h = o * np.tanh(self.c)
        out = w["final_conv.weight"][0, :, 0] @ np.maximum(self.h, 0) + w["final_conv.bias"][0]
        return float(sigmoid(out))

    def probs(self, audio):
        self.reset()
        a = np.asarray(audio, np.float64)
        a = np.pad(a, (0, (-len(a)) % 512))
        return [self(a[i:i + 512]) for i in range(0, len(a), 512)]


SHAPES = {"stft_conv.weight": (258, 1, 256), "conv1.weight": (128, 129, 3), "conv1.bias": (128,),
          "conv2.weight": (64, 128, 3), "conv2.bias": (64,), "conv3.weight": (64, 64, 3), "conv3.bias": (64,),
          "conv4.weight": (128, 64, 3), "conv4.bias": (128,), "lstm_cell.weight_ih": (512, 128),
          "lstm_cell.weight_hh": (512, 128), "lstm_cell.bias_ih": (512,), "lstm_cell.bias_hh": (512,),
          "final_conv.weight": (1, 128, 1), "final_conv.bias": (1,)}


def write_random(path, rng):
    """A safetensors file with Silero's tensor names and shapes and random weights."""
    header, blobs, at = {}, [], 0
    for name, shape in SHAPES.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 16
        a = rng.normal(0, 1 / np.sqrt(fan_in), shape).astype(np.float32)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [at, at + a.nbytes]}
        blobs.append(a.tobytes())
        at += a.nbytes
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

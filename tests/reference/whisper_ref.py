"""Whisper in numpy float64, written from the published model and front end (openai/whisper
audio.py and model.py), as the independent reference for NanoMind's Whisper bricks.

  log_mel(audio, filters)            audio.py log_mel_spectrogram(audio, padding=N_SAMPLES)
  WhisperRef(weights).encode(mel)    AudioEncoder: conv1/conv2 + GELU, positions, blocks, ln_post
  WhisperRef(weights).logits(tokens, states)  TextDecoder over the whole token sequence
Weights come as tools/whisper_formats.WhisperWeights (OpenAI names, PyTorch shapes).
"""
from __future__ import annotations

import math

import numpy as np

SAMPLE_RATE, N_FFT, HOP, CHUNK = 16000, 400, 160, 30
N_SAMPLES = SAMPLE_RATE * CHUNK


def log_mel(audio: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """(n_mels, n_frames) for the audio with 30 s of zeros appended; torch.stft(center=True,
    reflect padding, periodic Hann window), the last frame dropped."""
    x = np.concatenate([np.asarray(audio, np.float64), np.zeros(N_SAMPLES)])
    pad = N_FFT // 2
    xp = np.pad(x, (pad, pad), mode="reflect")
    n_frames = 1 + (len(xp) - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = xp[idx] * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2          # (frames, 201)
    power = power[:-1]                                          # stft[..., :-1]
    mel = np.asarray(filters, np.float64) @ power.T             # (n_mels, frames)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    """nn.GELU(): the exact (erf) form."""
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def conv1d(x, w, b, stride):
    """x (c_in, L), w (c_out, c_in, 3), padding 1 -> (c_out, L_out)."""
    c_in, length = x.shape
    xp = np.pad(x, ((0, 0), (1, 1)))
    l_out = (length + 2 - 3) // stride + 1
    cols = np.stack([xp[:, k + stride * np.arange(l_out)] for k in range(3)], axis=-1)  # (c_in, L_out, 3)
    return np.einsum("oik,ilk->ol", w, cols) + b[:, None]


class WhisperRef:
    def __init__(self, weights):
        self.hp = weights.hp
        self.w = {k: np.asarray(v, np.float64) for k, v in weights.tensors.items() if isinstance(v, np.ndarray)}

    def _attn(self, p, x, xa=None, mask=None, n_head=1):
        w = self.w
        q = x @ w[p + "query.weight"].T + w[p + "query.bias"]
        src = x if xa is None else xa
        k = src @ w[p + "key.weight"].T
        if p + "key.bias" in w:
            k = k + w[p + "key.bias"]
        v = src @ w[p + "value.weight"].T + w[p + "value.bias"]
        n, d = q.shape
        hd = d // n_head
        scale = hd ** -0.25
        q = q.reshape(n, n_head, hd).transpose(1, 0, 2) * scale
        k = k.reshape(-1, n_head, hd).transpose(1, 2, 0) * scale
        v = v.reshape(-1, n_head, hd).transpose(1, 0, 2)
        qk = q @ k
        if mask is not None:
            qk = qk + mask
        qk = qk - qk.max(-1, keepdims=True)
        p_ = np.exp(qk)
        p_ /= p_.sum(-1, keepdims=True)
        out = (p_ @ v).transpose(1, 0, 2).reshape(n, d)
        return out @ w[p + "out.weight"].T + w[p + "out.bias"]

    def _block(self, p, x, xa=None, mask=None, n_head=1):
        w = self.w
        x = x + self._attn(p + "attn.", layer_norm(x, w[p + "attn_ln.weight"], w[p + "attn_ln.bias"]),
                           mask=mask, n_head=n_head)
        if xa is not None:
            x = x + self._attn(p + "cross_attn.", layer_norm(x, w[p + "cross_attn_ln.weight"], w[p + "cross_attn_ln.bias"]),
                               xa=xa, n_head=n_head)
        h = layer_norm(x, w[p + "mlp_ln.weight"], w[p + "mlp_ln.bias"])
        h = gelu(h @ w[p + "mlp.0.weight"].T + w[p + "mlp.0.bias"])
        return x + h @ w[p + "mlp.2.weight"].T + w[p + "mlp.2.bias"]

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """mel (n_mels, 3000) -> states (1500, n_audio_state)."""
        w = self.w
        x = gelu(conv1d(np.asarray(mel, np.float64), w["encoder.conv1.weight"], w["encoder.conv1.bias"], 1))
        x = gelu(conv1d(x, w["encoder.conv2.weight"], w["encoder.conv2.bias"], 2)).T
        x = x + w["encoder.positional_embedding"][: x.shape[0]]
        for i in range(self.hp["n_audio_layer"]):
            x = self._block(f"encoder.blocks.{i}.", x, n_head=self.hp["n_audio_head"])
        return layer_norm(x, w["encoder.ln_post.weight"], w["encoder.ln_post.bias"])

    def logits(self, tokens, states: np.ndarray) -> np.ndarray:
        """Logits (len(tokens), n_vocab) of every position, causal self-attention."""
        w = self.w
        n = len(tokens)
        x = w["decoder.token_embedding.weight"][np.asarray(tokens)] + w["decoder.positional_embedding"][:n]
        mask = np.triu(np.full((n, n), -np.inf), 1)
        for i in range(self.hp["n_text_layer"]):
            x = self._block(f"decoder.blocks.{i}.", x, xa=np.asarray(states, np.float64), mask=mask,
                            n_head=self.hp["n_text_head"])
        x = layer_norm(x, w["decoder.ln.weight"], w["decoder.ln.bias"])
        return x @ w["decoder.token_embedding.weight"].T

    def greedy(self, prompt, states, n_steps):
        """Plain argmax continuation (no suppression), for token-by-token comparisons."""
        toks = list(prompt)
        for _ in range(n_steps):
            toks.append(int(np.argmax(self.logits(toks, states)[-1])))
        return toks[len(prompt):]

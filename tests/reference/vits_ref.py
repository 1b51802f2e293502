"""numpy float64 reference of VITS inference (Kim et al. 2021, "Conditional Variational
Autoencoder with Adversarial Learning for End-to-End Text-to-Speech") as Piper runs it,
written from the paper and the published model definitions, with the noise scales as
parameters (0 = deterministic). Weights are a dict named as the PyTorch modules
(tools/vits_gguf.py reads them from a voice GGUF); activations are [channels, time].

Pieces, each also used alone by the op tests: conv1d (dilation, groups, "same" padding),
conv_transpose1d, channel LayerNorm, relative-position multi-head attention (Shaw et al.
2018, window w: key/value embeddings for offsets -w..w), the inverse piecewise
rational-quadratic spline with linear tails (Durkan et al. 2019), the WaveNet gate.
"""
import math

import numpy as np


def conv1d(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """x [C_in, T], w [C_out, C_in/groups, K] -> [C_out, T_out]; zero padding `pad` each side."""
    x = np.asarray(x, np.float64)
    c_in, t = x.shape
    c_out, cpg, k = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad)))
    t_out = (t + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((c_out, t_out))
    opg = c_out // groups
    for g in range(groups):
        xs = xp[g * cpg:(g + 1) * cpg]
        for j in range(k):
            seg = xs[:, j * dilation: j * dilation + stride * (t_out - 1) + 1: stride]  # [cpg, t_out]
            y[g * opg:(g + 1) * opg] += w[g * opg:(g + 1) * opg, :, j] @ seg
    if b is not None:
        y += np.asarray(b, np.float64)[:, None]
    return y


def conv_transpose1d(x, w, b=None, stride=1, pad=0):
    """x [C_in, T], w [C_in, C_out, K] (PyTorch's ConvTranspose1d layout) ->
    [C_out, (T - 1) * stride - 2 * pad + K]: y[o, t*stride + j - pad] += w[c, o, j] x[c, t]."""
    x = np.asarray(x, np.float64)
    c_in, t = x.shape
    _, c_out, k = w.shape
    full = np.zeros((c_out, (t - 1) * stride + k))
    for j in range(k):
        full[:, j: j + stride * (t - 1) + 1: stride] += w[:, :, j].T @ x
    y = full[:, pad: full.shape[1] - pad]
    if b is not None:
        y = y + np.asarray(b, np.float64)[:, None]
    return y


def channel_layer_norm(x, gamma, beta, eps=1e-5):
    """LayerNorm over channels at each time step: x [C, T]."""
    mu = x.mean(axis=0, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=0, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma[:, None] + beta[:, None]


def leaky_relu(x, slope):
    return np.where(x >= 0, x, x * slope)


def gelu_erf(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def softplus(x):
    return np.logaddexp(0, x)


def rel_attention(q, k, v, emb_k, emb_v, n_heads, window):
    """q, k, v [C, T] (C = n_heads * d); emb_k/emb_v [2w+1, d] shared by the heads.
    score(i, j) = (q_i . k_j + q_i . emb_k[j - i + w]) / sqrt(d) (the relative term only for
    |j - i| <= w); out_i = sum_j p(i, j) (v_j + emb_v[j - i + w])."""
    c, t = q.shape
    d = c // n_heads
    out = np.zeros((c, t))
    rel = np.arange(t)[None, :] - np.arange(t)[:, None]  # j - i
    inside = np.abs(rel) <= window
    idx = np.clip(rel + window, 0, 2 * window)
    for h in range(n_heads):
        qh, kh, vh = q[h * d:(h + 1) * d].T, k[h * d:(h + 1) * d].T, v[h * d:(h + 1) * d].T  # [T, d]
        qs = qh / math.sqrt(d)
        s = qs @ kh.T + np.where(inside, (qs @ emb_k.T)[np.arange(t)[:, None], idx], 0.0)
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        o = p @ vh
        pw = np.where(inside, p, 0.0)
        for r in range(2 * window + 1):  # offset r - w
            o += (pw * (idx == r))[:, :].sum(axis=1, keepdims=True) * emb_v[r][None, :]
        out[h * d:(h + 1) * d] = o.T
    return out


def rq_spline_inverse(y, uw, uh, ud, tail_bound, min_w=1e-3, min_h=1e-3, min_d=1e-3):
    """Inverse of the monotonic rational-quadratic spline on [-B, B] with identity (linear)
    tails. y [N]; uw, uh [N, K] unnormalised widths/heights; ud [N, K-1] unnormalised interior
    derivatives (the boundary derivatives are 1, matching the linear tails)."""
    y = np.asarray(y, np.float64)
    out = y.copy()
    n, nb = uw.shape
    for i in range(n):
        if not (-tail_bound <= y[i] <= tail_bound):
            continue
        def cum(u, m):
            e = np.exp(u - u.max())
            p = m + (1 - m * nb) * e / e.sum()
            c = np.concatenate([[0.0], np.cumsum(p)])
            c = 2 * tail_bound * c - tail_bound
            c[0], c[-1] = -tail_bound, tail_bound
            return c
        cw, ch = cum(uw[i], min_w), cum(uh[i], min_h)
        d = np.concatenate([[1.0], min_d + softplus(ud[i]), [1.0]])
        locs = ch.copy()
        locs[-1] += 1e-6
        b = int(np.sum(y[i] >= locs) - 1)
        b = min(max(b, 0), nb - 1)
        xk, wk = cw[b], cw[b + 1] - cw[b]
        yk, hk = ch[b], ch[b + 1] - ch[b]
        s = hk / wk
        dk, dk1 = d[b], d[b + 1]
        dy = y[i] - yk
        a = dy * (dk + dk1 - 2 * s) + hk * (s - dk)
        bb = hk * dk - dy * (dk + dk1 - 2 * s)
        c = -s * dy
        disc = bb * bb - 4 * a * c
        root = (2 * c) / (-bb - math.sqrt(max(disc, 0.0)))
        out[i] = root * wk + xk
    return out


class Vits:
    def __init__(self, tensors, hp):
        self.t, self.hp = tensors, hp

    def w(self, name):
        return self.t[name]

    def conv(self, x, mod, pad=None, dilation=1, groups=1):
        w = self.t[f"{mod}.weight"]
        k = w.shape[2]
        if pad is None:
            pad = dilation * (k - 1) // 2
        return conv1d(x, w, self.t.get(f"{mod}.bias"), pad=pad, dilation=dilation, groups=groups)

    # ---- text encoder
    def text_encoder(self, ids):
        hp = self.hp
        h = hp["hidden_channels"]
        x = self.t["enc_p.emb.weight"][ids].T * math.sqrt(h)  # [H, T]
        eps = hp["layer_norm_epsilon"]
        for i in range(hp["n_layers"]):
            p = f"enc_p.encoder.attn_layers.{i}"
            q, k, v = self.conv(x, f"{p}.conv_q"), self.conv(x, f"{p}.conv_k"), self.conv(x, f"{p}.conv_v")
            y = rel_attention(q, k, v, self.t[f"{p}.emb_rel_k"][0], self.t[f"{p}.emb_rel_v"][0],
                              hp["n_heads"], hp["window_size"])
            y = self.conv(y, f"{p}.conv_o")
            n = f"enc_p.encoder.norm_layers_1.{i}"
            x = channel_layer_norm(x + y, self.t[f"{n}.gamma"], self.t[f"{n}.beta"], eps)
            f = f"enc_p.encoder.ffn_layers.{i}"
            y = np.maximum(self.conv(x, f"{f}.conv_1"), 0)
            y = self.conv(y, f"{f}.conv_2")
            n = f"enc_p.encoder.norm_layers_2.{i}"
            x = channel_layer_norm(x + y, self.t[f"{n}.gamma"], self.t[f"{n}.beta"], eps)
        stats = self.conv(x, "enc_p.proj")
        c = hp["inter_channels"]
        return x, stats[:c], stats[c:]

    # ---- duration predictor
    def dds_conv(self, x, p, g=None):
        hp = self.hp
        if g is not None:
            x = x + g
        k = hp["dp.kernel_size"]
        eps = hp["layer_norm_epsilon"]
        for i in range(hp["dp.n_layers"]):
            d = k ** i
            y = self.conv(x, f"{p}.convs_sep.{i}", dilation=d, groups=x.shape[0])
            y = gelu_erf(channel_layer_norm(y, self.t[f"{p}.norms_1.{i}.gamma"], self.t[f"{p}.norms_1.{i}.beta"], eps))
            y = self.conv(y, f"{p}.convs_1x1.{i}")
            y = gelu_erf(channel_layer_norm(y, self.t[f"{p}.norms_2.{i}.gamma"], self.t[f"{p}.norms_2.{i}.beta"], eps))
            x = x + y
        return x

    def duration_predictor(self, x, noise_w=0.0, rng=None):
        hp = self.hp
        h = self.conv(x, "dp.pre")
        h = self.dds_conv(h, "dp.convs")
        g = self.conv(h, "dp.proj")
        t = x.shape[1]
        z = rng.standard_normal((2, t)) * noise_w if (rng is not None and noise_w) else np.zeros((2, t))
        nb = hp["dp.num_bins"]
        fc = hp["dp.filter_channels"]
        for fid in hp["dp.flow_ids"]:
            z = z[::-1].copy()  # Flip
            p = f"dp.flows.{fid}"
            x0, x1 = z[:1], z[1:]
            hh = self.conv(x0, f"{p}.pre")
            hh = self.dds_conv(hh, f"{p}.convs", g=g)
            hh = self.conv(hh, f"{p}.proj")  # [3K-1, T]
            hh = hh.T  # [T, 3K-1]
            uw = hh[:, :nb] / math.sqrt(fc)
            uh = hh[:, nb:2 * nb] / math.sqrt(fc)
            ud = hh[:, 2 * nb:]
            x1 = rq_spline_inverse(x1[0], uw, uh, ud, hp["dp.tail_bound"])[None, :]
            z = np.concatenate([x0, x1])
        # The last flip before the affine flow (flows[:-2] + [flows[-1]] in the published code).
        z = z[::-1].copy()
        z = (z - self.t["dp.flows.0.m"]) * self.t["dp.flows.0.exp_neg_logs"]
        return z[0]  # logw

    # ---- flow (reverse)
    def wavenet(self, x, p):
        hp = self.hp
        hc = x.shape[0]
        out = np.zeros_like(x)
        n = hp["flow.wn_layers"]
        for i in range(n):
            xin = self.conv(x, f"{p}.in_layers.{i}", dilation=hp["flow.dilation_rate"] ** i)
            acts = np.tanh(xin[:hc]) * (1 / (1 + np.exp(-xin[hc:])))
            rs = self.conv(acts, f"{p}.res_skip_layers.{i}")
            if i < n - 1:
                x = x + rs[:hc]
                out = out + rs[hc:]
            else:
                out = out + rs
        return out

    def flow_reverse(self, z):
        hp = self.hp
        half = hp["inter_channels"] // 2
        for f in reversed(range(hp["flow.n_flows"])):
            z = z[::-1].copy()  # Flip (reverse channel order)
            p = f"flow.flows.{2 * f}"
            x0, x1 = z[:half], z[half:]
            h = self.conv(x0, f"{p}.pre")
            h = self.wavenet(h, f"{p}.enc")
            m = self.conv(h, f"{p}.post")
            z = np.concatenate([x0, x1 - m])
        return z

    # ---- decoder
    def decoder(self, z):
        hp = self.hp
        x = self.conv(z, "dec.conv_pre")
        slope = hp["dec.lrelu_slope"]
        ks = hp["dec.resblock_kernel_sizes"]
        nk = len(ks)
        dil = np.array(hp["dec.resblock_dilations"]).reshape(nk, -1)
        for i, (u, k) in enumerate(zip(hp["dec.upsample_rates"], hp["dec.upsample_kernel_sizes"])):
            x = leaky_relu(x, slope)
            x = conv_transpose1d(x, self.t[f"dec.ups.{i}.weight"], self.t[f"dec.ups.{i}.bias"], stride=u,
                                 pad=(k - u) // 2)
            xs = 0
            for j in range(nk):
                r = x
                for c, d in enumerate(dil[j]):
                    r = self.conv(leaky_relu(r, slope), f"dec.resblocks.{i * nk + j}.convs.{c}", dilation=int(d)) + r
                xs = xs + r
            x = xs / nk
        x = leaky_relu(x, hp["dec.final_lrelu_slope"])
        x = self.conv(x, "dec.conv_post")
        return np.tanh(x[0])

    def durations(self, logw, length_scale=1.0):
        return np.ceil(np.exp(logw) * length_scale).astype(np.int64)

    def synthesize(self, ids, noise_scale=0.0, length_scale=1.0, noise_w=0.0, rng=None):
        """Waveform for one utterance of phoneme ids; returns (audio, durations, stages)."""
        x, m, logs = self.text_encoder(np.asarray(ids))
        logw = self.duration_predictor(x, noise_w, rng)
        dur = self.durations(logw, length_scale)
        frames = np.repeat(np.arange(len(ids)), dur)
        if len(frames) == 0:
            frames = np.zeros(1, np.int64)  # VITS clamps the length to >= 1 frame
            zp = np.zeros((m.shape[0], 1))
        else:
            zp = m[:, frames]
        if noise_scale and rng is not None:
            zp = zp + rng.standard_normal(zp.shape) * np.exp(logs[:, frames]) * noise_scale
        z = self.flow_reverse(zp)
        audio = self.decoder(z)
        return audio, dur, {"x": x, "m": m, "logs": logs, "logw": logw, "z": z}

"""VITS (Piper) voices as GGUF: the one place that says which keys and tensors a voice file
holds, used by tools/piper_to_gguf.py (real voices from ONNX), tools/make_tiny_vits.py
(small random voices for tests) and tests/reference/vits_ref.py (which reads them back).

Tensors are named as the PyTorch modules of VITS / Piper (enc_p.encoder.attn_layers.0.conv_q.weight,
dec.ups.0.weight, ...) and stored F32 in the module's own layout (a Conv1d weight [out, in, k]
is GGUF ne [k, in, out]), except k-tap (k > 1, not depthwise) Conv1d weights, stored tap-major
[out, k, in] (GGUF ne [in, k, out]): NanoMind's unfold1d then copies whole frames per tap
(tap_major() says which; read_vits_gguf() turns them back). The hyper-parameters the graph does not show by shape are keys:
  vits.*      architecture (dilations, upsampling, spline bins, slopes, ...)
  tts.*       the voice's config: sample rate, noise/length scales, espeak voice and the
              phoneme_id_map as two parallel arrays (tts.phonemes: UTF-8 strings, one phoneme
              each; tts.phoneme_ids: its id).
"""
import numpy as np

import gguf

ARCH = "vits"

# Integer keys (vits.<name>) every voice has, and list-valued ones.
INT_KEYS = ("vocab_size", "hidden_channels", "inter_channels", "filter_channels", "n_heads",
            "n_layers", "kernel_size", "window_size",
            "dp.filter_channels", "dp.kernel_size", "dp.n_layers", "dp.num_bins",
            "flow.n_flows", "flow.wn_layers", "flow.kernel_size", "flow.dilation_rate",
            "dec.upsample_initial_channel", "dec.resblock_type")
INT_LIST_KEYS = ("dp.flow_ids", "dec.upsample_rates", "dec.upsample_kernel_sizes",
                 "dec.resblock_kernel_sizes", "dec.resblock_dilations")
FLOAT_KEYS = ("layer_norm_epsilon", "dp.tail_bound", "dec.lrelu_slope", "dec.final_lrelu_slope")


def tap_major(name, shape):
    """Whether a weight of PyTorch shape `shape` is stored tap-major: Conv1d weights with
    k > 1 taps and more than one input channel (depthwise ones stay), not ConvTranspose1d."""
    return (name.endswith(".weight") and len(shape) == 3 and shape[2] > 1 and shape[1] > 1
            and not name.startswith("dec.ups."))


def write_vits_gguf(path, tensors, hp, cfg, name="voice"):
    """tensors: {torch name: np.ndarray}; hp: the vits.* values; cfg: sample_rate,
    noise_scale, length_scale, noise_w, espeak_voice, phoneme_id_map {str: [int]}."""
    w = gguf.GGUFWriter(path, ARCH)
    w.add_name(name)
    w.add_file_type(0)
    for k in INT_KEYS:
        w.add_uint32(f"{ARCH}.{k}", int(hp[k]))
    for k in INT_LIST_KEYS:
        w.add_array(f"{ARCH}.{k}", [int(v) for v in hp[k]])
    for k in FLOAT_KEYS:
        w.add_float32(f"{ARCH}.{k}", float(hp[k]))
    w.add_uint32("tts.sample_rate", int(cfg["sample_rate"]))
    w.add_float32("tts.noise_scale", float(cfg["noise_scale"]))
    w.add_float32("tts.length_scale", float(cfg["length_scale"]))
    w.add_float32("tts.noise_w", float(cfg["noise_w"]))
    w.add_string("tts.espeak_voice", cfg["espeak_voice"])
    phonemes, ids = [], []
    for ph, idl in cfg["phoneme_id_map"].items():
        if len(idl) != 1:
            raise ValueError(f"phoneme {ph!r} maps to {len(idl)} ids; one id per phoneme is supported")
        phonemes.append(ph)
        ids.append(int(idl[0]))
    w.add_array("tts.phonemes", phonemes)
    w.add_array("tts.phoneme_ids", ids)
    for n, t in tensors.items():
        t = np.asarray(t, dtype=np.float32)
        if tap_major(n, t.shape):
            t = t.transpose(0, 2, 1)
        w.add_tensor(n, np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _field(r, key):
    f = r.fields[key]
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]][0].item()


def read_vits_gguf(path):
    """(tensors {name: float64 array in torch layout}, hp, cfg) from a voice GGUF."""
    r = gguf.GGUFReader(path)
    tensors = {}
    for t in r.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        a = np.asarray(t.data, dtype=np.float64).reshape(shape)
        if len(shape) == 3 and tap_major(t.name, (shape[0], shape[2], shape[1])):
            a = a.transpose(0, 2, 1)
        tensors[t.name] = a
    hp = {k: _field(r, f"{ARCH}.{k}") for k in INT_KEYS + INT_LIST_KEYS + FLOAT_KEYS}
    cfg = {k: _field(r, f"tts.{k}") for k in ("sample_rate", "noise_scale", "length_scale",
                                               "noise_w", "espeak_voice")}
    cfg["phoneme_id_map"] = dict(zip(_field(r, "tts.phonemes"), _field(r, "tts.phoneme_ids")))
    return tensors, hp, cfg

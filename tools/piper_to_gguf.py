#!/usr/bin/env python3
"""Convert a Piper voice (VITS exported to ONNX: voice.onnx + voice.onnx.json) to a NanoMind
voice GGUF (keys and tensor names: tools/vits_gguf.py).

  python tools/piper_to_gguf.py en_US-joe-medium.onnx [-c en_US-joe-medium.onnx.json] -o joe.gguf

Needs the `onnx` package (tools/requirements-tts.txt). Weights are the ONNX initializers,
renamed after the PyTorch module whose node consumes them: Piper's export folds weight norm
into anonymous initializers (onnx::Conv_8168 ...), which are named here from their Conv
node (/flow/flows.6/enc/in_layers.0/Conv -> flow.flows.6.enc.in_layers.0.weight). The
hyper-parameters come from the graph (shapes, Conv/ConvTranspose attributes, LeakyRelu
slopes, the spline's tail bound), the voice's settings from the JSON config.
"""
import argparse
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vits_gguf import write_vits_gguf  # noqa: E402


class ConvertError(Exception):
    pass


def module_of(node_name):
    """'/flow/flows.6/enc/in_layers.0/Conv' -> 'flow.flows.6.enc.in_layers.0'."""
    parts = node_name.strip("/").split("/")
    return ".".join(parts[:-1])


def load_onnx(path):
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(path)
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = list(g.node)
    attrs = {n.name: {a.name: helper.get_attribute_value(a) for a in n.attribute} for n in nodes}
    return inits, nodes, attrs


def collect_tensors(inits, nodes):
    tensors = {}
    taken = set()
    for n in nodes:
        if n.op_type in ("Conv", "ConvTranspose"):
            mod = module_of(n.name)
            for slot, suffix in ((1, "weight"), (2, "bias")):
                if len(n.input) > slot and n.input[slot] in inits:
                    tensors[f"{mod}.{suffix}"] = inits[n.input[slot]]
                    taken.add(n.input[slot])
        elif n.op_type == "Gather" and n.input[0] in inits and module_of(n.name) == "enc_p.emb":
            tensors["enc_p.emb.weight"] = inits[n.input[0]]
            taken.add(n.input[0])
        elif n.name == "/dp/flows.0/Mul" and n.input[1] in inits:
            # ElementwiseAffine in reverse: (x - m) * exp(-logs); the export folded exp(-logs).
            tensors["dp.flows.0.exp_neg_logs"] = inits[n.input[1]]
            taken.add(n.input[1])
    for name, a in inits.items():
        if name in taken or name.startswith("onnx::") or name.startswith("/") or not re.match(r"[a-z_]", name):
            continue
        if a.dtype == np.float32 and a.size > 1:
            tensors[name] = a
    return tensors


def conv_attr(attrs, node, key):
    if node not in attrs:
        raise ConvertError(f"the graph has no node {node}: not a Piper VITS voice this converter knows")
    return attrs[node][key]


def count(tensors, pattern):
    return len({m.group(1) for k in tensors for m in [re.match(pattern, k)] if m})


def hyper_parameters(tensors, nodes, attrs, inits):
    t = tensors
    need = ["enc_p.emb.weight", "enc_p.proj.weight", "enc_p.encoder.attn_layers.0.emb_rel_k",
            "enc_p.encoder.ffn_layers.0.conv_1.weight", "dp.pre.weight", "dp.flows.0.m",
            "dp.flows.0.exp_neg_logs", "dec.conv_pre.weight", "flow.flows.0.pre.weight"]
    for n in need:
        if n not in t:
            raise ConvertError(f"tensor {n} not found: not a Piper VITS voice this converter knows")
    vocab, hidden = t["enc_p.emb.weight"].shape
    rel = t["enc_p.encoder.attn_layers.0.emb_rel_k"]
    hp = {
        "vocab_size": vocab, "hidden_channels": hidden,
        "inter_channels": t["enc_p.proj.weight"].shape[0] // 2,
        "filter_channels": t["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape[0],
        "n_heads": hidden // rel.shape[2],
        "n_layers": count(t, r"enc_p\.encoder\.attn_layers\.(\d+)\."),
        "kernel_size": t["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape[2],
        "window_size": (rel.shape[1] - 1) // 2,
        "layer_norm_epsilon": 1e-5,  # VITS's LayerNorm (F.layer_norm default); the export inlines it
        "dp.filter_channels": t["dp.pre.weight"].shape[0],
        "dp.kernel_size": t["dp.convs.convs_sep.0.weight"].shape[2],
        "dp.n_layers": count(t, r"dp\.convs\.convs_sep\.(\d+)\."),
    }
    flow_ids = sorted({int(m.group(1)) for k in t for m in [re.match(r"dp\.flows\.(\d+)\.pre\.", k)] if m},
                      reverse=True)
    if not flow_ids:
        raise ConvertError("no duration-predictor flows (dp.flows.N.pre) found")
    hp["dp.flow_ids"] = flow_ids
    n_out = t[f"dp.flows.{flow_ids[0]}.proj.weight"].shape[0]  # half_channels (1) * (3 * bins - 1)
    if (n_out + 1) % 3:
        raise ConvertError(f"dp flow projection has {n_out} outputs, not 3 * bins - 1")
    hp["dp.num_bins"] = (n_out + 1) // 3
    # The spline's tail bound: the scalar the flow compares |x| against (GreaterOrEqual/LessOrEqual).
    bound = None
    for n in nodes:
        if n.name.startswith(f"/dp/flows.{flow_ids[0]}/") and n.op_type in ("GreaterOrEqual", "LessOrEqual"):
            for i in n.input:
                if i in inits and inits[i].size == 1:
                    bound = abs(float(inits[i].reshape(-1)[0]))
    if bound is None:
        raise ConvertError("could not find the spline's tail bound in the duration predictor")
    hp["dp.tail_bound"] = bound
    hp["flow.n_flows"] = count(t, r"flow\.flows\.(\d+)\.pre\.")
    hp["flow.wn_layers"] = count(t, r"flow\.flows\.0\.enc\.in_layers\.(\d+)\.")
    hp["flow.kernel_size"] = t["flow.flows.0.enc.in_layers.0.weight"].shape[2]
    d1 = conv_attr(attrs, "/flow/flows.0/enc/in_layers.1/Conv", "dilations")[0] if hp["flow.wn_layers"] > 1 else 1
    hp["flow.dilation_rate"] = d1
    n_up = count(t, r"dec\.ups\.(\d+)\.")
    hp["dec.upsample_initial_channel"] = t["dec.conv_pre.weight"].shape[0]
    hp["dec.upsample_rates"] = [conv_attr(attrs, f"/dec/ups.{i}/ConvTranspose", "strides")[0] for i in range(n_up)]
    hp["dec.upsample_kernel_sizes"] = [conv_attr(attrs, f"/dec/ups.{i}/ConvTranspose", "kernel_shape")[0]
                                       for i in range(n_up)]
    if any(k.startswith("dec.resblocks.0.convs1.") for k in t):
        raise ConvertError("HiFi-GAN resblock type 1 (convs1/convs2) is not supported yet; this voice uses it")
    n_res = count(t, r"dec\.resblocks\.(\d+)\.")
    n_kernels = n_res // n_up
    n_dil = count(t, r"dec\.resblocks\.0\.convs\.(\d+)\.")
    hp["dec.resblock_type"] = 2
    hp["dec.resblock_kernel_sizes"] = [t[f"dec.resblocks.{j}.convs.0.weight"].shape[2] for j in range(n_kernels)]
    hp["dec.resblock_dilations"] = [conv_attr(attrs, f"/dec/resblocks.{j}/convs.{d}/Conv", "dilations")[0]
                                    for j in range(n_kernels) for d in range(n_dil)]
    slopes = [attrs[n.name]["alpha"] for n in nodes if n.op_type == "LeakyRelu" and n.name.startswith("/dec/")]
    if not slopes:
        raise ConvertError("no LeakyRelu in the decoder")
    hp["dec.lrelu_slope"] = slopes[0]
    hp["dec.final_lrelu_slope"] = slopes[-1]
    return hp


def convert(onnx_path, config_path, out_path):
    with open(config_path, encoding="utf-8") as f:
        conf = json.load(f)
    inits, nodes, attrs = load_onnx(onnx_path)
    tensors = collect_tensors(inits, nodes)
    hp = hyper_parameters(tensors, nodes, attrs, inits)
    if conf.get("num_speakers", 1) != 1:
        raise ConvertError("multi-speaker voices are not supported yet")
    if conf.get("phoneme_type", "espeak") != "espeak":
        raise ConvertError(f"phoneme_type {conf.get('phoneme_type')!r}: only espeak voices are supported")
    inf = conf.get("inference", {})
    cfg = {"sample_rate": conf["audio"]["sample_rate"],
           "noise_scale": inf.get("noise_scale", 0.667), "length_scale": inf.get("length_scale", 1.0),
           "noise_w": inf.get("noise_w", 0.8), "espeak_voice": conf["espeak"]["voice"],
           "phoneme_id_map": conf["phoneme_id_map"]}
    name = os.path.basename(onnx_path)
    name = name[:-5] if name.endswith(".onnx") else name
    write_vits_gguf(out_path, tensors, hp, cfg, name=name)
    return tensors, hp, cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx", help="Piper voice .onnx")
    ap.add_argument("-c", "--config", help="the voice's .onnx.json (default: ONNX path + .json)")
    ap.add_argument("-o", "--out", required=True, help="output GGUF")
    a = ap.parse_args(argv)
    config = a.config or a.onnx + ".json"
    try:
        tensors, hp, _ = convert(a.onnx, config, a.out)
    except (ConvertError, OSError, KeyError, json.JSONDecodeError) as e:
        print(f"piper_to_gguf: {e}", file=sys.stderr)
        return 1
    n = sum(v.size for v in tensors.values())
    print(f"wrote {a.out}: {len(tensors)} tensors, {n / 1e6:.2f} M parameters, "
          f"{hp['n_layers']} encoder layers, upsampling {hp['dec.upsample_rates']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

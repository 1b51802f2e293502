"""Copies of a GGUF file with edits, for tests that need a model with one thing wrong:
metadata keys dropped by prefix, the architecture renamed, or float32 values replaced."""
import gguf
import numpy as np


def copy_gguf(src, dst, drop_prefix=None, arch=None, float_overrides=None):
    rd = gguf.GGUFReader(src)
    old_arch = rd.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst, arch or old_arch)
    for name, field in rd.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or (drop_prefix and name.startswith(drop_prefix)):
            continue
        key = name.replace(old_arch + ".", (arch or old_arch) + ".", 1)
        vtype = field.types[0]
        if float_overrides and name in float_overrides:
            w.add_float32(key, float_overrides[name])
        elif vtype == gguf.GGUFValueType.ARRAY:
            w.add_array(key, field.contents())
        else:
            w.add_key_value(key, field.contents(), vtype)
    for t in rd.tensors:
        w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

"""Cross-checks our GGUF reader and writer against the independent gguf-py package.

gguf-py (GGUFWriter) writes files with every value type and several tensor dtypes, incl.
quantised raw bytes; `nanomind inspect --json` and the shim read them back. Files from
our writer (tests/shim/shim_gguf.cpp) are read by gguf.GGUFReader. Metadata must match
exactly (floats compared as their f32/f64 bit patterns), tensor bytes must be identical.
"""
import ctypes
import json
import os
import subprocess

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V


def nm_inspect(path):
    exe = os.path.join(os.environ["NM_BIN"], "nanomind")
    out = subprocess.run([exe, "inspect", "--json", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def nm_tensor_bytes(shim, path, name, size):
    buf = np.zeros(size, dtype=np.uint8)
    n = ctypes.c_size_t(0)
    rc = shim.nm_shim_gguf_tensor_bytes(str(path).encode(), name.encode(), buf.ctypes.data_as(ctypes.c_void_p),
                                        ctypes.c_size_t(size), ctypes.byref(n))
    assert rc == 0 and n.value == size, (rc, n.value, size)
    return buf


# value, gguf-py type, sub type, our type label
def random_kvs(rng):
    f32 = float(np.float32(rng.standard_normal()))
    return {
        "x.u8": (int(rng.integers(0, 256)), V.UINT8, None, "u8"),
        "x.i8": (int(rng.integers(-128, 128)), V.INT8, None, "i8"),
        "x.u16": (int(rng.integers(0, 2**16)), V.UINT16, None, "u16"),
        "x.i16": (int(rng.integers(-2**15, 2**15)), V.INT16, None, "i16"),
        "x.u32": (int(rng.integers(0, 2**32)), V.UINT32, None, "u32"),
        "x.i32": (int(rng.integers(-2**31, 2**31)), V.INT32, None, "i32"),
        "x.f32": (f32, V.FLOAT32, None, "f32"),
        "x.bool": (bool(rng.integers(0, 2)), V.BOOL, None, "bool"),
        "x.str": ("héllo \"wörld\"\n\t" + str(rng.integers(1000)), V.STRING, None, "string"),
        "x.u64": (int(rng.integers(0, 2**63)) * 2 + 1, V.UINT64, None, "u64"),
        "x.i64": (-int(rng.integers(0, 2**62)), V.INT64, None, "i64"),
        "x.f64": (float(rng.standard_normal()) * 1e200, V.FLOAT64, None, "f64"),
        "x.arr_str": ([f"t{i}" for i in range(int(rng.integers(1, 50)))], V.ARRAY, V.STRING, "[string]"),
        "x.arr_f32": ([float(np.float32(v)) for v in rng.standard_normal(7)], V.ARRAY, V.FLOAT32, "[f32]"),
        "x.arr_i32": ([int(v) for v in rng.integers(-2**31, 2**31, 9)], V.ARRAY, V.INT32, "[i32]"),
        "x.arr_u64": ([int(v) for v in rng.integers(0, 2**62, 3)], V.ARRAY, V.UINT64, "[u64]"),
        "x.arr_bool": ([True, False, True], V.ARRAY, V.BOOL, "[bool]"),
        "x.nested": ([[1, 2, 3], [4]], V.ARRAY, None, "[array]"),
    }


TENSORS = [  # name, dtype, gguf-py byte shape (outer first), our ne (inner first)
    ("a.f32", Q.F32, (3, 8 * 4), [8, 3]),
    ("a.f16", Q.F16, (2, 32 * 2), [32, 2]),
    ("a.q8_0", Q.Q8_0, (4, 34 * 2), [64, 4]),
    ("a.q4_k", Q.Q4_K, (2, 144), [256, 2]),
    ("a.q5_1", Q.Q5_1, (1, 24 * 3), [96, 1]),
    ("a.i8", Q.I8, (5,), [5]),
]


@pytest.mark.parametrize("alignment", [32, 64, 256])
def test_gguf_py_file_read_by_nanomind(tmp_path, shim, rng, alignment):
    path = tmp_path / "py.gguf"
    w = gguf.GGUFWriter(str(path), "nmtest")
    if alignment != 32:
        w.add_custom_alignment(alignment)
    kvs = random_kvs(rng)
    for key, (val, vt, sub, _) in kvs.items():
        w.add_key_value(key, val, vt, sub_type=sub)
    datas = {}
    for name, qt, shape, _ in TENSORS:
        raw = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if qt == Q.F32:
            raw = raw.view(np.float32)  # plain dtypes are given as typed arrays
        elif qt == Q.F16:
            raw = raw.view(np.float16)
        elif qt == Q.I8:
            raw = raw.view(np.int8)
        datas[name] = raw.tobytes()
        w.add_tensor(name, raw, raw_dtype=qt if qt not in (Q.F32, Q.F16, Q.I8) else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    j = nm_inspect(path)
    assert j["version"] == 3
    assert j["alignment"] == alignment
    meta = {m["key"]: m for m in j["metadata"]}
    assert meta["general.architecture"]["value"] == "nmtest"
    for key, (val, _, _, label) in kvs.items():
        assert meta[key]["type"] == label, key
        if label == "f32":
            assert np.float32(meta[key]["value"]) == np.float32(val), key
        elif label == "[f32]":
            assert np.array_equal(np.float32(meta[key]["value"]), np.float32(val)), key
        else:
            assert meta[key]["value"] == val, key
    tens = {t["name"]: t for t in j["tensors"]}
    assert [t["name"] for t in j["tensors"]] == [t[0] for t in TENSORS]
    for name, qt, _, ne in TENSORS:
        t = tens[name]
        assert t["type_id"] == int(qt), name
        assert t["shape"] == ne, name
        assert t["bytes"] == len(datas[name]), name
        assert t["offset"] % alignment == 0
        got = nm_tensor_bytes(shim, path, name, len(datas[name]))
        assert got.tobytes() == datas[name], name


def test_nanomind_file_read_by_gguf_py(tmp_path, shim, rng):
    sizes = [8 * 3 * 4, 16 * 2, 2 * 18 * 2, 210, 5 * 4]
    blob = rng.integers(0, 256, size=sum(sizes), dtype=np.uint8)
    for alignment in (32, 128):
        path = tmp_path / f"nm{alignment}.gguf"
        rc = shim.nm_shim_gguf_write_sample(str(path).encode(), blob.ctypes.data_as(ctypes.c_void_p),
                                            ctypes.c_size_t(blob.size), ctypes.c_uint32(alignment))
        assert rc == 0
        r = gguf.GGUFReader(str(path))
        f = r.fields
        expect = {
            "general.architecture": ("nmtest", V.STRING), "t.u8": (250, V.UINT8), "t.i8": (-7, V.INT8),
            "t.u16": (65535, V.UINT16), "t.i16": (-32768, V.INT16), "t.u32": (123456789, V.UINT32),
            "t.i32": (-123456789, V.INT32), "t.f32": (0.25, V.FLOAT32), "t.bool": (False, V.BOOL),
            "t.str": ("ünïcode ✓", V.STRING), "t.u64": (2**64 - 1, V.UINT64),
            "t.i64": (-9007199254740993, V.INT64), "t.f64": (3.141592653589793, V.FLOAT64),
            "t.arr_str": (["<s>", "</s>", "hello world"], V.ARRAY), "t.arr_f32": ([0.5, -1.25], V.ARRAY),
            "t.arr_i32": ([-1, 0, 1], V.ARRAY), "t.arr_u8": ([1, 2, 255], V.ARRAY),
        }
        for key, (val, vt) in expect.items():
            assert f[key].types[0] == vt, key
            assert f[key].contents() == val, key
        assert f["t.arr_i32"].types == [V.ARRAY, V.INT32]
        assert f["t.arr_u8"].types == [V.ARRAY, V.UINT8]
        nested = f["t.arr_nested"]
        assert nested.types[0] == V.ARRAY and nested.types[1] == V.ARRAY
        ints = [int(p[0]) for p in nested.parts if p.dtype == np.int32]
        assert ints == [1, 2, 3]
        if alignment != 32:
            assert f["general.alignment"].contents() == alignment
        assert r.alignment == alignment
        names = ["w.f32", "w.f16", "w.q4_0", "w.q6_k", "w.i32"]
        types = [Q.F32, Q.F16, Q.Q4_0, Q.Q6_K, Q.I32]
        assert [t.name for t in r.tensors] == names
        at = 0
        for t, qt, n in zip(r.tensors, types, sizes):
            assert t.tensor_type == qt
            assert t.n_bytes == n
            assert t.data_offset % alignment == 0
            assert np.asarray(t.data).tobytes() == blob[at:at + n].tobytes(), t.name
            at += n
        assert list(r.tensors[0].shape) == [8, 3]
        assert list(r.tensors[2].shape) == [64, 2]


def test_inspect_rejects_bad_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x01\x00\x00\x00" + b"\x00" * 32)
    exe = os.path.join(os.environ["NM_BIN"], "nanomind")
    out = subprocess.run([exe, "inspect", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "version 1" in out.stderr

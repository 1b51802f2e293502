"""Hostile and broken Whisper model files: each must be refused with a message that says
what is wrong — never a crash (this suite also runs under ASan/UBSan) or a hang. Every
format: whisper.cpp ggml files, CTranslate2 directories (model.bin, config.json,
vocabulary.txt) and GGUF files."""
import os
import shutil
import struct

import numpy as np
import pytest

import whisper_helpers as wh


def refused(shim, path):
    with pytest.raises(RuntimeError) as e:
        wh.Whisper(shim, str(path)).close()
    return str(e.value)


@pytest.fixture
def ggml(tmp_path, rng):
    return wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), "ggml", "q8_0")


@pytest.fixture
def ct2(tmp_path, rng):
    return wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), "ct2", "float16")


def patched(tmp_path, src, offset, fmt, value, name="patched.bin"):
    data = bytearray(open(src, "rb").read())
    struct.pack_into(fmt, data, offset, value)
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def test_ggml_wrong_magic_and_not_a_model(shim, tmp_path, ggml):
    assert "magic" in refused(shim, patched(tmp_path, ggml, 0, "<I", 0x12345678))
    (tmp_path / "text.bin").write_text("hello, I am not a model\n" * 10)
    assert "magic" in refused(shim, tmp_path / "text.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    assert refused(shim, tmp_path / "empty.bin")
    assert "no such file" in refused(shim, tmp_path / "missing.bin")


@pytest.mark.parametrize("index,value,words", [
    (0, -5, "vocabulary"), (0, 10**9, "vocabulary"), (1, 1000, "n_audio_ctx"), (2, 0, "width"),
    (2, 100000, "width"), (3, 0, "heads"), (3, 7, "heads"), (4, 0, "layers"), (4, 100000, "layers"),
    (5, 1, "n_text_ctx"), (8, -1, "layers"), (9, 0, "n_mels"), (9, 100000, "n_mels")])
def test_ggml_absurd_hyper_parameters(shim, tmp_path, ggml, index, value, words):
    msg = refused(shim, patched(tmp_path, ggml, 4 + 4 * index, "<i", value))
    assert any(w in msg for w in words.split("|")) or "hyper-parameters" in msg or "shape" in msg, msg


def test_ggml_truncated_anywhere(shim, tmp_path, ggml, rng):
    data = open(ggml, "rb").read()
    cuts = sorted(set([1, 3, 40, 50, 100] + [int(x) for x in rng.integers(50, len(data) - 1, 40)] + [len(data) - 1]))
    for cut in cuts:
        p = tmp_path / f"cut{cut}.bin"
        p.write_bytes(data[:cut])
        msg = refused(shim, p)
        assert msg, cut
        p.unlink()


def test_ggml_random_corruption_never_crashes(shim, tmp_path, ggml, rng):
    data = bytearray(open(ggml, "rb").read())
    header_end = 4 + 44 + 8 + 80 * 201 * 4 + 4000  # hyper-parameters, filters and part of the vocabulary
    for i in range(30):
        d = bytearray(data)
        for _ in range(int(rng.integers(1, 8))):
            at = int(rng.integers(0, header_end if i % 2 else len(d)))
            d[at] = int(rng.integers(0, 256))
        p = tmp_path / f"flip{i}.bin"
        p.write_bytes(bytes(d))
        try:
            wh.Whisper(shim, str(p)).close()  # a flip inside weights may still load: fine
        except RuntimeError as e:
            assert str(e)
        p.unlink()


def test_ggml_wrong_tensor_shape_and_type(shim, tmp_path, ggml):
    data = open(ggml, "rb").read()
    # The first tensor's header follows the vocabulary; find it by its name.
    name = b"decoder.positional_embedding"
    at = data.index(name)
    n_dims_at = at - 4 * 2 - 4 * 3  # n_dims, name_len, type, then 2 dims precede the name
    out = patched(tmp_path, ggml, n_dims_at + 12, "<i", 7)  # ne0 64 -> 7
    assert "shape" in refused(shim, out) or "blocks" in refused(shim, out)
    out = patched(tmp_path, ggml, n_dims_at + 8, "<i", 99, "type.bin")  # unknown ggml type
    assert "type" in refused(shim, out)


def _gguf(path, arch="whisper", drop=(), hp_patch=None, tokens=True):
    import gguf
    w = wh._tiny_weights(1)
    hp = dict(w.hp, **(hp_patch or {}))
    g = gguf.GGUFWriter(str(path), arch)
    for k in wh.wf.HPARAM_KEYS:
        if k not in drop:
            g.add_uint32(f"whisper.{k}", hp[k])
    if tokens:
        g.add_array("tokenizer.ggml.tokens", list(w.text_tokens))
    for name in wh.wf.tensor_names(w.hp)[:3]:
        g.add_tensor(name, np.ascontiguousarray(np.asarray(w.tensors[name], np.float32)))
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()
    return path


def test_gguf_broken_files(shim, tmp_path, rng):
    assert "not a Whisper model" in refused(shim, _gguf(tmp_path / "llama.gguf", arch="llama"))
    assert "n_mels" in refused(shim, _gguf(tmp_path / "nokey.gguf", drop=("n_mels",)))
    assert "tokenizer.ggml.tokens" in refused(shim, _gguf(tmp_path / "notok.gguf", tokens=False))
    assert "width" in refused(shim, _gguf(tmp_path / "hp.gguf", hp_patch={"n_audio_state": 100}))
    msg = refused(shim, _gguf(tmp_path / "few.gguf"))  # most tensors missing
    assert "missing" in msg or "tensor" in msg, msg
    good = wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), "gguf", "q8_0")
    data = open(good, "rb").read()
    for cut in sorted(set([3, 10, 30] + [int(x) for x in rng.integers(30, len(data) - 1, 20)] + [len(data) - 1])):
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        assert refused(shim, p), cut
        p.unlink()


def test_ct2_broken_directories(shim, tmp_path, ct2):
    def copy(name):
        d = tmp_path / name
        shutil.copytree(ct2, d)
        return d

    d = copy("no_vocab")
    os.remove(d / "vocabulary.txt")
    assert "vocabulary" in refused(shim, d)
    d = copy("no_config")
    os.remove(d / "config.json")
    assert "config.json" in refused(shim, d)
    d = copy("bad_config")
    (d / "config.json").write_text("{not json")
    assert "config.json" in refused(shim, d)
    d = copy("short_vocab")
    lines = (d / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    (d / "vocabulary.txt").write_text("\n".join(lines[:-100]), encoding="utf-8")
    assert "vocabulary" in refused(shim, d)
    d = copy("version")
    (d / "model.bin").write_bytes(struct.pack("<I", 2) + (d / "model.bin").read_bytes()[4:])
    assert "version" in refused(shim, d)
    d = copy("spec")
    data = bytearray((d / "model.bin").read_bytes())
    data[6:17] = b"OtherSpec\0\0"
    (d / "model.bin").write_bytes(bytes(data))
    assert refused(shim, d)
    d = copy("cut")
    data = (d / "model.bin").read_bytes()
    for cut in (3, 10, 30, 200, len(data) // 2, len(data) - 5):
        (d / "model.bin").write_bytes(data[:cut])
        assert refused(shim, d)


def test_real_model_files_load_when_present(shim):
    """The real faster-whisper directories (scripts/fetch-models.sh) load and describe themselves."""
    base = os.environ.get("NM_WHISPER_BASE", "/work/models-real/whisper-base-ct2")
    if not os.path.isdir(base):
        pytest.skip(f"{base} is absent (run scripts/fetch-models.sh)")
    with wh.Whisper(shim, base) as m:
        assert "Whisper base (multilingual" in m.message
        assert m.hp["n_vocab"] == 51865 and m.eot == 50257 and m.timestamp_begin == 50364

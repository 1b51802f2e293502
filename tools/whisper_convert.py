#!/usr/bin/env python3
"""Converts Whisper models between faster-whisper's CTranslate2 directories, whisper.cpp's
ggml-*.bin files and GGUF (NanoMind's layout, docs/WHISPER_GGUF.md), so that all of NanoMind's
loaders (and whisper.cpp, faster-whisper) run the very same weights.

  tools/whisper_convert.py whisper-base-ct2/ ggml-base.bin --type f16     # CTranslate2 -> ggml
  tools/whisper_convert.py whisper-base-ct2/ ggml-base-q8_0.bin --type q8_0
  tools/whisper_convert.py ggml-base.bin whisper-base-ct2-copy/ --type float16   # ggml -> CTranslate2
  tools/whisper_convert.py whisper-base-ct2/ whisper-base-q8_0.gguf --type q8_0    # any -> GGUF (by the name)

ggml types: f32, f16, q8_0, q5_0, q5_1, q4_0, q4_1 (matrices; conv kernels stay f16 and
vectors f32, as whisper.cpp's quantizer leaves them). CTranslate2 types: float32, float16,
int8. CTranslate2 directories hold no mel filters: the ggml file gets librosa's Slaney
filters (what Whisper's mel_filters.npz holds). A CTranslate2 directory written here has
model.bin, config.json and vocabulary.txt (faster-whisper additionally wants the
tokenizer.json of the original model: copy it over).
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import whisper_formats as wf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="CTranslate2 directory, ggml .bin file or GGUF file")
    ap.add_argument("dst", help="a .gguf file: GGUF; a .bin file (or anything, from a directory): ggml; "
                                "otherwise a CTranslate2 directory")
    ap.add_argument("--type", default=None, help="weight type of the output (default f16 / float16)")
    a = ap.parse_args()
    if os.path.isdir(a.src):
        w = wf.read_ct2(a.src)
    elif open(a.src, "rb").read(4) == b"GGUF":
        w = wf.read_gguf(a.src)
    else:
        w = wf.read_ggml(a.src)
    if a.dst.endswith(".gguf"):
        wtype = a.type or "f16"
        if wtype not in wf.GGML_FTYPES:
            ap.error(f"GGUF type must be one of {', '.join(wf.GGML_FTYPES)}")
        wf.write_gguf(a.dst, w, wtype)
    elif os.path.isdir(a.src) or a.dst.endswith(".bin"):
        wtype = a.type or "f16"
        if wtype not in wf.GGML_FTYPES:
            ap.error(f"ggml type must be one of {', '.join(wf.GGML_FTYPES)}")
        wf.write_ggml(a.dst, w, wtype)
    else:
        dtype = a.type or "float16"
        if dtype not in ("float32", "float16", "int8"):
            ap.error("CTranslate2 type must be float32, float16 or int8")
        wf.write_ct2(a.dst, w, dtype)
    if os.path.isdir(a.src) and os.path.exists(os.path.join(a.src, "tokenizer.json")) and os.path.isdir(a.dst):
        shutil.copy(os.path.join(a.src, "tokenizer.json"), a.dst)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()

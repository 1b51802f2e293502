"""Shared by the Whisper tests: a ctypes wrapper over the test shim's Whisper entry points,
tiny random-weight models in both file formats (tools/make_tiny_whisper.py), and speech
spoken by espeak-ng."""
import ctypes
import os
import shutil
import subprocess
import sys

import numpy as np

from conftest import ptr

SRC = os.environ.get("NM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(SRC, "tools")
sys.path.insert(0, TOOLS)
import whisper_formats as wf  # noqa: E402

# ggml file types and CTranslate2 types the tiny models are written in.
GGML_TYPES = ["f32", "f16", "q8_0", "q5_0", "q4_0"]
CT2_TYPES = ["float32", "float16", "int8"]


def make_tiny(tmp_path, seed, fmt, wtype, **kw):
    """Writes a tiny model (fmt "ct2", "ggml" or "gguf"); returns its path (a directory for CTranslate2)."""
    w = _tiny_weights(seed, **kw)
    if fmt == "ct2":
        out = str(tmp_path / f"tiny-{seed}-{wtype}")
        wf.write_ct2(out, w, wtype)
    elif fmt == "gguf":
        out = str(tmp_path / f"tiny-{seed}-{wtype}.gguf")
        wf.write_gguf(out, w, wtype)
    else:
        out = str(tmp_path / f"tiny-{seed}-{wtype}.bin")
        wf.write_ggml(out, w, wtype)
    return out


def _tiny_weights(seed, **kw):
    sys.path.insert(0, TOOLS)
    import make_tiny_whisper
    return make_tiny_whisper.make(seed, **kw)


def read_weights(path):
    """The weights as stored (quantised blocks dequantised by gguf-py), for the reference."""
    if os.path.isdir(path):
        return wf.read_ct2(path)
    return wf.read_gguf(path) if open(path, "rb").read(4) == b"GGUF" else wf.read_ggml(path)


def speak(text, path, voice="en-us", speed=150):
    """espeak-ng's speech of `text` as a WAV file (22.05 kHz mono); None without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    # Under the sanitizer build ctest preloads ASan into Python; espeak-ng must not inherit it
    # (with the ASan runtime preloaded it hangs, never writing the file).
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True, capture_output=True,
                   env=env, timeout=120)
    return str(path)


class Whisper:
    """One loaded model in the shim (encoder + per-call decoders)."""

    def __init__(self, shim, path, threads=2):
        self.shim = shim
        shim.nm_shim_whisper_open.restype = ctypes.c_void_p
        msg = ctypes.create_string_buffer(1024)
        h = shim.nm_shim_whisper_open(path.encode(), threads, msg, 1024)
        self.message = msg.value.decode()
        if not h:
            raise RuntimeError(self.message)
        self.h = ctypes.c_void_p(h)
        hp = np.zeros(10, np.int32)
        sp = np.zeros(10, np.int32)
        shim.nm_shim_whisper_info(self.h, ptr(hp), ptr(sp))
        self.hp = dict(zip(wf.HPARAM_KEYS, (int(x) for x in hp)))
        (self.eot, self.sot, self.lang_begin, self.translate, self.transcribe, self.solm, self.prev, self.nosp,
         self.no_timestamps, self.timestamp_begin) = (int(x) for x in sp)

    def close(self):
        if self.h:
            self.shim.nm_shim_whisper_free(self.h)
            self.h = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def mel_filters(self):
        f = np.zeros((self.hp["n_mels"], 201), np.float32)
        self.shim.nm_shim_whisper_mel_filters(self.h, ptr(f))
        return f

    def packed_bytes(self):
        """Bytes of matrices running from packed CPU copies; -1 where this ISA has none for the type."""
        self.shim.nm_shim_whisper_packed_bytes.restype = ctypes.c_int64
        return int(self.shim.nm_shim_whisper_packed_bytes(self.h))

    def set_audio_ctx(self, n_ctx):
        """Encoder positions of the calls that follow (0: all 1500); encode() then takes
        2 x n_ctx mel frames and the decoder n_ctx states."""
        assert self.shim.nm_shim_whisper_set_audio_ctx(self.h, n_ctx) == 0

    def encode(self, mel):
        mel = np.ascontiguousarray(mel, np.float32)
        states = np.zeros((mel.shape[1] // 2, self.hp["n_audio_state"]), np.float32)
        assert self.shim.nm_shim_whisper_encode(self.h, ptr(mel), ptr(states)) == 0
        return states

    def logits(self, states, tokens, kv_f32=True):
        t = np.asarray(tokens, np.int32)
        out = np.zeros((len(t), self.hp["n_vocab"]), np.float32)
        assert self.shim.nm_shim_whisper_logits(self.h, ptr(np.ascontiguousarray(states)), ptr(t), len(t), int(kv_f32),
                                                ptr(out)) == 0
        return out

    def greedy(self, states, prompt, n_steps, kv_f32=True):
        p = np.asarray(prompt, np.int32)
        out = np.zeros(n_steps, np.int32)
        assert self.shim.nm_shim_whisper_greedy(self.h, ptr(np.ascontiguousarray(states)), ptr(p), len(p), n_steps,
                                                int(kv_f32), ptr(out)) == 0
        return [int(x) for x in out]

    def beams(self, states, prompt, tokens, kv_f32=True):
        """tokens: (n_beams, n_steps); returns the last step's logits per beam."""
        p = np.asarray(prompt, np.int32)
        t = np.ascontiguousarray(tokens, np.int32)
        nb, ns = t.shape
        out = np.zeros((nb, self.hp["n_vocab"]), np.float32)
        assert self.shim.nm_shim_whisper_beams(self.h, ptr(np.ascontiguousarray(states)), ptr(p), len(p), nb, ptr(t),
                                               ns, int(kv_f32), ptr(out)) == 0
        return out

    def _ids(self, fn, *args):
        buf = np.zeros(4096, np.int32)
        n = fn(self.h, *args, ptr(buf), 4096)
        return [int(x) for x in buf[:n]]

    def suppress(self, which=0):
        return self._ids(self.shim.nm_shim_whisper_suppress, which)

    def default_suppress(self):
        return self._ids(self.shim.nm_shim_whisper_default_suppress)

    def tokenize(self, text):
        return self._ids(self.shim.nm_shim_whisper_tokenize, text.encode())

    def detokenize(self, ids):
        a = np.asarray(ids, np.int32)
        buf = ctypes.create_string_buffer(1 << 16)
        self.shim.nm_shim_whisper_detokenize(self.h, ptr(a), len(a), buf, 1 << 16)
        return buf.value.decode("utf-8", errors="replace")


def load_audio(shim, path):
    shim.nm_shim_load_audio.restype = ctypes.c_int64
    msg = ctypes.create_string_buffer(1024)
    n = shim.nm_shim_load_audio(str(path).encode(), None, ctypes.c_int64(0), msg, 1024)
    if n < 0:
        raise RuntimeError(msg.value.decode())
    a = np.zeros(n, np.float32)
    shim.nm_shim_load_audio(str(path).encode(), ptr(a), ctypes.c_int64(n), msg, 1024)
    return a


def log_mel(shim, audio, filters):
    audio = np.ascontiguousarray(audio, np.float32)
    filters = np.ascontiguousarray(filters, np.float32)
    cap = len(audio) // 160 + 3001
    out = np.zeros((filters.shape[0], cap), np.float32)
    n = ctypes.c_int64(0)
    assert shim.nm_shim_log_mel(ptr(audio), ctypes.c_int64(len(audio)), ptr(filters), filters.shape[0], ptr(out),
                                ctypes.c_int64(cap), ctypes.byref(n)) == 0
    return out[:, :n.value]


def spoken_questions(questions, directory, silence_s):
    """A WAV file in which espeak-ng says each question after silence_s of silence (and
    silence_s more at the end): a recording to play as the microphone. None without espeak-ng."""
    import wave
    parts, rate = [], 22050
    for i, q in enumerate(questions):
        if speak(q, directory / f"q{i}.wav") is None:
            return None
        with wave.open(str(directory / f"q{i}.wav")) as w:
            rate = w.getframerate()
            parts += [np.zeros(int(rate * silence_s), "<i2"), np.frombuffer(w.readframes(w.getnframes()), "<i2")]
    parts.append(np.zeros(int(rate * silence_s), "<i2"))
    out = directory / "mic.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate(parts).tobytes())
    return str(out)

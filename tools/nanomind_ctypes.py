"""ctypes bindings for the C API's shared library (build/lib/libnanomind.so), as much of
include/nanomind/nanomind.h as the Python tools and tests use: load a model, open a
session, tokenize, evaluate tokens, read the last position's logits; load a Whisper model
and transcribe (load_asr).

    lib = NanoMind("build/lib/libnanomind.so")
    with lib.load("model.gguf", n_threads=2) as model, model.session(n_ctx=512) as s:
        s.eval(model.tokenize("Hello"))
        logits = s.logits()            # numpy float32, n_vocab

A chat turn with a picture (the model loaded with its mmproj file; greedy when temperature=0):

    with lib.load("llm.gguf", mmproj_path="mmproj.gguf") as model, model.session(temperature=0) as s:
        answer = s.chat("What colour is the star?", images=[rgb_uint8_hwc], n_predict=32)
"""
import ctypes

import numpy as np

OK, INVALID_ARGUMENT, INVALID_FILE, UNSUPPORTED, OUT_OF_MEMORY, OUT_OF_RANGE, IO, INTERNAL = range(8)
KV_F16, KV_Q8_0, KV_F32 = 0, 1, 2
BAD_ARGUMENT = -2**31  # NM_BAD_ARGUMENT


class ModelParams(ctypes.Structure):
    _fields_ = [("model_path", ctypes.c_char_p), ("mmproj_path", ctypes.c_char_p), ("n_threads", ctypes.c_int),
                ("power_profile", ctypes.c_char_p)]


class Energy(ctypes.Structure):
    """nm_energy: joules of the last turn; measured = 1 from a power sensor, 0 estimated."""
    _fields_ = [("valid", ctypes.c_int32), ("measured", ctypes.c_int32), ("joules", ctypes.c_double),
                ("seconds", ctypes.c_double), ("vision_joules", ctypes.c_double), ("prefill_joules", ctypes.c_double),
                ("decode_joules", ctypes.c_double), ("prefill_joules_per_token", ctypes.c_double),
                ("decode_joules_per_token", ctypes.c_double), ("source", ctypes.c_char * 192)]


class SamplingParams(ctypes.Structure):
    _fields_ = [("temperature", ctypes.c_float), ("top_k", ctypes.c_int), ("top_p", ctypes.c_float),
                ("min_p", ctypes.c_float), ("repeat_penalty", ctypes.c_float), ("repeat_last_n", ctypes.c_int),
                ("seed", ctypes.c_uint64)]


class SessionParams(ctypes.Structure):
    _fields_ = [("n_ctx", ctypes.c_int), ("kv_type", ctypes.c_int), ("system_prompt", ctypes.c_char_p),
                ("chat_template", ctypes.c_char_p), ("sampling", SamplingParams), ("image_width", ctypes.c_int32),
                ("image_height", ctypes.c_int32), ("devices", ctypes.c_char_p), ("no_repack", ctypes.c_int32),
                ("parse_special", ctypes.c_int32), ("residency", ctypes.c_int32),
                ("ignore_eos", ctypes.c_int32)]


class Image(ctypes.Structure):
    _fields_ = [("path", ctypes.c_char_p), ("rgb", ctypes.POINTER(ctypes.c_uint8)), ("width", ctypes.c_int32),
                ("height", ctypes.c_int32)]


TOKEN_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int32, ctypes.c_void_p)


class NanoMindError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"nanomind status {status}: {message}")
        self.status = status


class _Handle:
    """Owns one C handle, freed by close() or at the end of a with block."""

    _free = None  # name of the nm_*_free function

    def close(self):
        if self.handle:
            getattr(self.c, self._free)(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NanoMind:
    """The loaded library; load() opens models."""

    def __init__(self, path):
        self.c = c = ctypes.CDLL(path)
        vp, i32 = ctypes.c_void_p, ctypes.c_int32
        c.nm_model_default_params.restype = ModelParams
        c.nm_session_default_params.restype = SessionParams
        c.nm_model_load.argtypes = [ctypes.POINTER(ModelParams), ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_size_t]
        c.nm_model_free.argtypes = [vp]
        c.nm_model_n_vocab.argtypes, c.nm_model_n_vocab.restype = [vp], i32
        c.nm_tokenize.argtypes = [vp, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(i32), i32]
        c.nm_tokenize.restype = i32
        c.nm_session_init.argtypes = [vp, ctypes.POINTER(SessionParams), ctypes.POINTER(vp), ctypes.c_char_p,
                                      ctypes.c_size_t]
        c.nm_session_free.argtypes = [vp]
        c.nm_session_last_error.argtypes, c.nm_session_last_error.restype = [vp], ctypes.c_char_p
        c.nm_session_eval.argtypes = [vp, ctypes.POINTER(i32), i32]
        c.nm_session_get_logits.argtypes = [vp, ctypes.POINTER(ctypes.c_float), i32]
        c.nm_session_reset.argtypes = [vp]
        c.nm_session_n_past.argtypes, c.nm_session_n_past.restype = [vp], i32
        c.nm_session_chat_images.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(Image), i32, i32, TOKEN_CALLBACK,
                                             ctypes.c_void_p]
        c.nm_session_get_energy.argtypes = [vp, ctypes.POINTER(Energy)]

    def load(self, model_path, n_threads=0, mmproj_path=None, power_profile=None):
        p = self.c.nm_model_default_params()
        p.model_path, p.n_threads = model_path.encode(), n_threads
        if mmproj_path:
            p.mmproj_path = mmproj_path.encode()
        if power_profile is not None:
            p.power_profile = power_profile.encode()
        handle, err = ctypes.c_void_p(), ctypes.create_string_buffer(512)
        st = self.c.nm_model_load(ctypes.byref(p), ctypes.byref(handle), err, len(err))
        if st != OK:
            raise NanoMindError(st, err.value.decode(errors="replace"))
        return Model(self.c, handle)


class Model(_Handle):
    _free = "nm_model_free"

    def __init__(self, c, handle):
        self.c, self.handle = c, handle
        self.n_vocab = c.nm_model_n_vocab(handle)

    def tokenize(self, text, add_special=True):
        data = text.encode()
        buf = (ctypes.c_int32 * (len(data) + 8))()
        n = self.c.nm_tokenize(self.handle, data, int(add_special), 1, buf, len(buf))
        if n == BAD_ARGUMENT:
            raise NanoMindError(INVALID_ARGUMENT, "nm_tokenize refused its arguments")
        if n < 0:  # -(tokens needed)
            buf = (ctypes.c_int32 * -n)()
            n = self.c.nm_tokenize(self.handle, data, int(add_special), 1, buf, len(buf))
        return list(buf[:n])

    def session(self, n_ctx=0, kv_type=KV_F16, no_repack=False, temperature=None, devices=None):
        p = self.c.nm_session_default_params()
        p.n_ctx, p.kv_type, p.no_repack = n_ctx, kv_type, int(no_repack)
        if temperature is not None:
            p.sampling.temperature = temperature
        if devices:
            p.devices = devices.encode()
        handle, err = ctypes.c_void_p(), ctypes.create_string_buffer(512)
        st = self.c.nm_session_init(self.handle, ctypes.byref(p), ctypes.byref(handle), err, len(err))
        if st != OK:
            raise NanoMindError(st, err.value.decode(errors="replace"))
        return Session(self.c, handle, self.n_vocab)


class Session(_Handle):
    _free = "nm_session_free"

    def __init__(self, c, handle, n_vocab):
        self.c, self.handle, self.n_vocab = c, handle, n_vocab

    def _check(self, st):
        if st != OK:
            raise NanoMindError(st, self.c.nm_session_last_error(self.handle).decode(errors="replace"))

    def eval(self, tokens):
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        self._check(self.c.nm_session_eval(self.handle, arr, len(tokens)))

    def logits(self, n=None):
        out = np.zeros(self.n_vocab if n is None else n, np.float32)
        self._check(self.c.nm_session_get_logits(self.handle, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                 len(out)))
        return out

    def reset(self):
        self.c.nm_session_reset(self.handle)

    def chat(self, message, images=(), n_predict=64):
        """One chat turn; images are uint8 [H, W, 3] arrays or file paths. Returns the reply text
        (its token ids in last_tokens)."""
        keep, arr = [], (Image * max(len(images), 1))()
        for i, im in enumerate(images):
            if isinstance(im, str):
                arr[i].path = im.encode()
            else:
                a = np.ascontiguousarray(im, dtype=np.uint8)
                keep.append(a)
                arr[i].rgb = a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
                arr[i].height, arr[i].width = a.shape[0], a.shape[1]
        pieces, self.last_tokens = [], []

        def on_piece(text, token, _user):
            pieces.append(text or b"")
            self.last_tokens.append(token)
            return 0
        cb = TOKEN_CALLBACK(on_piece)
        self._check(self.c.nm_session_chat_images(self.handle, message.encode(), arr, len(images), n_predict, cb, None))
        return b"".join(pieces).decode(errors="replace")

    def energy(self):
        """The last turn's energy (an Energy struct; .valid is 0 when none was counted)."""
        e = Energy()
        self._check(self.c.nm_session_get_energy(self.handle, ctypes.byref(e)))
        return e

    @property
    def n_past(self):
        return self.c.nm_session_n_past(self.handle)


# ---- speech recognition (nm_asr_*) -----------------------------------------------------

class AsrParams(ctypes.Structure):
    _fields_ = [("model_path", ctypes.c_char_p), ("n_threads", ctypes.c_int), ("max_sequences", ctypes.c_int32),
                ("devices", ctypes.c_char_p), ("no_repack", ctypes.c_int32)]


class TranscribeParams(ctypes.Structure):
    _fields_ = [("language", ctypes.c_char_p), ("translate", ctypes.c_int32), ("timestamps", ctypes.c_int32),
                ("beam_size", ctypes.c_int32), ("best_of", ctypes.c_int32), ("no_fallback", ctypes.c_int32),
                ("entropy_threshold", ctypes.c_float), ("logprob_threshold", ctypes.c_float),
                ("no_speech_threshold", ctypes.c_float), ("initial_prompt", ctypes.c_char_p), ("seed", ctypes.c_uint64),
                ("vad", ctypes.c_int32), ("vad_model", ctypes.c_char_p), ("duration_s", ctypes.c_float),
                ("audio_ctx", ctypes.c_int32)]


class AsrTimings(ctypes.Structure):
    _fields_ = [("load_ms", ctypes.c_double), ("audio_ms", ctypes.c_double), ("mel_ms", ctypes.c_double),
                ("encode_ms", ctypes.c_double), ("decode_ms", ctypes.c_double), ("audio_seconds", ctypes.c_double),
                ("n_windows", ctypes.c_int32), ("n_fallbacks", ctypes.c_int32), ("n_skipped", ctypes.c_int32),
                ("n_tokens", ctypes.c_int32)]


SEGMENT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)


def _bind_asr(c):
    vp, i32, i64, f = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64, ctypes.POINTER(ctypes.c_float)
    c.nm_asr_default_params.restype = AsrParams
    c.nm_transcribe_default_params.restype = TranscribeParams
    c.nm_asr_load.argtypes = [ctypes.POINTER(AsrParams), ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_size_t]
    c.nm_asr_free.argtypes = [vp]
    c.nm_asr_last_error.argtypes, c.nm_asr_last_error.restype = [vp], ctypes.c_char_p
    c.nm_asr_describe.argtypes, c.nm_asr_describe.restype = [vp], ctypes.c_char_p
    c.nm_asr_language.argtypes, c.nm_asr_language.restype = [vp], ctypes.c_char_p
    c.nm_asr_transcribe_pcm.argtypes = [vp, f, i64, i32, i32, ctypes.POINTER(TranscribeParams), SEGMENT_CALLBACK, vp]
    c.nm_asr_transcribe_file.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(TranscribeParams), SEGMENT_CALLBACK, vp]
    c.nm_asr_transcribe_mic.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(TranscribeParams), SEGMENT_CALLBACK, vp]
    c.nm_asr_get_text.argtypes, c.nm_asr_get_text.restype = [vp, ctypes.c_char_p, i32], i32
    c.nm_asr_n_segments.argtypes, c.nm_asr_n_segments.restype = [vp], i32
    c.nm_asr_get_timings.argtypes = [vp, ctypes.POINTER(AsrTimings)]
    c.nm_asr_get_segment.argtypes = [vp, i32, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                                     ctypes.c_char_p, i32]


def load_asr(lib, model_path, n_threads=0, max_sequences=0, devices=None, no_repack=False):
    """A Whisper model (ggml file or CTranslate2 directory) through the C API; devices as --device,
    no_repack as transcribe's --no-repack."""
    c = lib.c
    if not hasattr(c, "_asr_bound"):
        _bind_asr(c)
        c._asr_bound = True
    p = c.nm_asr_default_params()
    p.model_path, p.n_threads, p.max_sequences = model_path.encode(), n_threads, max_sequences
    p.devices = devices.encode() if devices else None
    p.no_repack = 1 if no_repack else 0
    handle, err = ctypes.c_void_p(), ctypes.create_string_buffer(1024)
    st = c.nm_asr_load(ctypes.byref(p), ctypes.byref(handle), err, len(err))
    if st != OK:
        raise NanoMindError(st, err.value.decode(errors="replace"))
    return Asr(c, handle)


class Asr(_Handle):
    _free = "nm_asr_free"

    def __init__(self, c, handle):
        self.c, self.handle = c, handle
        self.description = c.nm_asr_describe(handle).decode()

    def params(self, **kw):
        p = self.c.nm_transcribe_default_params()
        for k, v in kw.items():
            setattr(p, k, v.encode() if isinstance(v, str) else v)
        return p

    def _run(self, fn, *args, on_segment=None, **kw):
        p = self.params(**kw)
        cb = SEGMENT_CALLBACK(lambda t0, t1, text, _: on_segment(t0, t1, text.decode(errors="replace")) or 0) \
            if on_segment else SEGMENT_CALLBACK()
        st = fn(self.handle, *args, ctypes.byref(p), cb, None)
        if st != OK:
            raise NanoMindError(st, self.c.nm_asr_last_error(self.handle).decode(errors="replace"))
        return self.text()

    def transcribe_pcm(self, pcm, sample_rate=16000, channels=1, **kw):
        a = np.ascontiguousarray(pcm, np.float32)
        return self._run(self.c.nm_asr_transcribe_pcm, a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                         a.size // channels, channels, sample_rate, **kw)

    def transcribe_file(self, path, **kw):
        return self._run(self.c.nm_asr_transcribe_file, str(path).encode(), **kw)

    def transcribe_mic(self, device, **kw):
        return self._run(self.c.nm_asr_transcribe_mic, device.encode(), **kw)

    def text(self):
        n = self.c.nm_asr_get_text(self.handle, None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        self.c.nm_asr_get_text(self.handle, buf, n + 1)
        return buf.value.decode(errors="replace")

    def segments(self):
        out = []
        for i in range(self.c.nm_asr_n_segments(self.handle)):
            t0, t1 = ctypes.c_double(), ctypes.c_double()
            buf = ctypes.create_string_buffer(1 << 16)
            self.c.nm_asr_get_segment(self.handle, i, ctypes.byref(t0), ctypes.byref(t1), buf, len(buf))
            out.append((t0.value, t1.value, buf.value.decode(errors="replace")))
        return out

    @property
    def language(self):
        return self.c.nm_asr_language(self.handle).decode()

    def timings(self):
        t = AsrTimings()
        self.c.nm_asr_get_timings(self.handle, ctypes.byref(t))
        return {name: getattr(t, name) for name, _ in AsrTimings._fields_}

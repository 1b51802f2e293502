// whisper.cpp's model file (ggml-*.bin), read from the layout its loader documents
// (whisper.cpp whisper_model_load, convert-pt-to-ggml.py): magic "ggml", eleven int32
// hyper-parameters (n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
// n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype), the mel filter bank
// (int32 n_mel, int32 n_fft, n_mel*n_fft float32), the text tokens (int32 count, then
// uint32 length + raw bytes each), then tensors to the end of the file: int32 n_dims,
// int32 name length, int32 ggml type, n_dims int32 dims (innermost first), the name, and
// the data, unpadded. Special-token ids are not stored: they follow from n_vocab.
// Every count and size is checked against the bytes that remain before it is used.
#include <cstring>

#include "bricks/whisper/whisper_model.h"

namespace nm {
namespace {

constexpr uint32_t kGgmlMagic = 0x67676d6c;  // "ggml" as a little-endian uint32

class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& path) : p_(p), n_(n), path_(path) {}
  size_t remaining() const { return n_ - pos_; }
  size_t pos() const { return pos_; }
  Status fail(const std::string& what) const {
    return error(ErrorCode::invalid_file, "'" + path_ + "': " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  template <class T>
  Status get(T& v, const char* what) {
    if (remaining() < sizeof(T)) return fail(std::string("file ends inside ") + what);
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status();
  }
  Status take(size_t bytes, const uint8_t** out, const std::string& what) {
    if (remaining() < bytes) return fail("file ends inside " + what);
    *out = p_ + pos_;
    pos_ += bytes;
    return Status();
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& path_;
};

}  // namespace

Result<WhisperSource> parse_whisper_ggml(const uint8_t* bytes, size_t size, const std::string& path) {
  Reader r(bytes, size, path);
  uint32_t magic = 0;
  NM_RETURN_IF_ERROR(r.get(magic, "the magic number"));
  if (magic != kGgmlMagic) {
    return error(ErrorCode::invalid_file, "'" + path + "' is not a whisper.cpp model (no 'ggml' magic; for faster-whisper / "
                                              "CTranslate2 models pass the directory)");
  }
  int32_t h[11];
  for (int32_t& v : h) NM_RETURN_IF_ERROR(r.get(v, "the hyper-parameters"));
  WhisperSource s;
  s.format = WhisperFormat::ggml;
  s.path = path;
  WhisperHparams& hp = s.hp;
  hp.n_vocab = h[0];
  hp.n_audio_ctx = h[1];
  hp.n_audio_state = h[2];
  hp.n_audio_head = h[3];
  hp.n_audio_layer = h[4];
  hp.n_text_ctx = h[5];
  hp.n_text_state = h[6];
  hp.n_text_head = h[7];
  hp.n_text_layer = h[8];
  hp.n_mels = h[9];
  // h[10] is the file type (+ 1000 x quantisation version); each tensor states its own type.

  int32_t n_mel = 0, n_fft = 0;
  NM_RETURN_IF_ERROR(r.get(n_mel, "the mel filter header"));
  NM_RETURN_IF_ERROR(r.get(n_fft, "the mel filter header"));
  if (n_mel < 1 || n_mel > 512 || n_fft < 1 || n_fft > 4096) {
    return r.fail("implausible mel filter bank " + std::to_string(n_mel) + " x " + std::to_string(n_fft));
  }
  const uint8_t* fp = nullptr;
  NM_RETURN_IF_ERROR(r.take((size_t)n_mel * n_fft * sizeof(float), &fp, "the mel filters"));
  s.filters.n_mels = n_mel;
  s.filters.n_bins = n_fft;
  s.filters.w.resize((size_t)n_mel * n_fft);
  std::memcpy(s.filters.w.data(), fp, s.filters.w.size() * sizeof(float));

  // Special tokens follow from n_vocab as whisper.cpp derives them: 51864 is GPT-2's
  // English vocabulary (eot 50256), 51865 and up multilingual (eot 50257, one language
  // more per extra token: large-v3 has 100). Smaller vocabularies (test models) are
  // multilingual with 99 languages.
  if (hp.n_vocab < 1610 || hp.n_vocab > 1000000) {
    return r.fail("implausible vocabulary size " + std::to_string(hp.n_vocab));
  }
  int eot;
  if (hp.n_vocab >= 51865) {
    eot = 50257;
    s.n_langs = hp.n_vocab - 51766;
    s.multilingual = true;
  } else if (hp.n_vocab == 51864) {
    eot = 50256;
    s.n_langs = 99;
    s.multilingual = false;
  } else {
    s.n_langs = 99;
    eot = hp.n_vocab - 1509 - s.n_langs;
    s.multilingual = true;
  }
  int32_t n_tokens = 0;
  NM_RETURN_IF_ERROR(r.get(n_tokens, "the vocabulary size"));
  if (n_tokens < 0 || n_tokens > hp.n_vocab) {
    return r.fail("vocabulary holds " + std::to_string(n_tokens) + " tokens, more than n_vocab " + std::to_string(hp.n_vocab));
  }
  s.text_tokens.resize((size_t)eot);
  for (int32_t i = 0; i < n_tokens; ++i) {
    uint32_t len = 0;
    NM_RETURN_IF_ERROR(r.get(len, "the vocabulary"));
    if (len > 1024) return r.fail("token " + std::to_string(i) + " is " + std::to_string(len) + " bytes long");
    const uint8_t* tp = nullptr;
    NM_RETURN_IF_ERROR(r.take(len, &tp, "the vocabulary"));
    // Files converted from Hugging Face also list <|endoftext|>; ids from eot on are special.
    if (i < eot) s.text_tokens[(size_t)i].assign(reinterpret_cast<const char*>(tp), len);
  }

  while (r.remaining() > 0) {
    int32_t n_dims = 0, name_len = 0, ttype = 0;
    NM_RETURN_IF_ERROR(r.get(n_dims, "a tensor header"));
    NM_RETURN_IF_ERROR(r.get(name_len, "a tensor header"));
    NM_RETURN_IF_ERROR(r.get(ttype, "a tensor header"));
    if (n_dims < 1 || n_dims > 4) return r.fail("tensor with " + std::to_string(n_dims) + " dimensions");
    if (name_len < 1 || name_len > 256) return r.fail("tensor name of " + std::to_string(name_len) + " bytes");
    WhisperSourceTensor t;
    int64_t n_el = 1;
    for (int d = 0; d < n_dims; ++d) {
      int32_t ne = 0;
      NM_RETURN_IF_ERROR(r.get(ne, "a tensor header"));
      if (ne < 1 || ne > (1 << 24)) return r.fail("tensor dimension " + std::to_string(ne));
      t.ne[(size_t)d] = ne;
      n_el *= ne;
      if (n_el > ((int64_t)1 << 34)) return r.fail("tensor of more than 2^34 elements");
    }
    const uint8_t* np = nullptr;
    NM_RETURN_IF_ERROR(r.take((size_t)name_len, &np, "a tensor name"));
    t.name.assign(reinterpret_cast<const char*>(np), (size_t)name_len);
    const TypeTraits* tr = ttype >= 0 ? type_traits((uint32_t)ttype) : nullptr;
    if (!tr || !dtype_is_known((uint32_t)ttype)) {
      return r.fail("tensor '" + t.name + "' has unknown ggml type " + std::to_string(ttype));
    }
    t.type = (DType)ttype;
    if (t.ne[0] % tr->block_size != 0) {
      return r.fail("tensor '" + t.name + "' rows of " + std::to_string(t.ne[0]) + " are not whole " + tr->name + " blocks");
    }
    const size_t bytes = row_size(t.type, t.ne[0]) * (size_t)(t.ne[1] * t.ne[2] * t.ne[3]);
    NM_RETURN_IF_ERROR(r.take(bytes, &t.data, "tensor '" + t.name + "' (truncated file?)"));
    s.tensors.push_back(std::move(t));
  }
  return s;
}

}  // namespace nm

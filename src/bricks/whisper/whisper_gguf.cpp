// Whisper in a GGUF file, as tools/whisper_convert.py writes it (docs/WHISPER_GGUF.md): the
// whisper.cpp hyper-parameters as whisper.* keys, the text tokens (raw bytes of ids below
// end-of-text) as tokenizer.ggml.tokens, the language count and multilingual flag, optional
// suppress lists, the mel filter bank as the tensor "mel_filters", and the weights under
// OpenAI's checkpoint names in any type GGUF holds. The GGUF reader has already checked
// every offset and size against the file; this checks the keys and hands the tensors to
// assembly as the other parsers do.
#include "bricks/whisper/whisper_model.h"
#include "core/gguf_reader.h"

namespace nm {

Result<WhisperSource> parse_whisper_gguf(const GgufFile& f, const std::string& path) {
  auto bad = [&](const std::string& what) {
    return error(ErrorCode::invalid_file, "'" + path + "': " + what);
  };
  NM_ASSIGN_OR_RETURN(std::string arch, f.get_string_or("general.architecture", ""));
  if (arch != "whisper") {
    return bad("a GGUF file of architecture '" + arch + "', not a Whisper model (tools/whisper_convert.py writes one)");
  }
  WhisperSource s;
  s.format = WhisperFormat::gguf;
  s.path = path;
  WhisperHparams& hp = s.hp;
  const std::pair<const char*, int*> keys[] = {
      {"whisper.n_vocab", &hp.n_vocab},           {"whisper.n_audio_ctx", &hp.n_audio_ctx},
      {"whisper.n_audio_state", &hp.n_audio_state}, {"whisper.n_audio_head", &hp.n_audio_head},
      {"whisper.n_audio_layer", &hp.n_audio_layer}, {"whisper.n_text_ctx", &hp.n_text_ctx},
      {"whisper.n_text_state", &hp.n_text_state},   {"whisper.n_text_head", &hp.n_text_head},
      {"whisper.n_text_layer", &hp.n_text_layer},   {"whisper.n_mels", &hp.n_mels}};
  for (const auto& [key, out] : keys) {
    Result<int64_t> v = f.get_int(key);
    if (!v.ok()) return bad(v.status().message());
    if (*v < 0 || *v > (1 << 24)) return bad(std::string(key) + " " + std::to_string(*v) + " is out of range");
    *out = (int)*v;
  }
  NM_ASSIGN_OR_RETURN(int64_t n_langs, f.get_int_or("whisper.n_langs", 99));
  if (n_langs < 1 || n_langs > 200) return bad("whisper.n_langs " + std::to_string(n_langs) + " is out of range");
  s.n_langs = (int)n_langs;
  NM_ASSIGN_OR_RETURN(s.multilingual, f.get_bool_or("whisper.multilingual", true));
  Result<std::vector<std::string>> tokens = f.get_array_strings("tokenizer.ggml.tokens");
  if (!tokens.ok()) return bad(tokens.status().message());
  if (tokens->empty() || tokens->size() >= (size_t)hp.n_vocab) {
    return bad(std::to_string(tokens->size()) + " text tokens for a vocabulary of " + std::to_string(hp.n_vocab));
  }
  s.text_tokens = std::move(*tokens);
  for (const char* key : {"whisper.suppress", "whisper.suppress_begin"}) {
    if (!f.has(key)) continue;
    Result<std::vector<int32_t>> ids = f.get_array_i32(key);
    if (!ids.ok()) return bad(ids.status().message());
    (std::string(key) == "whisper.suppress" ? s.suppress : s.suppress_begin) = std::move(*ids);
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    const Tensor view = f.tensor(t);
    if (t.name == "mel_filters") {
      if (t.type != DType::F32 || t.n_dims != 2) return bad("mel_filters must be a 2-D f32 tensor");
      s.filters.n_bins = (int)t.ne[0];
      s.filters.n_mels = (int)t.ne[1];
      const float* p = static_cast<const float*>(view.data);
      s.filters.w.assign(p, p + t.n_elements());
      continue;
    }
    WhisperSourceTensor st;
    st.name = t.name;
    st.type = t.type;
    st.ne = t.ne;
    st.data = static_cast<const uint8_t*>(view.data);
    s.tensors.push_back(std::move(st));
  }
  return s;
}

}  // namespace nm

// faster-whisper's model directory: CTranslate2's model.bin (WhisperSpec), config.json and
// vocabulary.txt (or vocabulary.json). model.bin, as ctranslate2/specs/model_spec.py
// writes it (binary versions 5 and 6): uint32 version, the spec name and uint32 revision,
// uint32 variable count, then per variable its name, uint8 rank, uint32 dims (outermost
// first), uint8 dtype (0 f32, 1 int8, 2 int16, 3 int32, 4 f16, 5 bf16), uint32 byte count
// and the data; then uint32 alias count and (alias, target) name pairs. Strings are a
// uint16 length including a NUL, then the bytes and the NUL. Whisper's self-attention
// Q/K/V and cross-attention K/V projections are stored fused; int8 weights come with a
// per-row `weight_scale`. Names are mapped to OpenAI's checkpoint names here.
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "bricks/whisper/whisper_model.h"
#include "core/fp16.h"

namespace nm {
namespace {

struct Var {
  int dtype = 0;
  std::vector<int64_t> dims;  // outermost first
  const uint8_t* data = nullptr;
  size_t bytes = 0;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& path) : p_(p), n_(n), path_(path) {}
  Status fail(const std::string& what) const {
    return error(ErrorCode::invalid_file, "'" + path_ + "/model.bin': " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  template <class T>
  Status get(T& v, const char* what) {
    if (n_ - pos_ < sizeof(T)) return fail(std::string("file ends inside ") + what);
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status();
  }
  Status str(std::string& s, const char* what) {
    uint16_t len = 0;
    NM_RETURN_IF_ERROR(get(len, what));
    if (len < 1 || n_ - pos_ < len) return fail(std::string("bad or truncated ") + what);
    s.assign(reinterpret_cast<const char*>(p_ + pos_), len - 1u);
    pos_ += len;
    return Status();
  }
  Status take(size_t bytes, const uint8_t** out, const std::string& what) {
    if (n_ - pos_ < bytes) return fail("file ends inside " + what + " (truncated file?)");
    *out = p_ + pos_;
    pos_ += bytes;
    return Status();
  }
  size_t remaining() const { return n_ - pos_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& path_;
};

size_t dtype_bytes(int dtype) {
  switch (dtype) {
    case 0: case 3: return 4;
    case 1: return 1;
    case 2: case 4: case 5: return 2;
    default: return 0;
  }
}

DType to_dtype(int dtype) {
  switch (dtype) {
    case 0: return DType::F32;
    case 1: return DType::I8;
    case 4: return DType::F16;
    case 5: return DType::BF16;
    default: return DType::I32;  // int16 / int32: not weights NanoMind reads
  }
}

}  // namespace

Result<WhisperSource> parse_whisper_ct2(const uint8_t* bytes, size_t size, const std::string& config_json,
                                        const std::string& vocabulary, const std::string& dir) {
  Reader r(bytes, size, dir);
  uint32_t version = 0;
  NM_RETURN_IF_ERROR(r.get(version, "the header"));
  if (version < 5 || version > 6) {
    return r.fail("CTranslate2 binary version " + std::to_string(version) + " is not supported (5 and 6 are; convert the "
                  "model again with a current ct2-transformers-converter)");
  }
  std::string spec;
  uint32_t revision = 0, n_vars = 0;
  NM_RETURN_IF_ERROR(r.str(spec, "the spec name"));
  NM_RETURN_IF_ERROR(r.get(revision, "the header"));
  if (spec != "WhisperSpec") return r.fail("this CTranslate2 model is a " + spec + ", not a Whisper model");
  NM_RETURN_IF_ERROR(r.get(n_vars, "the variable count"));
  if (n_vars > 100000) return r.fail("implausible variable count " + std::to_string(n_vars));
  std::map<std::string, Var> vars;
  for (uint32_t i = 0; i < n_vars; ++i) {
    std::string name;
    NM_RETURN_IF_ERROR(r.str(name, "a variable name"));
    uint8_t rank = 0, dtype = 0;
    NM_RETURN_IF_ERROR(r.get(rank, "a variable header"));
    if (rank > 4) return r.fail("variable '" + name + "' of rank " + std::to_string(rank));
    Var v;
    int64_t n_el = 1;
    for (int d = 0; d < rank; ++d) {
      uint32_t dim = 0;
      NM_RETURN_IF_ERROR(r.get(dim, "a variable shape"));
      if (dim < 1 || dim > (1u << 24)) return r.fail("variable '" + name + "' has dimension " + std::to_string(dim));
      v.dims.push_back(dim);
      n_el *= dim;
      if (n_el > ((int64_t)1 << 34)) return r.fail("variable '" + name + "' is implausibly large");
    }
    NM_RETURN_IF_ERROR(r.get(dtype, "a variable header"));
    uint32_t n_bytes = 0;
    NM_RETURN_IF_ERROR(r.get(n_bytes, "a variable header"));
    v.dtype = dtype;
    if (dtype_bytes(dtype) == 0 || (uint64_t)n_el * dtype_bytes(dtype) != n_bytes) {
      return r.fail("variable '" + name + "' holds " + std::to_string(n_bytes) + " bytes, not " + std::to_string(n_el) +
                    " elements of type " + std::to_string(dtype));
    }
    NM_RETURN_IF_ERROR(r.take(n_bytes, &v.data, "variable '" + name + "'"));
    v.bytes = n_bytes;
    vars[name] = std::move(v);
  }
  // Aliases (decoder/projection/weight -> decoder/embeddings/weight) name the tied output
  // projection, which NanoMind takes from the embedding table anyway; read to check the file.
  uint32_t n_aliases = 0;
  NM_RETURN_IF_ERROR(r.get(n_aliases, "the alias count"));
  if (n_aliases > 100000) return r.fail("implausible alias count " + std::to_string(n_aliases));
  for (uint32_t i = 0; i < n_aliases; ++i) {
    std::string alias, target;
    NM_RETURN_IF_ERROR(r.str(alias, "an alias"));
    NM_RETURN_IF_ERROR(r.str(target, "an alias"));
  }
  if (r.remaining() != 0) return r.fail(std::to_string(r.remaining()) + " unexpected bytes after the aliases");

  auto var = [&](const std::string& n) -> const Var* {
    auto it = vars.find(n);
    return it == vars.end() ? nullptr : &it->second;
  };
  auto need = [&](const std::string& n, size_t rank) -> Result<const Var*> {
    const Var* v = var(n);
    if (!v) return r.fail("variable '" + n + "' is missing");
    if (v->dims.size() != rank) return r.fail("variable '" + n + "' has rank " + std::to_string(v->dims.size()));
    return v;
  };
  auto head_count = [&](const std::string& n) -> Result<int> {
    NM_ASSIGN_OR_RETURN(const Var* v, need(n, 0));
    if (v->dtype == 2) {
      int16_t h;
      std::memcpy(&h, v->data, 2);
      return (int)h;
    }
    if (v->dtype == 3) {
      int32_t h;
      std::memcpy(&h, v->data, 4);
      return (int)h;
    }
    return r.fail("variable '" + n + "' is not an integer");
  };

  WhisperSource s;
  s.format = WhisperFormat::ctranslate2;
  s.path = dir;
  WhisperHparams& hp = s.hp;
  NM_ASSIGN_OR_RETURN(const Var* conv1, need("encoder/conv1/weight", 3));
  NM_ASSIGN_OR_RETURN(const Var* epos, need("encoder/position_encodings/encodings", 2));
  NM_ASSIGN_OR_RETURN(const Var* emb, need("decoder/embeddings/weight", 2));
  NM_ASSIGN_OR_RETURN(const Var* dpos, need("decoder/position_encodings/encodings", 2));
  hp.n_audio_state = (int)conv1->dims[0];
  hp.n_mels = (int)conv1->dims[1];
  hp.n_audio_ctx = (int)epos->dims[0];
  hp.n_vocab = (int)emb->dims[0];
  hp.n_text_state = (int)emb->dims[1];
  hp.n_text_ctx = (int)dpos->dims[0];
  NM_ASSIGN_OR_RETURN(hp.n_audio_head, head_count("encoder/num_heads"));
  NM_ASSIGN_OR_RETURN(hp.n_text_head, head_count("decoder/num_heads"));
  while (var("encoder/layer_" + std::to_string(hp.n_audio_layer) + "/self_attention/linear_0/weight")) ++hp.n_audio_layer;
  while (var("decoder/layer_" + std::to_string(hp.n_text_layer) + "/self_attention/linear_0/weight")) ++hp.n_text_layer;

  // One source tensor per OpenAI name; `part`/`parts` select rows of a fused projection.
  auto add = [&](const std::string& ct2, const std::string& openai, int part = 0, int parts = 1) -> Status {
    const Var* v = var(ct2);
    if (!v) return r.fail("variable '" + ct2 + "' is missing");
    WhisperSourceTensor t;
    t.name = openai;
    t.type = to_dtype(v->dtype);
    if (t.type == DType::I32) return r.fail("variable '" + ct2 + "' is int16/int32, which NanoMind does not read as weights");
    const size_t rank = v->dims.size();
    if (rank < 1 || v->dims[0] % parts != 0) return r.fail("variable '" + ct2 + "' cannot be split in " + std::to_string(parts));
    for (size_t d = 0; d < rank; ++d) t.ne[d] = v->dims[rank - 1 - d];
    t.ne[rank - 1] /= parts;
    int64_t inner = 1;
    for (size_t d = 0; d + 1 < rank; ++d) inner *= t.ne[d];
    const int64_t rows = t.ne[rank - 1];
    t.data = v->data + (size_t)(part * rows * inner) * dtype_bytes(v->dtype);
    if (t.type == DType::I8) {
      const std::string scale_name = ct2.substr(0, ct2.rfind('/')) + "/weight_scale";
      const Var* sv = var(scale_name);
      const int64_t all_rows = v->dims[0];
      if (!sv || sv->dims.size() != 1 || sv->dims[0] != all_rows || (sv->dtype != 0 && sv->dtype != 4)) {
        return r.fail("int8 variable '" + ct2 + "' has no usable '" + scale_name + "'");
      }
      std::vector<float>& sc = s.scales.emplace_back((size_t)rows);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t row = part * rows + i;
        if (sv->dtype == 0) {
          std::memcpy(&sc[(size_t)i], sv->data + row * 4, 4);
        } else {
          fp16_t h;
          std::memcpy(&h, sv->data + row * 2, 2);
          sc[(size_t)i] = fp16_to_fp32(h);
        }
      }
      t.row_scale = sc.data();
    }
    s.tensors.push_back(std::move(t));
    return Status();
  };
  auto norm = [&](const std::string& ct2, const std::string& openai) -> Status {
    NM_RETURN_IF_ERROR(add(ct2 + "/gamma", openai + ".weight"));
    return add(ct2 + "/beta", openai + ".bias");
  };
  auto linear = [&](const std::string& ct2, const std::string& openai, int part = 0, int parts = 1) -> Status {
    NM_RETURN_IF_ERROR(add(ct2 + "/weight", openai + ".weight", part, parts));
    return add(ct2 + "/bias", openai + ".bias", part, parts);
  };
  auto fused = [&](const std::string& ct2, const std::string& p, std::initializer_list<const char*> names) -> Status {
    int i = 0;
    for (const char* n : names) NM_RETURN_IF_ERROR(linear(ct2, p + n, i++, (int)names.size()));
    return Status();
  };

  NM_RETURN_IF_ERROR(linear("encoder/conv1", "encoder.conv1"));
  NM_RETURN_IF_ERROR(linear("encoder/conv2", "encoder.conv2"));
  NM_RETURN_IF_ERROR(add("encoder/position_encodings/encodings", "encoder.positional_embedding"));
  NM_RETURN_IF_ERROR(norm("encoder/layer_norm", "encoder.ln_post"));
  // Self-attention and MLP of one block (the decoder adds cross-attention).
  auto block = [&](const std::string& c, const std::string& o) -> Status {
    NM_RETURN_IF_ERROR(norm(c + "self_attention/layer_norm", o + "attn_ln"));
    NM_RETURN_IF_ERROR(fused(c + "self_attention/linear_0", o + "attn.", {"query", "key", "value"}));
    NM_RETURN_IF_ERROR(linear(c + "self_attention/linear_1", o + "attn.out"));
    NM_RETURN_IF_ERROR(norm(c + "ffn/layer_norm", o + "mlp_ln"));
    NM_RETURN_IF_ERROR(linear(c + "ffn/linear_0", o + "mlp.0"));
    return linear(c + "ffn/linear_1", o + "mlp.2");
  };
  for (int i = 0; i < hp.n_audio_layer; ++i) {
    NM_RETURN_IF_ERROR(block("encoder/layer_" + std::to_string(i) + "/", "encoder.blocks." + std::to_string(i) + "."));
  }
  NM_RETURN_IF_ERROR(add("decoder/embeddings/weight", "decoder.token_embedding.weight"));
  NM_RETURN_IF_ERROR(add("decoder/position_encodings/encodings", "decoder.positional_embedding"));
  NM_RETURN_IF_ERROR(norm("decoder/layer_norm", "decoder.ln"));
  for (int i = 0; i < hp.n_text_layer; ++i) {
    const std::string c = "decoder/layer_" + std::to_string(i) + "/", o = "decoder.blocks." + std::to_string(i) + ".";
    NM_RETURN_IF_ERROR(block(c, o));
    NM_RETURN_IF_ERROR(norm(c + "attention/layer_norm", o + "cross_attn_ln"));
    NM_RETURN_IF_ERROR(linear(c + "attention/linear_0", o + "cross_attn.query"));
    NM_RETURN_IF_ERROR(fused(c + "attention/linear_1", o + "cross_attn.", {"key", "value"}));
    NM_RETURN_IF_ERROR(linear(c + "attention/linear_2", o + "cross_attn.out"));
  }

  // Vocabulary: byte-level BPE strings, one per line (or a JSON list), then special tokens
  // by name.
  std::vector<std::string> tokens;
  if (!vocabulary.empty() && vocabulary[0] == '[') {
    nlohmann::json j = nlohmann::json::parse(vocabulary, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array()) return error(ErrorCode::invalid_file, "'" + dir + "/vocabulary.json' is not a JSON list of tokens");
    for (const auto& e : j) {
      if (!e.is_string()) return error(ErrorCode::invalid_file, "'" + dir + "/vocabulary.json' holds a non-string token");
      tokens.push_back(e.get<std::string>());
    }
  } else {
    size_t start = 0;
    while (start < vocabulary.size()) {
      size_t end = vocabulary.find('\n', start);
      if (end == std::string::npos) end = vocabulary.size();
      std::string line = vocabulary.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      tokens.push_back(std::move(line));
      start = end + 1;
    }
  }
  if ((int64_t)tokens.size() != hp.n_vocab) {
    return error(ErrorCode::invalid_file, "'" + dir + "': the vocabulary has " + std::to_string(tokens.size()) +
                                              " tokens, the embedding table " + std::to_string(hp.n_vocab) + " rows");
  }
  std::map<std::string, int> special;
  for (int i = 0; i < (int)tokens.size(); ++i) {
    const std::string& t = tokens[(size_t)i];
    if (t.size() > 4 && t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0) special.emplace(t, i);
  }
  auto id_of = [&](const char* name) { auto it = special.find(name); return it == special.end() ? -1 : it->second; };
  const int eot = id_of("<|endoftext|>"), sot = id_of("<|startoftranscript|>"), translate = id_of("<|translate|>");
  if (eot < 1 || sot != eot + 1 || translate <= sot) {
    return error(ErrorCode::invalid_file, "'" + dir + "': the vocabulary lacks Whisper's special tokens in their order "
                                              "(<|endoftext|>, <|startoftranscript|>, languages, <|translate|>)");
  }
  s.n_langs = translate - sot - 1;
  s.multilingual = eot != 50256;  // GPT-2's English vocabulary has 50256 text tokens
  for (int i = 0; i < eot; ++i) {
    std::string b;
    if (!byte_level_to_bytes(tokens[(size_t)i], b)) {
      return error(ErrorCode::invalid_file, "'" + dir + "': token " + std::to_string(i) + " is not a byte-level BPE string");
    }
    s.text_tokens.push_back(std::move(b));
  }

  nlohmann::json cfg = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!cfg.is_object()) return error(ErrorCode::invalid_file, "'" + dir + "/config.json' is not a JSON object");
  auto ids = [&](const char* key, std::vector<int32_t>& out) -> Status {
    if (!cfg.contains(key)) return Status();
    const auto& a = cfg[key];
    if (!a.is_array()) return error(ErrorCode::invalid_file, "'" + dir + "/config.json': '" + key + "' is not a list");
    for (const auto& e : a) {
      if (!e.is_number_integer()) return error(ErrorCode::invalid_file, "'" + dir + "/config.json': '" + key + "' holds a non-integer");
      out.push_back(e.get<int32_t>());
    }
    return Status();
  };
  NM_RETURN_IF_ERROR(ids("suppress_ids", s.suppress));
  NM_RETURN_IF_ERROR(ids("suppress_ids_begin", s.suppress_begin));
  return s;
}

}  // namespace nm

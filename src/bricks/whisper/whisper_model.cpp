#include "bricks/whisper/whisper_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "core/file_read.h"
#include "core/fp16.h"
#include "core/gguf_reader.h"
#include "core/mapped_file.h"

namespace nm {
namespace {

constexpr size_t kAlign = 64;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// What a tensor becomes in the arena.
enum class Role {
  vector,  // biases and norms: F32
  table,   // position tables: F32
  conv,    // conv kernels: F32 or F16 as stored, else F32
  matrix,  // matmul weights: any type the matmul kernels take
};

bool matmul_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_0: case DType::Q4_1: case DType::Q5_0:
    case DType::Q5_1: case DType::Q8_0: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

struct Planned {
  const WhisperSourceTensor* src;
  DType out_type;
  std::array<int64_t, 4> ne;
  size_t offset;
  size_t bytes;
};

class Assembler {
 public:
  explicit Assembler(const WhisperSource& s) : s_(s) {
    for (const WhisperSourceTensor& t : s.tensors) by_name_[t.name] = &t;
  }

  // Plans one tensor; `ne` is the expected shape (ggml order). Missing tensors fail
  // unless optional (then the Tensor stays empty).
  Status plan(const std::string& name, Role role, std::array<int64_t, 4> ne, Tensor* out, bool optional = false) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      if (optional) return Status();
      return error(ErrorCode::invalid_file, where() + "tensor '" + name + "' is missing");
    }
    const WhisperSourceTensor& t = *it->second;
    int64_t n = 1, want = 1;
    for (int d = 0; d < 4; ++d) {
      n *= t.ne[(size_t)d];
      want *= ne[(size_t)d];
    }
    // Vectors may be stored with extra unit dimensions (ggml keeps conv biases as [1, n]).
    const bool shape_ok = role == Role::vector ? n == want : t.ne == ne;
    if (!shape_ok) {
      auto str = [](const std::array<int64_t, 4>& a) {
        std::string s(1, '[');
        for (int d = 0; d < 4; ++d) s.append(std::to_string(a[(size_t)d])).append(d < 3 ? ", " : "]");
        return s;
      };
      return error(ErrorCode::invalid_file, where() + "tensor '" + name + "' has shape " + str(t.ne) +
                                                ", the hyper-parameters say " + str(ne));
    }
    DType out_type = DType::F32;
    if (t.type == DType::I8) {
      if (role != Role::matrix || !t.row_scale) return error(ErrorCode::invalid_file, where() + "int8 tensor '" + name + "' without scales");
      out_type = DType::Q8_0;
    } else if (role == Role::matrix) {
      if (!matmul_type(t.type)) {
        return error(ErrorCode::unsupported, where() + "tensor '" + name + "' has type " + std::string(dtype_name(t.type)) +
                                                 ", which NanoMind's matmul does not take");
      }
      out_type = t.type;
    } else if (role == Role::conv) {
      out_type = t.type == DType::F16 ? DType::F16 : DType::F32;
    }
    if (ne[0] % block_size(out_type) != 0) {
      return error(ErrorCode::invalid_file, where() + "tensor '" + name + "' rows of " + std::to_string(ne[0]) +
                                                " do not fill whole " + std::string(dtype_name(out_type)) + " blocks");
    }
    const TypeTraits* in_tr = type_traits(t.type);
    if (t.type != DType::I8 && (!in_tr || (out_type != t.type && !in_tr->to_float))) {
      return error(ErrorCode::unsupported, where() + "tensor '" + name + "' has type " + std::string(dtype_name(t.type)));
    }
    std::array<int64_t, 4> out_ne = role == Role::vector ? std::array<int64_t, 4>{want, 1, 1, 1} : ne;
    const size_t bytes = row_size(out_type, out_ne[0]) * (size_t)(out_ne[1] * out_ne[2] * out_ne[3]);
    plans_.push_back(Planned{&t, out_type, out_ne, total_, bytes});
    targets_.push_back(out);
    total_ += align_up(bytes);
    return Status();
  }

  Status copy(VirtualBuffer& arena, size_t* matrix_bytes) {
    NM_ASSIGN_OR_RETURN(arena, VirtualBuffer::reserve(std::max<size_t>(total_, kAlign)));
    char* base = static_cast<char*>(arena.data());
    std::vector<float> row;
    std::vector<uint8_t> staging;
    for (size_t i = 0; i < plans_.size(); ++i) {
      const Planned& p = plans_[i];
      const WhisperSourceTensor& t = *p.src;
      char* dst = base + p.offset;
      const int64_t ne0 = p.ne[0], rows = p.ne[1] * p.ne[2] * p.ne[3];
      if (t.type == p.out_type) {
        std::memcpy(dst, t.data, p.bytes);
      } else if (t.type == DType::I8) {
        // CTranslate2 int8: value = q / scale[row]  ->  Q8_0 blocks with d = 1 / scale.
        for (int64_t r = 0; r < rows; ++r) {
          const float scale = t.row_scale[r];
          const fp16_t d = fp32_to_fp16(scale != 0.0f && std::isfinite(scale) ? 1.0f / scale : 0.0f);
          auto* blocks = reinterpret_cast<BlockQ8_0*>(dst + (size_t)r * row_size(DType::Q8_0, ne0));
          for (int64_t b = 0; b < ne0 / QK8_0; ++b) {
            blocks[b].d = d;
            std::memcpy(blocks[b].qs, t.data + r * ne0 + b * QK8_0, QK8_0);
          }
        }
      } else {
        // Convert row by row through an aligned staging copy (sources are unaligned).
        const size_t in_row = row_size(t.type, ne0);
        staging.resize(in_row + 16);
        row.resize((size_t)ne0);
        const TypeTraits* out_tr = type_traits(p.out_type);
        for (int64_t r = 0; r < rows; ++r) {
          std::memcpy(staging.data(), t.data + (size_t)r * in_row, in_row);
          type_traits(t.type)->to_float(staging.data(), row.data(), ne0);
          if (p.out_type == DType::F32) {
            std::memcpy(dst + (size_t)r * ne0 * 4, row.data(), (size_t)ne0 * 4);
          } else {
            out_tr->from_float(row.data(), dst + (size_t)r * row_size(p.out_type, ne0), ne0);
          }
        }
      }
      Tensor out = Tensor::make(p.out_type, p.ne, dst);
      *targets_[i] = out;
    }
    *matrix_bytes = total_;
    return Status();
  }

 private:
  std::string where() const { return "'" + s_.path + "': "; }
  const WhisperSource& s_;
  std::map<std::string, const WhisperSourceTensor*> by_name_;
  std::vector<Planned> plans_;
  std::vector<Tensor*> targets_;
  size_t total_ = 0;
};

Status check_hparams(const WhisperHparams& hp, const std::string& path) {
  auto bad = [&](const std::string& what) {
    return error(ErrorCode::invalid_file, "'" + path + "': implausible Whisper hyper-parameters: " + what);
  };
  if (hp.n_mels < 1 || hp.n_mels > 512) return bad("n_mels " + std::to_string(hp.n_mels));
  if (hp.n_audio_ctx != kWhisperChunkFrames / 2) {
    return bad("n_audio_ctx " + std::to_string(hp.n_audio_ctx) + " (Whisper's 30 s window is 1500 positions)");
  }
  if (hp.n_text_ctx < 8 || hp.n_text_ctx > 4096) return bad("n_text_ctx " + std::to_string(hp.n_text_ctx));
  if (hp.n_vocab < 1610 || hp.n_vocab > 1000000) return bad("n_vocab " + std::to_string(hp.n_vocab));
  for (auto [state, head, layer, who] : {std::tuple{hp.n_audio_state, hp.n_audio_head, hp.n_audio_layer, "audio"},
                                         std::tuple{hp.n_text_state, hp.n_text_head, hp.n_text_layer, "text"}}) {
    if (state < 1 || state > 16384 || head < 1 || head > 256 || state % head != 0 || state / head > 512 ||
        state % 32 != 0) {
      return bad(std::string(who) + " width " + std::to_string(state) + " with " + std::to_string(head) + " heads");
    }
    if (layer < 1 || layer > 256) return bad(std::string(who) + " layers " + std::to_string(layer));
  }
  return Status();
}

// A CTranslate2 directory's small text files, read as any user-named file is (core/file_read.h):
// a FIFO put in the directory would block std::ifstream forever; it is refused by kind.
Result<std::string> read_text_file(const std::string& path, size_t max_bytes) {
  NM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_regular_file(path, max_bytes, "'" + path + "'"));
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

Result<std::shared_ptr<const WhisperModel>> WhisperModel::assemble(WhisperSource src) {
  const WhisperHparams& hp = src.hp;
  NM_RETURN_IF_ERROR(check_hparams(hp, src.path));
  std::shared_ptr<WhisperModel> m(new WhisperModel());
  m->hp_ = hp;
  m->format_ = src.format;
  m->path_ = src.path;
  WhisperWeights& w = m->w_;
  Assembler a(src);
  const int64_t Ea = hp.n_audio_state, Et = hp.n_text_state;
  auto vec = [&](const std::string& n, int64_t len, Tensor* t, bool opt = false) {
    return a.plan(n, Role::vector, {len, 1, 1, 1}, t, opt);
  };
  auto mat = [&](const std::string& n, int64_t in, int64_t out, Tensor* t) {
    return a.plan(n, Role::matrix, {in, out, 1, 1}, t);
  };
  auto attention = [&](const std::string& p, int64_t E, WhisperAttention& at) -> Status {
    NM_RETURN_IF_ERROR(mat(p + "query.weight", E, E, &at.q_w));
    NM_RETURN_IF_ERROR(vec(p + "query.bias", E, &at.q_b));
    NM_RETURN_IF_ERROR(mat(p + "key.weight", E, E, &at.k_w));
    NM_RETURN_IF_ERROR(vec(p + "key.bias", E, &at.k_b, /*optional=*/true));
    NM_RETURN_IF_ERROR(mat(p + "value.weight", E, E, &at.v_w));
    NM_RETURN_IF_ERROR(vec(p + "value.bias", E, &at.v_b));
    NM_RETURN_IF_ERROR(mat(p + "out.weight", E, E, &at.o_w));
    return vec(p + "out.bias", E, &at.o_b);
  };
  // The MLP width is whatever the file holds (4x in every released Whisper).
  auto n_ff_of = [&](const std::string& name, int64_t fallback) {
    for (const WhisperSourceTensor& t : src.tensors) {
      if (t.name == name) return t.ne[1];
    }
    return fallback;
  };
  auto block = [&](const std::string& p, int64_t E, bool decoder, WhisperBlock& b) -> Status {
    NM_RETURN_IF_ERROR(vec(p + "attn_ln.weight", E, &b.attn_ln_w));
    NM_RETURN_IF_ERROR(vec(p + "attn_ln.bias", E, &b.attn_ln_b));
    NM_RETURN_IF_ERROR(attention(p + "attn.", E, b.attn));
    if (decoder) {
      NM_RETURN_IF_ERROR(vec(p + "cross_attn_ln.weight", E, &b.cross_ln_w));
      NM_RETURN_IF_ERROR(vec(p + "cross_attn_ln.bias", E, &b.cross_ln_b));
      NM_RETURN_IF_ERROR(attention(p + "cross_attn.", E, b.cross));
    }
    const int64_t F = n_ff_of(p + "mlp.0.weight", 4 * E);
    if (F < 1 || F > 65536) return error(ErrorCode::invalid_file, "'" + src.path + "': implausible MLP width " + std::to_string(F));
    NM_RETURN_IF_ERROR(vec(p + "mlp_ln.weight", E, &b.mlp_ln_w));
    NM_RETURN_IF_ERROR(vec(p + "mlp_ln.bias", E, &b.mlp_ln_b));
    NM_RETURN_IF_ERROR(mat(p + "mlp.0.weight", E, F, &b.mlp0_w));
    NM_RETURN_IF_ERROR(vec(p + "mlp.0.bias", F, &b.mlp0_b));
    NM_RETURN_IF_ERROR(mat(p + "mlp.2.weight", F, E, &b.mlp2_w));
    return vec(p + "mlp.2.bias", E, &b.mlp2_b);
  };

  NM_RETURN_IF_ERROR(a.plan("encoder.conv1.weight", Role::conv, {3, hp.n_mels, Ea, 1}, &w.conv1_w));
  NM_RETURN_IF_ERROR(vec("encoder.conv1.bias", Ea, &w.conv1_b));
  NM_RETURN_IF_ERROR(a.plan("encoder.conv2.weight", Role::conv, {3, Ea, Ea, 1}, &w.conv2_w));
  NM_RETURN_IF_ERROR(vec("encoder.conv2.bias", Ea, &w.conv2_b));
  NM_RETURN_IF_ERROR(a.plan("encoder.positional_embedding", Role::table, {Ea, hp.n_audio_ctx, 1, 1}, &w.enc_pos));
  w.enc.resize((size_t)hp.n_audio_layer);
  for (int i = 0; i < hp.n_audio_layer; ++i) {
    NM_RETURN_IF_ERROR(block("encoder.blocks." + std::to_string(i) + ".", Ea, false, w.enc[(size_t)i]));
  }
  NM_RETURN_IF_ERROR(vec("encoder.ln_post.weight", Ea, &w.enc_ln_w));
  NM_RETURN_IF_ERROR(vec("encoder.ln_post.bias", Ea, &w.enc_ln_b));
  NM_RETURN_IF_ERROR(mat("decoder.token_embedding.weight", Et, hp.n_vocab, &w.tok_emb));
  NM_RETURN_IF_ERROR(a.plan("decoder.positional_embedding", Role::table, {Et, hp.n_text_ctx, 1, 1}, &w.dec_pos));
  w.dec.resize((size_t)hp.n_text_layer);
  for (int i = 0; i < hp.n_text_layer; ++i) {
    NM_RETURN_IF_ERROR(block("decoder.blocks." + std::to_string(i) + ".", Et, true, w.dec[(size_t)i]));
  }
  NM_RETURN_IF_ERROR(vec("decoder.ln.weight", Et, &w.dec_ln_w));
  NM_RETURN_IF_ERROR(vec("decoder.ln.bias", Et, &w.dec_ln_b));
  NM_RETURN_IF_ERROR(a.copy(m->arena_, &m->weight_bytes_));
  m->weight_type_ = w.enc.empty() ? w.tok_emb.type : w.enc[0].attn.q_w.type;

  const int n_langs = src.n_langs;
  NM_ASSIGN_OR_RETURN(m->vocab_, WhisperVocab::from_layout(std::move(src.text_tokens), hp.n_vocab, n_langs, src.multilingual));
  if (src.filters.w.empty()) {
    m->filters_ = slaney_mel_filters(hp.n_mels);
  } else {
    if (src.filters.n_mels != hp.n_mels || src.filters.n_bins != kWhisperNfft / 2 + 1) {
      return error(ErrorCode::invalid_file, "'" + src.path + "': mel filters are " + std::to_string(src.filters.n_mels) + " x " +
                                                std::to_string(src.filters.n_bins) + ", expected " + std::to_string(hp.n_mels) +
                                                " x 201");
    }
    for (float f : src.filters.w) {
      if (!std::isfinite(f)) return error(ErrorCode::invalid_file, "'" + src.path + "': mel filters hold a non-finite value");
    }
    m->filters_ = std::move(src.filters);
  }
  m->suppress_ = src.suppress.empty() ? whisper_default_suppress(m->vocab_) : std::move(src.suppress);
  if (src.suppress_begin.empty()) {
    const std::vector<int32_t> space = m->vocab_.encode(" ");
    if (!space.empty()) m->suppress_begin_.push_back(space[0]);
    m->suppress_begin_.push_back(m->vocab_.eot);
  } else {
    m->suppress_begin_ = std::move(src.suppress_begin);
  }
  for (const std::vector<int32_t>* list : {&m->suppress_, &m->suppress_begin_}) {
    for (int32_t id : *list) {
      if (id < 0 || id >= hp.n_vocab) {
        return error(ErrorCode::invalid_file, "'" + src.path + "': suppressed token id " + std::to_string(id) + " is outside the vocabulary");
      }
    }
  }
  return std::shared_ptr<const WhisperModel>(std::move(m));
}

Result<std::shared_ptr<const WhisperModel>> WhisperModel::load(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return error(ErrorCode::io_error, "cannot open Whisper model '" + path + "': no such file or directory");
  if (S_ISDIR(st.st_mode)) {
    const std::string bin = path + "/model.bin";
    NM_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(bin));
    NM_ASSIGN_OR_RETURN(std::string config, read_text_file(path + "/config.json", 16 << 20));
    Result<std::string> vocab = read_text_file(path + "/vocabulary.txt", 64 << 20);
    if (!vocab.ok()) vocab = read_text_file(path + "/vocabulary.json", 64 << 20);
    if (!vocab.ok()) {
      return error(ErrorCode::io_error, "'" + path + "' has no vocabulary.txt or vocabulary.json (a CTranslate2 Whisper directory needs one)");
    }
    NM_ASSIGN_OR_RETURN(WhisperSource s, parse_whisper_ct2(file->data(), file->size(), config, vocab.value(), path));
    return assemble(std::move(s));
  }
  NM_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  file->advise_sequential();
  uint32_t magic = 0;
  if (file->size() >= 4) std::memcpy(&magic, file->data(), 4);
  if (magic == kGgufMagic) {
    Result<GgufFile> gguf = GgufFile::from_memory(file->data(), file->size(), file);
    if (!gguf.ok()) return error(gguf.status().code(), "'" + path + "': " + gguf.status().message());
    NM_ASSIGN_OR_RETURN(WhisperSource s, parse_whisper_gguf(*gguf, path));
    return assemble(std::move(s));
  }
  NM_ASSIGN_OR_RETURN(WhisperSource s, parse_whisper_ggml(file->data(), file->size(), path));
  return assemble(std::move(s));
}

std::string WhisperModel::describe() const {
  static const std::map<int, const char*> kSizes = {{384, "tiny"}, {512, "base"}, {768, "small"}, {1024, "medium"}, {1280, "large"}};
  auto it = kSizes.find(hp_.n_audio_state);
  std::string s = "Whisper ";
  s += it != kSizes.end() && hp_.n_audio_layer == hp_.n_text_layer ? it->second : "(custom)";
  s += vocab_.multilingual() ? " (multilingual, " : " (English only, ";
  s += std::to_string(hp_.n_audio_layer) + "+" + std::to_string(hp_.n_text_layer) + " layers, " +
       std::to_string(hp_.n_audio_state) + " wide, " + std::to_string(hp_.n_mels) + " mel bins), ";
  s += std::string(dtype_name(weight_type_)) + ", " + format_name();
  return s;
}

std::vector<int32_t> whisper_default_suppress(const WhisperVocab& v) {
  // openai/whisper tokenizer.py non_speech_tokens(): symbols that are never speech, and
  // their space-prefixed forms, where either is a single token (for the musical signs,
  // their first token), plus " -" and " '".
  static const char* const kSymbols[] = {
      "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`", "{", "|",
      "}", "~", "「", "」", "『", "』", "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))",
      "(((", ")))", "[[", "]]", "{{", "}}", "♪♪", "♪♪♪"};
  static const char* const kMusic[] = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};
  std::vector<int32_t> out;
  auto first = [&](std::string_view s) {
    std::vector<int32_t> t = v.encode(s);
    if (!t.empty()) out.push_back(t[0]);
  };
  first(" -");
  first(" '");
  // (Strings are built by append: gcc 12 warns falsely about `" " + std::string`.)
  auto spaced = [](const char* sym) {
    std::string s(1, ' ');
    s.append(sym);
    return s;
  };
  for (const char* sym : kSymbols) {
    for (const std::string& s : {std::string(sym), spaced(sym)}) {
      std::vector<int32_t> t = v.encode(s);
      if (t.size() == 1) out.push_back(t[0]);
    }
  }
  for (const char* sym : kMusic) {
    first(sym);
    first(spaced(sym));
  }
  for (int id : {v.translate, v.transcribe, v.sot, v.prev, v.solm, v.nosp}) out.push_back(id);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace nm

// Test shim for the tokenizer: build a Tokenizer from arrays, encode/decode, stream,
// pre-tokenize, and render chat templates, for tests/python/test_tokenizer.py.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/shim/shim.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {
int copy_out(const std::string& s, char* out, int64_t cap, int64_t* n_out) {
  *n_out = static_cast<int64_t>(s.size());
  if (static_cast<int64_t>(s.size()) > cap) return 2;
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  return 0;
}
}  // namespace

// Returns a handle (nullptr on error; the message is written to err).
NM_SHIM void* nm_shim_tok_create(const char* model, const char* pre, int64_t n_tokens, const char** tokens,
                                 const float* scores, const int32_t* types, int64_t n_merges, const char** merges,
                                 const int32_t* special_ids /* bos, eos, eot, unk, pad */, int add_bos, int add_eos,
                                 int add_space_prefix, char* err, int64_t err_cap) {
  nm::Vocab v;
  v.model = model;
  v.pre = pre;
  for (int64_t i = 0; i < n_tokens; ++i) v.tokens.emplace_back(tokens[i]);
  if (scores) v.scores.assign(scores, scores + n_tokens);
  if (types) v.token_type.assign(types, types + n_tokens);
  for (int64_t i = 0; i < n_merges; ++i) v.merges.emplace_back(merges[i]);
  v.bos_token_id = special_ids[0];
  v.eos_token_id = special_ids[1];
  v.eot_token_id = special_ids[2];
  v.unknown_token_id = special_ids[3];
  v.padding_token_id = special_ids[4];
  v.add_bos_token = add_bos != 0;
  v.add_eos_token = add_eos != 0;
  v.add_space_prefix = add_space_prefix != 0;
  auto r = nm::Tokenizer::create(std::move(v));
  if (!r.ok()) {
    int64_t n = 0;
    (void)copy_out(r.status().to_string().substr(0, static_cast<size_t>(err_cap - 1)), err, err_cap, &n);
    err[n] = 0;
    return nullptr;
  }
  return new nm::Tokenizer(std::move(r).value());
}

NM_SHIM void nm_shim_tok_free(void* h) { delete static_cast<nm::Tokenizer*>(h); }

NM_SHIM int nm_shim_tok_encode(void* h, const char* text, int64_t len, int add_special, int parse_special,
                               int32_t* out, int64_t cap, int64_t* n_out) {
  nm::EncodeOptions o;
  o.add_special = add_special != 0;
  o.parse_special = parse_special != 0;
  auto r = static_cast<nm::Tokenizer*>(h)->encode(std::string_view(text, static_cast<size_t>(len)), o);
  if (!r.ok()) return 1;
  *n_out = static_cast<int64_t>(r->size());
  if (*n_out > cap) return 2;
  std::copy(r->begin(), r->end(), out);
  return 0;
}

NM_SHIM int nm_shim_tok_decode(void* h, const int32_t* ids, int64_t n, int render_special, int strip_space_prefix,
                               char* out, int64_t cap, int64_t* n_out) {
  nm::DecodeOptions o;
  o.render_special = render_special != 0;
  o.strip_space_prefix = strip_space_prefix != 0;
  return copy_out(static_cast<nm::Tokenizer*>(h)->decode(std::vector<int32_t>(ids, ids + n), o), out, cap, n_out);
}

// Streams ids through StreamingDetokenizer; out gets all text, chunk_len[i] the bytes
// emitted by push i (chunk_len[n] by finish()).
NM_SHIM int nm_shim_tok_stream(void* h, const int32_t* ids, int64_t n, char* out, int64_t cap, int64_t* n_out,
                               int64_t* chunk_len) {
  nm::StreamingDetokenizer d(*static_cast<nm::Tokenizer*>(h));
  std::string all;
  for (int64_t i = 0; i < n; ++i) {
    const std::string s = d.push(ids[i]);
    chunk_len[i] = static_cast<int64_t>(s.size());
    all += s;
  }
  const std::string tail = d.finish();
  chunk_len[n] = static_cast<int64_t>(tail.size());
  all += tail;
  return copy_out(all, out, cap, n_out);
}

// kind: 0 gpt2, 1 llama3, 2 qwen2. word_end[i] = byte offset where word i ends.
NM_SHIM int nm_shim_pretokenize(int kind, const char* text, int64_t len, int64_t* word_end, int64_t cap,
                                int64_t* n_out) {
  const std::string_view t(text, static_cast<size_t>(len));
  const auto words = nm::pre_tokenize(static_cast<nm::PreTokenizer>(kind), t);
  *n_out = static_cast<int64_t>(words.size());
  if (*n_out > cap) return 2;
  for (size_t i = 0; i < words.size(); ++i) word_end[i] = (words[i].data() - t.data()) + words[i].size();
  return 0;
}

// Renders messages with the template chosen by name (if non-empty) or from jinja text.
NM_SHIM int nm_shim_chat_render(const char* name, const char* jinja, int64_t n_msgs, const char** roles,
                                const char** contents, int add_generation_prompt, const char* bos, const char* eos,
                                char* out, int64_t cap, int64_t* n_out) {
  auto t = nm::ChatTemplate::select(name, jinja);
  if (!t.ok()) return 1;
  std::vector<nm::ChatMessage> msgs;
  for (int64_t i = 0; i < n_msgs; ++i) msgs.push_back({roles[i], contents[i], 0});
  nm::ChatRenderOptions o;
  o.add_generation_prompt = add_generation_prompt != 0;
  o.bos_token = bos;
  o.eos_token = eos;
  auto r = t->render(msgs, o);
  if (!r.ok()) return 3;
  return copy_out(*r, out, cap, n_out);
}

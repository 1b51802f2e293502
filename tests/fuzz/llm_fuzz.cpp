// libFuzzer target: arbitrary bytes as an LLM GGUF (from memory): hyper-parameters, the
// vocabulary and merges, the chat template. Loading must give a model or a clear Status; a
// loaded model's tokenizer then encodes and decodes hostile text, its chat template (found
// from the file or the vocabulary) renders a conversation, and a small enough model runs a
// prefill and a decode step, so hostile hyper-parameters (head counts, sliding windows,
// rope sizes, vocabulary sizes against tensor shapes) cannot crash graph building.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "bricks/text/text_model.h"
#include "core/gguf_reader.h"
#include "core/thread_pool.h"
#include "runtime/text_context.h"
#include "tokenizer/chat_template.h"

namespace {

// Bounds the work and memory of one input.
bool small(const nm::TextHparams& hp) {
  return hp.n_embd <= 256 && hp.n_layer <= 4 && hp.n_ff <= 1024 && hp.n_head <= 16 && hp.n_vocab <= 4096 &&
         hp.head_dim <= 128;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = nm::GgufFile::from_memory(data, size, nullptr);
  if (!f.ok()) return 0;
  auto m = nm::TextModel::from_gguf(std::make_shared<const nm::GgufFile>(std::move(f).value()));
  if (!m.ok()) return 0;
  const nm::TextModel& model = *m.value();
  const nm::Tokenizer& tok = model.tokenizer();
  const int n_vocab = model.hparams().n_vocab;

  // The tokenizer on text a user could type, markers included, both ways of reading them.
  const std::string_view text = "Hi <|im_end|> <s></s> \xE2\x96\x81x <start_of_turn> 12\t\xff\xfe caf\xC3\xA9";
  for (bool parse : {false, true}) {
    auto ids = tok.encode(text, {true, parse});
    if (!ids.ok()) continue;
    for (nm::TokenId id : *ids)
      if (id < 0 || id >= n_vocab) __builtin_trap();  // the graph indexes the embedding table with these
    (void)tok.decode(*ids);
    (void)tok.decode(*ids, {true, true});
  }
  for (nm::TokenId id : {tok.bos(), tok.eos(), (nm::TokenId)0, (nm::TokenId)(n_vocab - 1), (nm::TokenId)n_vocab})
    (void)tok.token_to_piece(id, true);

  // The chat template the file names (or its vocabulary implies), rendered with user text in it.
  auto tmpl = nm::ChatTemplate::select("", tok);
  if (tmpl.ok()) {
    std::vector<nm::ChatMessage> chat = {{"system", "be brief"}, {"user", std::string(text), 1}};
    auto r = tmpl->render_with_spans(chat, nm::chat_options_for(tok));
    if (r.ok()) {
      for (const auto& s : r->content)
        if (s.begin > s.end || s.end > r->text.size()) __builtin_trap();
      (void)tok.encode(r->text, {false, true, r->content});
    }
    (void)tmpl->stop_tokens(tok);
  }

  if (!small(model.hparams())) return 0;
  nm::TextContextParams p;
  p.n_ctx = 16;
  p.n_batch = 8;
  p.run.pack_weights = (size & 1) != 0;  // both weight layouts
  auto ctx = nm::TextContext::create(model, p);
  if (!ctx.ok()) return 0;
  nm::ThreadPool pool(1);
  std::vector<int32_t> prompt;
  for (size_t i = 0; i < 11 && n_vocab > 0; ++i) prompt.push_back((int32_t)((i * 7 + (i < size ? data[i] : 0)) % n_vocab));
  if (!ctx.value()->eval_tokens(prompt, pool).ok()) return 0;
  const int32_t next = n_vocab - 1;
  (void)ctx.value()->eval_tokens({&next, 1}, pool);
  // Past the vocabulary: a clear error, never a read outside the embedding table.
  const int32_t bad[2] = {n_vocab, -1};
  if (ctx.value()->eval_tokens({bad, 1}, pool).ok() || ctx.value()->eval_tokens({bad + 1, 1}, pool).ok()) __builtin_trap();
  return 0;
}

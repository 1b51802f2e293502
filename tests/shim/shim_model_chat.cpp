// A model file's own chat prompt, for the real-weight tier: the template NanoMind picks for
// the file (its tokenizer.chat_template, or the vocabulary's turn markers when it has none)
// rendered with the file's BOS/EOS texts, exactly as `nanomind chat` builds its prompts.
#include <cstring>
#include <string>
#include <vector>

#include "bricks/text/text_model.h"
#include "tests/shim/shim.h"
#include "tokenizer/chat_template.h"

// 0 ok; 1 the model does not load; 2 no template is recognised; 3 rendering fails (e.g.
// roles that do not alternate); 4 out is too small (*n_out says how much is needed).
NM_SHIM int nm_shim_model_chat_prompt(const char* path, int64_t n_msgs, const char** roles, const char** contents,
                                      char* out, int64_t cap, int64_t* n_out) {
  auto m = nm::TextModel::load(path);
  if (!m.ok()) return 1;
  const nm::Tokenizer& tok = (*m)->tokenizer();
  auto t = nm::ChatTemplate::select("", tok);
  if (!t.ok()) return 2;
  std::vector<nm::ChatMessage> msgs;
  for (int64_t i = 0; i < n_msgs; ++i) msgs.push_back({roles[i], contents[i], 0});
  auto r = t->render(msgs, nm::chat_options_for(tok));
  if (!r.ok()) return 3;
  *n_out = static_cast<int64_t>(r->size());
  if (*n_out > cap) return 4;
  std::memcpy(out, r->data(), r->size());
  return 0;
}

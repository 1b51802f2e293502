// Chat template recognition and rendering. Each family mirrors one published Jinja
// template (Llama-2-chat, Meta-Llama-3-Instruct, Qwen2-Instruct ChatML, Gemma 3 instruct) character for
// character; tests/python/test_tokenizer.py renders the real templates with jinja2 and
// compares.
#include "tokenizer/chat_template.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace nm {

namespace {

bool strip_ws(uint32_t cp) { return is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

// Python's str.lstrip() / str.rstrip() (Jinja's |trim is both): whitespace code points.
std::string py_lstrip(std::string_view s) {
  for (const Utf8Unit& u : utf8_units(s)) {
    if (!strip_ws(u.cp)) return std::string(s.substr(u.offset));
  }
  return {};
}

std::string py_rstrip(std::string_view s) {
  const std::vector<Utf8Unit> units = utf8_units(s);
  for (size_t e = units.size(); e > 0; --e) {
    if (!strip_ws(units[e - 1].cp)) return std::string(s.substr(0, units[e - 1].offset + units[e - 1].length));
  }
  return {};
}

// A rendered prompt as pieces: the template's own text (markers, headers: may hold
// control-token text) or a message's content (what the user or the app wrote).
struct Piece {
  std::string text;
  bool content = false;
};
using Pieces = std::vector<Piece>;

// A message as the template sees it: its image markers (template text), then its content.
Pieces message_pieces(const ChatMessage& m, const ChatRenderOptions& o) {
  Pieces p;
  std::string markers;
  for (int i = 0; i < m.n_images; ++i) markers += o.image_marker;
  if (!markers.empty()) p.push_back({markers, false});
  p.push_back({m.content, true});
  return p;
}

// Python's str.strip() applied to the concatenation of the pieces.
Pieces stripped(Pieces p) {
  for (Piece& x : p) {
    x.text = py_lstrip(x.text);
    if (!x.text.empty()) break;
  }
  for (auto it = p.rbegin(); it != p.rend(); ++it) {
    it->text = py_rstrip(it->text);
    if (!it->text.empty()) break;
  }
  return p;
}

Pieces concat(Pieces a, const Pieces& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Appends template text or pieces, recording where content lands.
class PromptBuilder {
 public:
  PromptBuilder& text(std::string_view t) {
    out_.text.append(t);
    return *this;
  }
  PromptBuilder& pieces(const Pieces& p) {
    for (const Piece& x : p) {
      if (x.content && !x.text.empty()) out_.content.push_back({out_.text.size(), out_.text.size() + x.text.size()});
      out_.text += x.text;
    }
    return *this;
  }
  RenderedPrompt take() { return std::move(out_); }

 private:
  RenderedPrompt out_;
};

// Finds the literal default system prompt in a ChatML template: the first
// "<|im_start|>system\n<literal text><|im_end|>" whose text holds no Jinja syntax.
std::string chatml_default_system(std::string_view jinja) {
  static constexpr std::string_view k_heads[] = {"<|im_start|>system\\n", "<|im_start|>system\n"};
  for (std::string_view head : k_heads) {
    for (size_t at = jinja.find(head); at != std::string_view::npos; at = jinja.find(head, at + 1)) {
      const size_t start = at + head.size();
      const size_t end = jinja.find("<|im_end|>", start);
      if (end == std::string_view::npos) continue;
      const std::string_view text = jinja.substr(start, end - start);
      if (text.empty() || text.find_first_of("'\"{}%+") != std::string_view::npos) continue;
      return std::string(text);
    }
  }
  return {};
}

}  // namespace

Result<ChatTemplate> ChatTemplate::from_name(std::string_view name) {
  if (name == "llama2" || name == "llama-2") return ChatTemplate(ChatFamily::llama2, "");
  if (name == "llama3" || name == "llama-3") return ChatTemplate(ChatFamily::llama3, "");
  if (name == "llama3.1" || name == "llama3.2") return ChatTemplate(ChatFamily::llama3, "", true);
  if (name == "chatml") return ChatTemplate(ChatFamily::chatml, "");
  if (name == "qwen" || name == "qwen2") return ChatTemplate(ChatFamily::chatml, "You are a helpful assistant.");
  if (name == "gemma" || name == "gemma3") return ChatTemplate(ChatFamily::gemma, "");
  return error(ErrorCode::invalid_argument, "unknown chat template name '" + std::string(name) + "'; use --template " +
                                                std::string(known_names()));
}

Result<ChatTemplate> ChatTemplate::from_jinja(std::string_view jinja) {
  if (jinja.empty()) {
    return error(ErrorCode::unsupported,
                 "the model has no chat template (tokenizer.chat_template); pass --template " + std::string(known_names()) +
                     " (or --raw to complete plain text)");
  }
  if (jinja.find("<|start_header_id|>") != std::string_view::npos &&
      jinja.find("<|end_header_id|>") != std::string_view::npos) {
    return ChatTemplate(ChatFamily::llama3, "", jinja.find("Cutting Knowledge Date") != std::string_view::npos);
  }
  if (jinja.find("<|im_start|>") != std::string_view::npos) {
    return ChatTemplate(ChatFamily::chatml, chatml_default_system(jinja));
  }
  if (jinja.find("[INST]") != std::string_view::npos && jinja.find("<<SYS>>") != std::string_view::npos) {
    return ChatTemplate(ChatFamily::llama2, "");
  }
  if (jinja.find("<start_of_turn>") != std::string_view::npos && jinja.find("<end_of_turn>") != std::string_view::npos) {
    return ChatTemplate(ChatFamily::gemma, "");
  }
  return error(ErrorCode::unsupported,
               "unrecognised chat template (tokenizer.chat_template is not Llama 2, Llama 3, ChatML or Gemma); "
               "pass --template " + std::string(known_names()) + " (or --raw to complete plain text)");
}

std::string_view ChatTemplate::known_names() { return "llama2, llama3, llama3.1, chatml, qwen2, gemma"; }

Result<ChatTemplate> ChatTemplate::select(std::string_view override_name, std::string_view jinja) {
  if (!override_name.empty()) return from_name(override_name);
  return from_jinja(jinja);
}

Result<ChatTemplate> ChatTemplate::select(std::string_view override_name, const Tokenizer& tok) {
  const std::string& jinja = tok.vocab().chat_template;
  if (!override_name.empty() || !jinja.empty()) return select(override_name, jinja);
  auto is_control = [&](std::string_view text) {
    const TokenId id = tok.token_id(text);
    return id != k_no_token && tok.token_type(id) == TokenType::control;
  };
  if (is_control("<start_of_turn>") && is_control("<end_of_turn>")) return ChatTemplate(ChatFamily::gemma, "");
  if (is_control("<|im_start|>") && is_control("<|im_end|>")) return ChatTemplate(ChatFamily::chatml, "");
  return from_jinja(jinja);  // the "no chat template" error
}

std::string_view ChatTemplate::name() const {
  switch (family_) {
    case ChatFamily::llama2: return "llama2";
    case ChatFamily::llama3: return "llama3";
    case ChatFamily::chatml: return "chatml";
    case ChatFamily::gemma: return "gemma";
  }
  return "?";
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                         const ChatRenderOptions& o) const {
  NM_ASSIGN_OR_RETURN(RenderedPrompt r, render_with_spans(messages, o));
  return std::move(r.text);
}

Result<RenderedPrompt> ChatTemplate::render_with_spans(const std::vector<ChatMessage>& messages,
                                                       const ChatRenderOptions& o) const {
  PromptBuilder out;
  switch (family_) {
    case ChatFamily::llama2: {
      // A leading system message is folded into the first user turn inside <<SYS>>;
      // turns must alternate user/assistant. The prompt ends with "[/INST]" already, so
      // add_generation_prompt changes nothing. No default system prompt.
      size_t first = 0;
      Pieces system;
      bool has_system = false;
      if (!messages.empty() && messages[0].role == "system") {
        system = message_pieces(messages[0], o);
        has_system = true;
        first = 1;
      }
      for (size_t i = first; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        const size_t k = i - first;
        if ((m.role == "user") != (k % 2 == 0)) {
          return error(ErrorCode::invalid_argument,
                       "Llama 2 chat: conversation roles must alternate user/assistant/user/assistant/...");
        }
        Pieces content = message_pieces(m, o);
        if (k == 0 && has_system) {
          content = concat(concat(concat({{"<<SYS>>\n", false}}, system), {{"\n<</SYS>>\n\n", false}}), content);
        }
        if (m.role == "user") {
          out.text(o.bos_token).text("[INST] ").pieces(stripped(content)).text(" [/INST]");
        } else if (m.role == "assistant") {
          out.text(" ").pieces(stripped(content)).text(" ").text(o.eos_token);
        }
      }
      break;
    }
    case ChatFamily::llama3: {
      // BOS text first, then one header block per message; content is trimmed.
      // Llama 3: no default system prompt. Llama 3.1/3.2 (knowledge_date_): the first
      // block is always a system block with the knowledge/today dates, then the user's
      // system message (trimmed) if any; tools are not supported here.
      size_t first = 0;
      if (knowledge_date_) {
        out.text(o.bos_token).text("<|start_header_id|>system<|end_header_id|>\n\n");
        out.text("Cutting Knowledge Date: December 2023\nToday Date: ");
        out.text(o.date_string.empty() ? "26 Jul 2024" : o.date_string).text("\n\n");
        if (!messages.empty() && messages[0].role == "system") {
          out.pieces(stripped(message_pieces(messages[0], o)));
          first = 1;
        }
        out.text("<|eot_id|>");
      }
      for (size_t i = first; i < messages.size(); ++i) {
        if (i == 0 && !knowledge_date_) out.text(o.bos_token);
        out.text("<|start_header_id|>").text(messages[i].role).text("<|end_header_id|>\n\n");
        out.pieces(stripped(message_pieces(messages[i], o))).text("<|eot_id|>");
      }
      if (o.add_generation_prompt) out.text("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    }
    case ChatFamily::chatml: {
      // Qwen2 adds "<|im_start|>system\n<default><|im_end|>\n" when the first message is
      // not a system message; plain ChatML (no default found) adds nothing.
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i == 0 && messages[0].role != "system" && !default_system_.empty()) {
          out.text("<|im_start|>system\n").text(default_system_).text("<|im_end|>\n");
        }
        out.text("<|im_start|>").text(messages[i].role).text("\n");
        out.pieces(message_pieces(messages[i], o)).text("<|im_end|>\n");
      }
      if (o.add_generation_prompt) out.text("<|im_start|>assistant\n");
      break;
    }
    case ChatFamily::gemma: {
      // BOS text, then "<start_of_turn>{user|model}\n{trimmed content}<end_of_turn>\n" per
      // turn; a leading system message (untrimmed) + "\n\n" opens the first turn's text.
      // Turns must alternate user/model.
      out.text(o.bos_token);
      size_t first = 0;
      Pieces prefix;
      if (!messages.empty() && messages[0].role == "system") {
        prefix = concat(message_pieces(messages[0], o), {{"\n\n", false}});
        first = 1;
      }
      for (size_t i = first; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if ((m.role == "user") != ((i - first) % 2 == 0)) {
          return error(ErrorCode::invalid_argument,
                       "Gemma chat: conversation roles must alternate user/assistant/user/assistant/...");
        }
        out.text("<start_of_turn>").text(m.role == "assistant" ? "model" : m.role).text("\n");
        if (i == first) out.pieces(prefix);
        out.pieces(stripped(message_pieces(m, o))).text("<end_of_turn>\n");
      }
      if (o.add_generation_prompt) out.text("<start_of_turn>model\n");
      break;
    }
  }
  return out.take();
}

std::vector<std::string> ChatTemplate::stop_strings() const {
  switch (family_) {
    case ChatFamily::llama2: return {"</s>"};
    case ChatFamily::llama3: return {"<|eot_id|>", "<|end_of_text|>"};
    case ChatFamily::chatml: return {"<|im_end|>", "<|endoftext|>"};
    case ChatFamily::gemma: return {"<end_of_turn>", "<eos>"};
  }
  return {};
}

std::vector<TokenId> ChatTemplate::stop_tokens(const Tokenizer& tok) const {
  std::vector<TokenId> ids = tok.eog_tokens();
  for (const std::string& s : stop_strings()) {
    const TokenId id = tok.token_id(s);
    if (id != k_no_token) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

ChatRenderOptions chat_options_for(const Tokenizer& tok) {
  ChatRenderOptions o;
  if (tok.bos() != k_no_token) o.bos_token = tok.token_text(tok.bos());
  if (tok.eos() != k_no_token) o.eos_token = tok.token_text(tok.eos());
  return o;
}

}  // namespace nm

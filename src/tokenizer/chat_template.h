// Chat templates: recognise a model's prompt format (Llama 2, Llama 3, ChatML/Qwen, Gemma)
// from its tokenizer.chat_template Jinja text by distinctive substrings, or by name
// (--template), or — for files that carry no template — from the vocabulary's turn
// markers, and render {role, content} messages the way that Jinja template does.
// Default system prompts follow each family's published template: Llama 2 and Llama 3
// add none; Llama 3.1/3.2 always open with a system block carrying "Cutting Knowledge
// Date" / "Today Date"; ChatML adds the literal system prompt found in the file's template
// (Qwen2: "You are a helpful assistant.", Qwen2.5: "You are Qwen, ...") when the
// conversation has no system message. The rendered text contains the BOS text the template
// writes, so encode it with add_special = false and parse_special = true, and with the
// contents as plain_spans (render_with_spans) so that what users typed stays text.
// Immutable after creation; const methods are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace nm {

enum class ChatFamily { llama2, llama3, chatml, gemma };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (others pass through where the family allows)
  std::string content;
  // Vision hook: the number of images attached to this message. Each is rendered as
  // ChatRenderOptions::image_marker placed before the content; the vision brick splits
  // the encoded prompt on that marker and substitutes image embeddings.
  int n_images = 0;
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;  // end with the assistant header so the model answers
  std::string bos_token;              // text of BOS as the template's bos_token (see chat_options_for)
  std::string eos_token;              // text of EOS as the template's eos_token
  std::string image_marker = "<__image__>";
  // Llama 3.1+ only: the "Today Date:" line; empty = the template's fallback "26 Jul 2024".
  std::string date_string;
};

// A rendered prompt and where the messages' contents sit in it: everything outside those
// spans is the template's own text. Tokenize with EncodeOptions::plain_spans = content so
// that text a user typed ("<|im_end|>", an image marker) stays text while the template's
// markers become control tokens.
struct RenderedPrompt {
  std::string text;
  std::vector<TextSpan> content;  // sorted, disjoint; empty contents have no span
};

class ChatTemplate {
 public:
  // The family named by --template: "llama2", "llama3", "llama3.1" (Llama 3.1/3.2 with the
  // knowledge-date system block), "chatml", "qwen2" (alias "qwen": ChatML + Qwen2's default
  // system), "gemma" (Gemma 2 / 3 turn markers).
  static Result<ChatTemplate> from_name(std::string_view name);
  // Recognises the family from the Jinja text; unknown text is an `unsupported` error that
  // suggests --template. Also reads the family's default system prompt from the text.
  static Result<ChatTemplate> from_jinja(std::string_view jinja);
  // --template wins when non-empty, otherwise the file's template.
  static Result<ChatTemplate> select(std::string_view override_name, std::string_view jinja);
  // As above with the model's tokenizer: its chat_template, and when the file carries none
  // (Gemma 3 GGUFs often do not), the family whose turn markers the vocabulary has as
  // control tokens (<start_of_turn>/<end_of_turn>: gemma; <|im_start|>/<|im_end|>: chatml).
  static Result<ChatTemplate> select(std::string_view override_name, const Tokenizer& tok);
  // The names from_name() takes, for help texts and errors: "llama2, llama3, llama3.1,
  // chatml, qwen2, gemma" (llama3.2, qwen and gemma3 are aliases).
  static std::string_view known_names();

  ChatFamily family() const { return family_; }
  std::string_view name() const;
  // Used when the conversation has no system message (empty: none is added).
  const std::string& default_system() const { return default_system_; }
  // Llama 3.1+: every prompt opens with a system block holding "Cutting Knowledge Date".
  bool knowledge_date_header() const { return knowledge_date_; }

  Result<std::string> render(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) const;
  // The same text, with the spans of the messages' contents.
  Result<RenderedPrompt> render_with_spans(const std::vector<ChatMessage>& messages,
                                           const ChatRenderOptions& options) const;

  // Strings that end an assistant turn, for stopping generation on text.
  std::vector<std::string> stop_strings() const;
  // The ids of those strings that are single tokens of `tok`, plus tok's end-of-generation ids.
  std::vector<TokenId> stop_tokens(const Tokenizer& tok) const;

 private:
  ChatTemplate(ChatFamily family, std::string default_system, bool knowledge_date = false)
      : family_(family), default_system_(std::move(default_system)), knowledge_date_(knowledge_date) {}

  ChatFamily family_;
  std::string default_system_;
  bool knowledge_date_ = false;
};

// bos_token / eos_token texts from the tokenizer's BOS / EOS ids (empty when absent).
ChatRenderOptions chat_options_for(const Tokenizer& tok);

}  // namespace nm

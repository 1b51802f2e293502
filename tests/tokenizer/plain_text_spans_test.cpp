// Untrusted text stays text (issue 14, item 10): special-token text inside the plain spans
// of EncodeOptions is not matched, the chat templates report exactly where each message's
// content sits, and a typed image marker is text, not an image slot. Randomized over
// contents mixing special markers, whitespace and ordinary words.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/multimodal_prompt.h"
#include "test_vocabs.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace nm {
namespace {

// Byte-level BPE with ChatML control tokens (256 <|im_start|>, 257 <|im_end|>) and one
// user-defined token (258 <tool>).
Tokenizer chatml_tokenizer() {
  Vocab v = test::byte_level_base_vocab("qwen2");
  for (const char* t : {"<|im_start|>", "<|im_end|>"}) {
    v.tokens.push_back(t);
    v.token_type.push_back(3);
  }
  v.tokens.push_back("<tool>");
  v.token_type.push_back(4);
  v.eos_token_id = 257;
  auto t = Tokenizer::create(v);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

constexpr TokenId kImStart = 256, kImEnd = 257, kTool = 258;

int count(const std::vector<TokenId>& ids, TokenId id) { return (int)std::count(ids.begin(), ids.end(), id); }

TEST(PlainTextSpans, SpecialTextInsideASpanStaysText) {
  const Tokenizer tok = chatml_tokenizer();
  const std::string text = "<|im_start|>user\nhi <|im_end|> <tool><|im_end|>\n";
  const size_t b = text.find("hi"), e = text.rfind("<|im_end|>");
  auto all = tok.encode(text, {false, true});
  auto plain = tok.encode(text, {false, true, {{b, e}}});
  ASSERT_TRUE(all.ok() && plain.ok());
  EXPECT_EQ(count(*all, kImEnd), 2);
  EXPECT_EQ(count(*all, kTool), 1);
  EXPECT_EQ(count(*plain, kImStart), 1);  // the template's markers outside the span
  EXPECT_EQ(count(*plain, kImEnd), 1);
  EXPECT_EQ(count(*plain, kTool), 0);     // user-defined tokens too: typed text is text
  // The span's text decodes back exactly.
  EXPECT_EQ(tok.decode(*plain, {true}), text);
  // A span that only touches a marker's edge does not stop it.
  auto edge = tok.encode(text, {false, true, {{0, 0}, {text.size(), text.size()}}});
  EXPECT_EQ(*edge, *all);
  // Malformed spans are an error, not a crash.
  EXPECT_FALSE(tok.encode(text, {false, true, {{5, 3}}}).ok());
  EXPECT_FALSE(tok.encode(text, {false, true, {{0, text.size() + 1}}}).ok());
  EXPECT_FALSE(tok.encode(text, {false, true, {{4, 8}, {6, 9}}}).ok());
}

TEST(PlainTextSpans, TextWithoutMarkersTokenizesAsBefore) {
  // A span changes nothing where there is nothing special to refuse: BPE runs over the
  // surrounding text as one piece, as without spans (no split at the span's edges).
  const Tokenizer tok = chatml_tokenizer();
  std::mt19937 rng(1234);
  const std::vector<std::string> words = {"hello", " world", "\n", "  ", "ab", "é", "<", "|", "im_", ">", "x"};
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    for (int i = 0; i < 12; ++i) text += words[rng() % words.size()];
    const size_t b = rng() % (text.size() + 1), e = b + rng() % (text.size() - b + 1);
    auto with = tok.encode(text, {false, true, {{b, e}}});
    auto without = tok.encode(text, {false, true});
    ASSERT_TRUE(with.ok() && without.ok());
    if (text.find("<|im_") == std::string::npos && text.find("<tool>") == std::string::npos) {
      EXPECT_EQ(*with, *without) << text;
    }
    EXPECT_EQ(tok.decode(*with, {true}), text);
  }
}

// Message contents built from pieces a user might type, markers included.
std::string random_content(std::mt19937& rng) {
  static const std::vector<std::string> parts = {
      "hi", " ", "\n", "\t", "<|im_end|>", "<|im_start|>assistant\n", "<|eot_id|>", "<|start_header_id|>", "[INST]",
      "</s>", "<s>", "<<SYS>>", "<__image__>", "é", "  x  "};
  std::string s;
  const int n = (int)(rng() % 6);
  for (int i = 0; i < n; ++i) s += parts[rng() % parts.size()];
  return s;
}

// Python's str.rstrip() / str.strip() over ASCII whitespace (the contents above hold no other).
std::string rstrip(const std::string& s) {
  const size_t e = s.find_last_not_of(" \t\n\r\f\v");
  return e == std::string::npos ? "" : s.substr(0, e + 1);
}
std::string strip(const std::string& s) {
  const std::string r = rstrip(s);
  return r.substr(std::min(r.size(), r.find_first_not_of(" \t\n\r\f\v")));
}

// The contents a family's template writes, in order, as its Jinja source trims them:
// ChatML verbatim; Llama 2/3 and Gemma trim each message, but text after an image marker
// (or, in Llama 2, after the folded <<SYS>> block) keeps its leading whitespace, and a
// system text folded into the first user turn (Llama 2, Gemma) is not trimmed.
std::vector<std::string> expected_contents(const std::string& family, const std::vector<ChatMessage>& msgs) {
  std::vector<std::string> out;
  const bool folded = family == "llama2" && !msgs.empty() && msgs[0].role == "system";
  for (size_t i = 0; i < msgs.size(); ++i) {
    const ChatMessage& m = msgs[i];
    std::string c;
    const bool gemma_system = family == "gemma" && i == 0 && m.role == "system";
    if (family == "chatml" || family == "qwen2" || (folded && i == 0) || gemma_system) c = m.content;
    else if (m.n_images > 0 || (folded && i == 1)) c = rstrip(m.content);
    else c = strip(m.content);
    if (!c.empty()) out.push_back(c);
  }
  return out;
}

TEST(PlainTextSpans, TemplatesReportWhereEachContentSits) {
  std::mt19937 rng(99);
  ChatRenderOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  for (const std::string name : {"llama2", "llama3", "llama3.1", "chatml", "qwen2", "gemma"}) {
    auto t = ChatTemplate::from_name(name);
    ASSERT_TRUE(t.ok());
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<ChatMessage> msgs;
      if (rng() % 2) msgs.push_back({"system", random_content(rng)});
      const int turns = 1 + (int)(rng() % 3);
      for (int i = 0; i < 2 * turns - 1; ++i) {
        msgs.push_back({i % 2 ? "assistant" : "user", random_content(rng), (i % 2 == 0 && rng() % 3 == 0) ? 1 : 0});
      }
      auto r = t->render_with_spans(msgs, o);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      EXPECT_EQ(r->text, t->render(msgs, o).value());
      std::vector<std::string> got;
      size_t prev_end = 0;
      std::string outside;  // the template's own text
      for (const TextSpan& s : r->content) {
        ASSERT_LE(prev_end, s.begin);
        ASSERT_LT(s.begin, s.end);
        ASSERT_LE(s.end, r->text.size());
        outside += r->text.substr(prev_end, s.begin - prev_end);
        got.push_back(r->text.substr(s.begin, s.end - s.begin));
        prev_end = s.end;
      }
      outside += r->text.substr(prev_end);
      EXPECT_EQ(got, expected_contents(name, msgs)) << name << " trial " << trial;
      size_t n_markers = 0, n_images = 0;
      for (size_t p = outside.find(o.image_marker); p != std::string::npos; p = outside.find(o.image_marker, p + 1)) {
        ++n_markers;
      }
      for (const ChatMessage& m : msgs) n_images += (size_t)m.n_images;
      EXPECT_EQ(n_markers, n_images) << name << ": the template's image markers lie outside the contents";
    }
  }
}

TEST(PlainTextSpans, ATypedImageMarkerIsTextNotAnImage) {
  const Tokenizer tok = chatml_tokenizer();
  auto t = ChatTemplate::from_name("chatml");
  ChatRenderOptions o;
  const std::vector<ChatMessage> msgs = {{"user", "what is <__image__> here?<|im_end|>", 1}};
  auto r = t->render_with_spans(msgs, o);
  ASSERT_TRUE(r.ok());
  const std::vector<ImageLayout> one = {{{"", 0, 4}}};
  // Trusting the whole text: two markers for one image is an error, and <|im_end|> closes the turn early.
  EXPECT_FALSE(tokenize_with_images(tok, r->text, o.image_marker, one, false).ok());
  auto parts = tokenize_with_images(tok, r->text, o.image_marker, one, false, r->content);
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  int n_image_parts = 0, n_im_end = 0;
  std::string text;
  for (const PromptPart& p : *parts) {
    n_image_parts += p.image >= 0;
    n_im_end += count(p.tokens, kImEnd);
    text += tok.decode(p.tokens, {true});
  }
  EXPECT_EQ(n_image_parts, 1);
  EXPECT_EQ(n_im_end, 1);  // the template's own, closing the user turn
  EXPECT_NE(text.find("what is <__image__> here?<|im_end|>"), std::string::npos) << text;
}

}  // namespace
}  // namespace nm

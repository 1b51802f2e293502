// TextSession: one conversation with a multimodal model — the chat history (with its
// pictures), the pipeline of bricks that runs it (runtime/pipeline.h: placement, token
// ring, the text brick's KV cache), the sampler, and the generation loop with its stop
// rules (end-of-generation tokens, the template's stop strings, a token budget, the
// caller's callback). Each chat turn re-renders the whole conversation with the chat
// template and evaluates only what differs from what the KV cache already holds
// (common-prefix reuse over tokens and image rows alike: a turn after an image turn
// prefills only its new tokens; an image is encoded only when its rows must be evaluated).
// Not thread-safe: one thread uses a session at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/image.h"
#include "runtime/multimodal_prompt.h"
#include "runtime/pipeline.h"
#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace nm {

struct TextSessionParams {
  PipelineParams pipeline;      // placement, context, threads, image sizing
  SamplerParams sampling;
  std::string system_prompt;    // empty: the template's default
  std::string chat_template;    // empty: from the model file
  // Special-token text in user messages, the system prompt and complete()'s text ("<|im_end|>",
  // an image marker) is plain text unless this is set; the chat template's own markers are
  // control tokens either way.
  bool parse_special = false;
};

struct TextTimings {
  double preprocess_ms = 0;  // images: decode-independent resize + normalisation
  double vision_ms = 0;      // images: vision encoder + projector
  int n_images = 0;
  int n_prompt_tokens = 0;
  double prompt_ms = 0;
  int n_generated = 0;
  double generate_ms = 0;
  double first_token_ms = 0;
};

// Receives displayable UTF-8 text as it is produced; return false to stop.
using PieceCallback = std::function<bool(const std::string& piece, int32_t token)>;

class TextSession {
 public:
  // The session takes images when `models` has a vision brick.
  static Result<std::unique_ptr<TextSession>> create(const PipelineModels& models, const TextSessionParams& params);

  // One user turn: render, evaluate what is new, generate the assistant's reply.
  Status chat(const std::string& user_message, int n_predict, const PieceCallback& on_piece);
  // A user turn with images (placed before the text, as the chat template's image marker).
  // The images are encoded by the vision brick and their embeddings spliced into the prompt.
  Status chat(const std::string& user_message, const std::vector<Image>& images, int n_predict,
              const PieceCallback& on_piece);
  // Plain completion of `text` (no template), continuing the current context.
  Status complete(const std::string& text, int n_predict, const PieceCallback& on_piece);

  // Low level: append tokens; sample the next token from the last position's logits.
  Status eval(const std::vector<int32_t>& tokens);
  Result<int32_t> sample();
  // The last evaluated position's logits (n_vocab floats, valid until the next eval or
  // reset); an error when there is none.
  Result<const float*> last_logits() const;

  void reset();
  int n_past() const { return pipeline_->text().n_past(); }
  int n_ctx() const { return pipeline_->text().n_ctx(); }
  const TextTimings& timings() const { return timings_; }
  // Device each brick runs on, for timings ("cpu", "cpu:big", "opencl").
  std::string text_device_name() const { return pipeline_->text_device_name(); }
  std::string vision_device_name() const { return pipeline_->vision_device_name(); }
  const std::vector<ChatMessage>& history() const { return history_; }
  // The chat template family in use ("chatml", ...), or "" when the model has none this
  // session can use (chat() then fails; complete() works).
  std::string chat_template_name() const { return template_ ? std::string(template_->name()) : std::string(); }
  Pipeline& pipeline() { return *pipeline_; }

 private:
  // A picture of the conversation: kept decoded (not as embeddings: those live in a ring
  // slot only while the text brick reads them, and are made again only if a later turn
  // must re-evaluate the image's rows).
  struct ConversationImage {
    int32_t id = 0;  // PromptPosition::image
    Image image;
    ImagePlan plan;
  };

  TextSession(const TextModel& model, const TextSessionParams& params);
  // Makes the context hold exactly `positions` (keeps the longest cached prefix), then generates.
  Status prefill_and_generate(const std::vector<PromptPosition>& positions, int n_predict, const PieceCallback& on_piece,
                              std::string* reply);
  // The generation loop after a prefill started at t0.
  Status generate(int n_predict, const PieceCallback& on_piece, std::string* reply,
                  std::chrono::steady_clock::time_point t0);
  // A chat turn over the conversation's pictures (the new ones already appended).
  Status chat_with_images(const std::string& user_message, int n_new_images, int n_predict,
                          const PieceCallback& on_piece);
  // System prompt (if any) + history + the new user turn, for the chat template.
  std::vector<ChatMessage> conversation_with(const std::string& user_message, int n_images) const;

  const TextModel& model_;
  TextSessionParams params_;
  std::unique_ptr<Pipeline> pipeline_;
  Sampler sampler_;
  std::optional<ChatTemplate> template_;
  std::vector<ChatMessage> history_;
  std::vector<ConversationImage> images_;  // every picture of the conversation, in order
  int32_t next_image_id_ = 0;
  TextTimings timings_;
};

}  // namespace nm

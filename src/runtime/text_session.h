// TextSession: one conversation with a text model — the chat history, the context
// (KV cache), the sampler, and the generation loop with its stop rules (end-of-generation
// tokens, the template's stop strings, a token budget, the caller's callback). Each chat
// turn re-renders the whole conversation with the chat template and evaluates only what
// differs from what the KV cache already holds (common-prefix reuse).
// Not thread-safe: one thread uses a session at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bricks/text/text_context.h"
#include "bricks/text/text_model.h"
#include "bricks/vision/mmproj.h"
#include "bricks/vision/image_embedder.h"
#include "core/image.h"
#include "core/thread_pool.h"
#include "runtime/multimodal_prompt.h"
#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace nm {

struct TextSessionParams {
  TextContextParams context;
  SamplerParams sampling;
  std::string system_prompt;    // empty: the template's default
  std::string chat_template;    // empty: from the model file
  int n_threads = 0;            // 0: hardware concurrency
  const MmprojModel* mmproj = nullptr;  // vision encoder + projector, if the session takes images
  int image_width = 0, image_height = 0;  // > 0: static-shape vision input of this size (no tiling)
  Device* vision_device = nullptr;  // where the vision brick runs (nullptr: the session's CPU pool);
                                    // the text brick's device is context.device
  std::shared_ptr<PackedWeights> vision_packed;  // the vision brick's shared packed weights (may be null)
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
  static Result<std::unique_ptr<TextSession>> create(const TextModel& model, const TextSessionParams& params);

  // One user turn: render, evaluate what is new, generate the assistant's reply.
  Status chat(const std::string& user_message, int n_predict, const PieceCallback& on_piece);
  // A user turn with images (placed before the text, as the chat template's image marker).
  // The images are encoded by the vision brick and their embeddings spliced into the prompt.
  Status chat(const std::string& user_message, const std::vector<Image>& images, int n_predict,
              const PieceCallback& on_piece);
  // The vision brick alone: an image's embeddings and layout, the conversation untouched.
  Result<ImageEmbedding> embed_image(const Image& image);
  // Plain completion of `text` (no template), continuing the current context.
  Status complete(const std::string& text, int n_predict, const PieceCallback& on_piece);

  // Low level: append tokens; sample the next token from the last position's logits.
  Status eval(const std::vector<int32_t>& tokens);
  Result<int32_t> sample();
  // The last evaluated position's logits (n_vocab floats, valid until the next eval or
  // reset); an error when there is none.
  Result<const float*> last_logits() const;

  void reset();
  int n_past() const { return ctx_->n_past(); }
  int n_ctx() const { return ctx_->n_ctx(); }
  const TextTimings& timings() const { return timings_; }
  // Device each brick runs on, for timings ("cpu", "cpu:big", "opencl").
  std::string text_device_name() const { return placement_name(params_.context.device); }
  std::string vision_device_name() const { return placement_name(params_.vision_device); }
  const std::vector<ChatMessage>& history() const { return history_; }
  // The chat template family in use ("chatml", ...), or "" when the model has none this
  // session can use (chat() then fails; complete() works).
  std::string chat_template_name() const { return template_ ? std::string(template_->name()) : std::string(); }

 private:
  TextSession(const TextModel& model, const TextSessionParams& params);
  // Makes the context hold exactly `tokens` (keeps the longest cached prefix), then generates.
  Status prefill_and_generate(const std::vector<int32_t>& tokens, int n_predict, const PieceCallback& on_piece,
                              std::string* reply);
  // The generation loop after a prefill started at t0.
  Status generate(int n_predict, const PieceCallback& on_piece, std::string* reply,
                  std::chrono::steady_clock::time_point t0);
  // Encodes an image and appends it to the conversation's images.
  Status encode_image(const Image& image);
  // chat() with images after the checks; the caller drops the new images on failure.
  Status chat_with_new_images(const std::string& user_message, const std::vector<Image>& images, int n_predict,
                              const PieceCallback& on_piece);
  // System prompt (if any) + history + the new user turn, for the chat template.
  std::vector<ChatMessage> conversation_with(const std::string& user_message, int n_images) const;

  const TextModel& model_;
  TextSessionParams params_;
  ThreadPool pool_;
  std::unique_ptr<TextContext> ctx_;
  Sampler sampler_;
  std::optional<ChatTemplate> template_;
  std::vector<ChatMessage> history_;
  std::vector<int32_t> cached_;  // the tokens the KV cache holds, in order
  std::unique_ptr<ImageEmbedder> vision_;
  // Every image of the conversation, in order: its embeddings and its prompt layout.
  std::vector<std::vector<float>> image_embeddings_;
  std::vector<ImageLayout> image_layouts_;
  TextTimings timings_;
};

}  // namespace nm

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
#include <span>
#include <string>
#include <vector>

#include "core/image.h"
#include "runtime/energy/energy_account.h"
#include "runtime/multimodal_prompt.h"
#include "runtime/pipeline.h"
#include "runtime/sampler.h"
#include "runtime/text_stream.h"
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
  bool ignore_eos = false;  // chat(): end tokens do not end a reply (fixed-length runs)
  // Joules per turn, split into vision / prefill / decode (energy()); nullptr: not counted.
  energy::EnergyMonitor* energy = nullptr;
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

// One answer generated step by step (begin_chat / begin_completion, then next()).
struct GenerationParams {
  int n_predict = 128;
  SamplerParams sampling;
  std::vector<std::string> stop;  // stop strings besides the chat template's
  bool ignore_eos = false;        // end tokens do not end the answer (fixed-length benchmarks)
};

// What one next() produced: the text that became safe to show, the sampled token, and
// whether the answer is over (then no token is pending).
struct GenerationStep {
  std::string piece;
  int32_t token = -1;
  FinishReason finished = FinishReason::none;
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
  // A question about one picture in a fresh conversation (the history is dropped; the KV
  // cache keeps what still matches, e.g. the system prompt), whose embeddings another
  // thread encodes: `slots` hands over the picture's ring slot when its rows are
  // evaluated (a stream, runtime/frame_stream.h). `plan` describes the picture.
  // ignore_eos: end tokens do not end the answer (fixed-length answers: tests, benchmarks).
  Status ask(const std::string& question, const ImagePlan& plan, const Pipeline::ImageSource& slots, int n_predict,
             const PieceCallback& on_piece, bool ignore_eos = false);
  // Plain completion of `text` (no template), continuing the current context.
  Status complete(const std::string& text, int n_predict, const PieceCallback& on_piece);

  // Step-wise generation, for a caller that owns the loop (a server batching several
  // sessions): begin_* makes the context hold the prompt (keeping the longest prefix it
  // already holds, image rows included: a picture equal to one of the previous request's
  // keeps its id, so its rows are reused) with the request's own sampling, stop strings
  // and budget. The conversation is exactly `messages` (the session's own history and
  // system prompt are not used, and are cleared); messages[i].n_images of `images` belong
  // to message i, in order. next() samples one token and returns its text; unless the
  // answer finished, that token is pending until eval_pending() or decode_pending()
  // evaluates it.
  Status begin_chat(const std::vector<ChatMessage>& messages, const std::vector<Image>& images,
                    const GenerationParams& gp);
  Status begin_completion(const std::string& text, const GenerationParams& gp);
  Result<GenerationStep> next();
  int32_t pending_token() const { return pending_; }
  Status eval_pending();
  // Evaluates the pending token of every session that has one: in one forward pass
  // (Pipeline::append_batch) when their pipelines can be batched, else one by one.
  static Status decode_pending(std::span<TextSession* const> sessions);

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
  // Another thread (a stream's vision worker) kept the vision brick busy for `seconds` on
  // this session's behalf: fed to the energy monitor's estimate, so that what a stream
  // draws from a battery counts its encodes (a turn's own report counts its own phases).
  void note_vision_busy(double seconds);
  // The energy of the last turn (valid == false without an energy monitor).
  const energy::EnergyReport& energy() const { return energy_.last(); }
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
    Image image;     // empty for a stream's picture (encoded by another thread)
    ImagePlan plan;
  };

  TextSession(const TextModel& model, const TextSessionParams& params);
  // Makes the context hold exactly `positions` (keeps the longest cached prefix). Pictures'
  // rows come from `slots` when given (taken for reading), else they are encoded here.
  // `stepwise`: the answer is generated step by step (begin_chat/next), its energy counted
  // per step (EnergyAccount::begin_request(true)).
  Status prefill(const std::vector<PromptPosition>& positions, const Pipeline::ImageSource* slots = nullptr,
                 bool stepwise = false);
  // Runs `step` (one decode step of `sessions`, batched or not) and charges each session
  // an equal share of its joules.
  static Status charge_decode_step(std::span<TextSession* const> sessions, const std::function<Status()>& step);
  // Makes the context hold exactly `positions` (keeps the longest cached prefix), then generates.
  // Pictures' rows come from `slots` when given, else they are encoded here.
  Status prefill_and_generate(const std::vector<PromptPosition>& positions, int n_predict, const PieceCallback& on_piece,
                              std::string* reply, const Pipeline::ImageSource* slots = nullptr,
                              bool ignore_eos = false);
  // The generation loop after a prefill started at t0.
  Status generate(int n_predict, const PieceCallback& on_piece, std::string* reply,
                  std::chrono::steady_clock::time_point t0, bool ignore_eos = false);
  // Stop rules of the chat template (or the vocabulary's end tokens) plus extra stop strings.
  TextStream make_stream(int n_predict, const std::vector<std::string>& extra_stops, bool ignore_eos = false) const;
  // Positions of `messages` rendered with the chat template; images_ holds every picture
  // the messages name, in order.
  Result<std::vector<PromptPosition>> chat_positions(const std::vector<ChatMessage>& messages) const;
  // The sampler for a new answer: `sampling`, having seen every token the context holds.
  void restart_sampler(const SamplerParams& sampling);
  // A chat turn over the conversation's pictures (the new ones already appended).
  Status chat_with_images(const std::string& user_message, int n_new_images, int n_predict,
                          const PieceCallback& on_piece, const Pipeline::ImageSource* slots = nullptr,
                          bool ignore_eos = false);
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
  std::chrono::steady_clock::time_point turn_start_, decode_start_;  // of the step-wise answer
  std::optional<TextStream> stream_;  // step-wise generation in progress
  int32_t pending_ = -1;              // sampled by next(), not evaluated yet
  energy::EnergyAccount energy_{nullptr};
};

}  // namespace nm

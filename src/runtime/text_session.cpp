#include "runtime/text_session.h"

#include <algorithm>

#include "tokenizer/detokenizer.h"

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Text that is safe to show: everything except a tail that may still grow into a stop string.
size_t safe_prefix(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  return text.size() - hold;
}

}  // namespace

TextSession::TextSession(const TextModel& model, const TextSessionParams& params)
    : model_(model), params_(params), sampler_(params.sampling, model.hparams().n_vocab) {}

Result<std::unique_ptr<TextSession>> TextSession::create(const PipelineModels& models, const TextSessionParams& params) {
  if (!models.text) return error(ErrorCode::invalid_argument, "a session needs a text model");
  std::unique_ptr<TextSession> s(new TextSession(*models.text, params));
  NM_ASSIGN_OR_RETURN(s->pipeline_, Pipeline::create(models, params.pipeline));
  // A model without a recognised template still completes raw text; chat() reports why not.
  auto t = ChatTemplate::select(params.chat_template, models.text->tokenizer());
  if (t.ok()) {
    s->template_.emplace(std::move(t).value());
  } else if (!params.chat_template.empty()) {
    return t.status();
  }
  return s;
}

void TextSession::reset() {
  pipeline_->clear();
  history_.clear();
  images_.clear();
  sampler_.reset();
  timings_ = {};
}

Status TextSession::eval(const std::vector<int32_t>& tokens) {
  NM_RETURN_IF_ERROR(pipeline_->append(tokens));
  for (int32_t t : tokens) sampler_.accept(t);
  return Status();
}

Result<int32_t> TextSession::sample() {
  NM_ASSIGN_OR_RETURN(const float* last, last_logits());
  std::vector<float> logits(last, last + model_.hparams().n_vocab);
  return sampler_.sample(logits.data());
}

Result<const float*> TextSession::last_logits() const {
  const TextContext& ctx = pipeline_->text();
  if (ctx.n_logit_rows() == 0) return error(ErrorCode::invalid_argument, "nothing evaluated yet: no logits");
  return ctx.logits() + (size_t)(ctx.n_logit_rows() - 1) * model_.hparams().n_vocab;
}

Status TextSession::prefill_and_generate(const std::vector<PromptPosition>& positions, int n_predict,
                                         const PieceCallback& on_piece, std::string* reply) {
  const auto t0 = Clock::now();
  timings_.n_prompt_tokens = 0;
  timings_.prompt_ms = 0;
  // Pictures are encoded only when their rows must be evaluated (a new picture, or an old
  // one whose rows fell out of the reused prefix).
  const Pipeline::ImageSource encode = [this](int32_t id) -> Result<int> {
    for (const ConversationImage& c : images_) {
      if (c.id != id) continue;
      ImageTimings t;
      NM_ASSIGN_OR_RETURN(int slot, pipeline_->encode_image(c.image, (uint64_t)id, &t));
      timings_.preprocess_ms += t.preprocess_ms;
      timings_.vision_ms += t.encode_ms;
      return slot;
    }
    return error(ErrorCode::internal, "image " + std::to_string(id) + " is not part of the conversation");
  };
  NM_ASSIGN_OR_RETURN(size_t first, pipeline_->prefill(positions, encode));
  for (size_t i = first; i < positions.size(); ++i) {
    if (positions[i].image < 0) sampler_.accept(positions[i].token);
  }
  timings_.n_prompt_tokens = (int)(positions.size() - first);
  timings_.prompt_ms = ms_since(t0);
  return generate(n_predict, on_piece, reply, t0);
}

Status TextSession::generate(int n_predict, const PieceCallback& on_piece, std::string* reply,
                             Clock::time_point t0) {
  const Tokenizer& tok = model_.tokenizer();
  const std::vector<TokenId> stop_tokens = template_ ? template_->stop_tokens(tok) : tok.eog_tokens();
  const std::vector<std::string> stop_strings = template_ ? template_->stop_strings() : std::vector<std::string>{};
  StreamingDetokenizer detok(tok);
  std::string text;   // generated so far
  size_t shown = 0;   // bytes of `text` already passed to on_piece
  const auto t1 = Clock::now();
  Status status;
  for (int i = 0; i < n_predict; ++i) {
    NM_ASSIGN_OR_RETURN(int32_t next, sample());
    if (i == 0) timings_.first_token_ms = ms_since(t0);
    if (tok.is_eog(next) || std::find(stop_tokens.begin(), stop_tokens.end(), next) != stop_tokens.end()) break;
    text += detok.push(next);
    size_t stop_at = std::string::npos;
    for (const std::string& s : stop_strings) stop_at = std::min(stop_at, text.find(s));
    if (stop_at != std::string::npos) text.resize(stop_at);
    const size_t ready = stop_at != std::string::npos ? text.size() : safe_prefix(text, stop_strings);
    timings_.n_generated++;
    if (ready > shown) {
      const bool go_on = on_piece(text.substr(shown, ready - shown), next);
      shown = ready;
      if (!go_on) break;
    }
    if (stop_at != std::string::npos) break;
    if (n_past() >= n_ctx()) {
      status = error(ErrorCode::out_of_range, "the context is full (" + std::to_string(n_ctx()) +
                                                  " tokens): start a new conversation or raise -c");
      break;
    }
    NM_RETURN_IF_ERROR(eval({next}));
  }
  text += detok.finish();
  if (text.size() > shown) on_piece(text.substr(shown), -1);
  timings_.generate_ms = ms_since(t1);
  if (reply) *reply = text;
  return status;
}

std::vector<ChatMessage> TextSession::conversation_with(const std::string& user_message, int n_images) const {
  std::vector<ChatMessage> messages;
  if (!params_.system_prompt.empty()) messages.push_back({"system", params_.system_prompt});
  messages.insert(messages.end(), history_.begin(), history_.end());
  messages.push_back({"user", user_message, n_images});
  return messages;
}

Status TextSession::chat(const std::string& user_message, const std::vector<Image>& images, int n_predict,
                         const PieceCallback& on_piece) {
  if (images.empty() && images_.empty()) return chat(user_message, n_predict, on_piece);
  if (!pipeline_->has_vision()) {
    return error(ErrorCode::invalid_argument,
                 "this model has no vision encoder: give the model's mmproj file (--mmproj) to use images");
  }
  if (!template_) {
    return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  }
  timings_ = {};
  // On failure the conversation keeps only the pictures of earlier turns.
  const size_t n_before = images_.size();
  Status st;
  for (const Image& img : images) {
    auto plan = pipeline_->plan_image(img.width, img.height);
    if (!plan.ok()) {
      st = plan.status();
      break;
    }
    images_.push_back({next_image_id_++, img, plan.value()});
  }
  if (st.ok()) st = chat_with_images(user_message, (int)images.size(), n_predict, on_piece);
  if (!st.ok()) images_.resize(n_before);
  return st;
}

Status TextSession::chat_with_images(const std::string& user_message, int n_new_images, int n_predict,
                                     const PieceCallback& on_piece) {
  timings_.n_images = n_new_images;
  const std::vector<ChatMessage> messages = conversation_with(user_message, n_new_images);
  const Tokenizer& tok = model_.tokenizer();
  const ChatRenderOptions opts = chat_options_for(tok);
  NM_ASSIGN_OR_RETURN(RenderedPrompt prompt, template_->render_with_spans(messages, opts));
  const ProjectorKind projector = pipeline_->models().vision->hparams().projector;
  std::vector<ImageLayout> layouts;
  std::vector<int> ids, n_tokens;
  for (const ConversationImage& c : images_) {
    layouts.push_back(image_layout_for(projector, c.plan));
    ids.push_back(c.id);
    n_tokens.push_back(c.plan.n_tokens);
  }
  NM_ASSIGN_OR_RETURN(std::vector<PromptPart> parts,
                      tokenize_with_images(tok, prompt.text, opts.image_marker, layouts, false,
                                           params_.parse_special ? std::vector<TextSpan>{} : prompt.content));
  NM_ASSIGN_OR_RETURN(std::vector<PromptPosition> positions, prompt_positions(parts, ids, n_tokens));
  std::string reply;
  NM_RETURN_IF_ERROR(prefill_and_generate(positions, n_predict, on_piece, &reply));
  history_.push_back({"user", user_message, n_new_images});
  history_.push_back({"assistant", reply});
  return Status();
}

Status TextSession::chat(const std::string& user_message, int n_predict, const PieceCallback& on_piece) {
  if (!images_.empty()) return chat(user_message, std::vector<Image>{}, n_predict, on_piece);
  if (!template_) {
    return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  }
  timings_ = {};
  const std::vector<ChatMessage> messages = conversation_with(user_message, 0);
  NM_ASSIGN_OR_RETURN(RenderedPrompt prompt, template_->render_with_spans(messages, chat_options_for(model_.tokenizer())));
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                      model_.tokenizer().encode(prompt.text, {false, true, params_.parse_special ? std::vector<TextSpan>{}
                                                                                                : prompt.content}));
  std::string reply;
  NM_RETURN_IF_ERROR(prefill_and_generate(token_positions(tokens), n_predict, on_piece, &reply));
  history_.push_back({"user", user_message});
  history_.push_back({"assistant", reply});
  return Status();
}

Status TextSession::complete(const std::string& text, int n_predict, const PieceCallback& on_piece) {
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                      model_.tokenizer().encode(text, {pipeline_->positions().empty(), params_.parse_special}));
  timings_ = {};
  std::vector<PromptPosition> all = pipeline_->positions();
  for (int32_t t : tokens) all.push_back(PromptPosition::of_token(t));
  return prefill_and_generate(all, n_predict, on_piece, nullptr);
}

}  // namespace nm

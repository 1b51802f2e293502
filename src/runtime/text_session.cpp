#include "runtime/text_session.h"

#include <algorithm>

#include "bricks/vision/preprocess.h"
#include "runtime/multimodal_prompt.h"
#include "tokenizer/detokenizer.h"

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

int resolve_threads(int n) { return n > 0 ? n : default_thread_count(); }

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
    : model_(model),
      params_(params),
      pool_(resolve_threads(params.n_threads)),
      sampler_(params.sampling, model.hparams().n_vocab) {}

Result<std::unique_ptr<TextSession>> TextSession::create(const TextModel& model, const TextSessionParams& params) {
  std::unique_ptr<TextSession> s(new TextSession(model, params));
  NM_ASSIGN_OR_RETURN(s->ctx_, TextContext::create(model, params.context));
  if (params.mmproj) {
    NM_RETURN_IF_ERROR(params.mmproj->check_llm_width(model.hparams().n_embd));
    ImageEmbedderParams ip;
    ip.static_width = params.image_width;
    ip.static_height = params.image_height;
    ip.device = params.vision_device;
    ip.pack_weights = params.context.pack_weights;
    ip.packed = params.vision_packed;
    NM_ASSIGN_OR_RETURN(s->vision_, ImageEmbedder::create(*params.mmproj, ip));
  }
  // A model without a recognised template still completes raw text; chat() reports why not.
  auto t = ChatTemplate::select(params.chat_template, model.tokenizer());
  if (t.ok()) {
    s->template_.emplace(std::move(t).value());
  } else if (!params.chat_template.empty()) {
    return t.status();
  }
  return s;
}

void TextSession::reset() {
  ctx_->clear();
  cached_.clear();
  history_.clear();
  image_embeddings_.clear();
  image_layouts_.clear();
  sampler_.reset();
  timings_ = {};
}

Status TextSession::eval(const std::vector<int32_t>& tokens) {
  NM_RETURN_IF_ERROR(ctx_->eval_tokens(tokens, pool_));
  cached_.insert(cached_.end(), tokens.begin(), tokens.end());
  for (int32_t t : tokens) sampler_.accept(t);
  return Status();
}

Result<int32_t> TextSession::sample() {
  NM_ASSIGN_OR_RETURN(const float* last, last_logits());
  std::vector<float> logits(last, last + model_.hparams().n_vocab);
  return sampler_.sample(logits.data());
}

Result<const float*> TextSession::last_logits() const {
  if (ctx_->n_logit_rows() == 0) return error(ErrorCode::invalid_argument, "nothing evaluated yet: no logits");
  return ctx_->logits() + (size_t)(ctx_->n_logit_rows() - 1) * model_.hparams().n_vocab;
}

Status TextSession::prefill_and_generate(const std::vector<int32_t>& tokens, int n_predict,
                                         const PieceCallback& on_piece, std::string* reply) {
  if (tokens.empty()) return error(ErrorCode::invalid_argument, "the prompt is empty");
  if ((int)tokens.size() >= ctx_->n_ctx()) {
    return error(ErrorCode::out_of_range, "the prompt is " + std::to_string(tokens.size()) +
                                              " tokens, but the context holds " + std::to_string(ctx_->n_ctx()) +
                                              " (raise -c / n_ctx, or shorten the prompt)");
  }
  // Reuse the longest prefix the cache already holds; at least one token is evaluated
  // so that there are logits to sample from.
  size_t p = 0;
  while (p < cached_.size() && p < tokens.size() && cached_[p] == tokens[p]) ++p;
  if (p == tokens.size()) --p;
  ctx_->truncate((int)p);
  cached_.resize(p);

  const auto t0 = Clock::now();
  timings_ = {};
  timings_.n_prompt_tokens = (int)(tokens.size() - p);
  NM_RETURN_IF_ERROR(eval(std::vector<int32_t>(tokens.begin() + (std::ptrdiff_t)p, tokens.end())));
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
    if (ctx_->n_past() >= ctx_->n_ctx()) {
      status = error(ErrorCode::out_of_range, "the context is full (" + std::to_string(ctx_->n_ctx()) +
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

Result<ImageEmbedding> TextSession::embed_image(const Image& image) {
  if (!vision_) {
    return error(ErrorCode::invalid_argument,
                 "this model has no vision encoder: give the model's mmproj file (--mmproj) to use images");
  }
  ImageEmbedding e;
  NM_RETURN_IF_ERROR(vision_->embed(image, pool_, e));
  return e;
}

Status TextSession::encode_image(const Image& image) {
  ImageEmbedding e;
  ImageTimings t;
  NM_RETURN_IF_ERROR(vision_->embed(image, pool_, e, &t));
  timings_.preprocess_ms += t.preprocess_ms;
  timings_.vision_ms += t.encode_ms;
  image_layouts_.push_back(image_layout_for(vision_->model().hparams().projector, e.plan));
  image_embeddings_.push_back(std::move(e.data));
  return Status();
}

Status TextSession::chat(const std::string& user_message, const std::vector<Image>& images, int n_predict,
                         const PieceCallback& on_piece) {
  if (images.empty() && image_embeddings_.empty()) return chat(user_message, n_predict, on_piece);
  if (!vision_) {
    return error(ErrorCode::invalid_argument,
                 "this model has no vision encoder: give the model's mmproj file (--mmproj) to use images");
  }
  if (!template_) {
    return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  }
  timings_ = {};
  // On failure the conversation keeps only the images of earlier turns.
  const size_t n_before = image_embeddings_.size();
  Status st = chat_with_new_images(user_message, images, n_predict, on_piece);
  if (!st.ok()) {
    image_embeddings_.resize(n_before);
    image_layouts_.resize(n_before);
  }
  return st;
}

Status TextSession::chat_with_new_images(const std::string& user_message, const std::vector<Image>& images,
                                         int n_predict, const PieceCallback& on_piece) {
  for (const Image& img : images) NM_RETURN_IF_ERROR(encode_image(img));
  timings_.n_images = (int)images.size();
  const std::vector<ChatMessage> messages = conversation_with(user_message, (int)images.size());
  const Tokenizer& tok = model_.tokenizer();
  const ChatRenderOptions opts = chat_options_for(tok);
  NM_ASSIGN_OR_RETURN(RenderedPrompt prompt, template_->render_with_spans(messages, opts));
  NM_ASSIGN_OR_RETURN(std::vector<PromptPart> parts,
                      tokenize_with_images(tok, prompt.text, opts.image_marker, image_layouts_, false,
                                           params_.parse_special ? std::vector<TextSpan>{} : prompt.content));
  // Image embeddings occupy positions too: the conversation is evaluated again from the start.
  ctx_->clear();
  cached_.clear();
  const auto t0 = Clock::now();
  const int n_positions = prompt_positions(parts, image_embeddings_, model_.hparams().n_embd);
  if (n_positions >= ctx_->n_ctx()) {
    return error(ErrorCode::out_of_range, "the prompt with its images is " + std::to_string(n_positions) +
                                              " positions, but the context holds " + std::to_string(ctx_->n_ctx()) +
                                              " (raise -c / n_ctx)");
  }
  NM_RETURN_IF_ERROR(eval_prompt_parts(*ctx_, parts, image_embeddings_, pool_));
  for (const PromptPart& p : parts)
    for (int32_t t : p.tokens) sampler_.accept(t);
  timings_.n_prompt_tokens = n_positions;
  timings_.prompt_ms = ms_since(t0);
  std::string reply;
  NM_RETURN_IF_ERROR(generate(n_predict, on_piece, &reply, t0));
  history_.push_back({"user", user_message, (int)images.size()});
  history_.push_back({"assistant", reply});
  return Status();
}

Status TextSession::chat(const std::string& user_message, int n_predict, const PieceCallback& on_piece) {
  if (!image_embeddings_.empty()) return chat(user_message, std::vector<Image>{}, n_predict, on_piece);
  if (!template_) {
    return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  }
  const std::vector<ChatMessage> messages = conversation_with(user_message, 0);
  NM_ASSIGN_OR_RETURN(RenderedPrompt prompt, template_->render_with_spans(messages, chat_options_for(model_.tokenizer())));
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                      model_.tokenizer().encode(prompt.text, {false, true, params_.parse_special ? std::vector<TextSpan>{}
                                                                                                : prompt.content}));
  std::string reply;
  NM_RETURN_IF_ERROR(prefill_and_generate(tokens, n_predict, on_piece, &reply));
  history_.push_back({"user", user_message});
  history_.push_back({"assistant", reply});
  return Status();
}

Status TextSession::complete(const std::string& text, int n_predict, const PieceCallback& on_piece) {
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                      model_.tokenizer().encode(text, {cached_.empty(), params_.parse_special}));
  std::vector<int32_t> all = cached_;
  all.insert(all.end(), tokens.begin(), tokens.end());
  return prefill_and_generate(all, n_predict, on_piece, nullptr);
}

}  // namespace nm

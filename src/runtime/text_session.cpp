#include "runtime/text_session.h"

#include <algorithm>

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

TextSession::TextSession(const TextModel& model, const TextSessionParams& params)
    : model_(model), params_(params), sampler_(params.sampling, model.hparams().n_vocab), energy_(params.energy) {}

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
  stream_.reset();
  pending_ = -1;
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

Status TextSession::prefill(const std::vector<PromptPosition>& positions, const Pipeline::ImageSource* slots,
                            bool stepwise) {
  const auto t0 = Clock::now();
  timings_.n_prompt_tokens = 0;
  timings_.prompt_ms = 0;
  energy_.begin_request(stepwise);
  energy_.begin_phase(energy::EnergyPhase::prefill);  // images encoded inside it are their own phase
  // Pictures are encoded only when their rows must be evaluated (a new picture, or an old
  // one whose rows fell out of the reused prefix).
  const Pipeline::ImageSource encode = [this](int32_t id) -> Result<int> {
    for (const ConversationImage& c : images_) {
      if (c.id != id) continue;
      ImageTimings t;
      energy_.begin_phase(energy::EnergyPhase::vision);
      NM_RETURN_IF_ERROR(pipeline_->encode_image(c.image, (uint64_t)id, &t).status());
      energy_.end_phase(energy::EnergyPhase::vision, vision_device_name(), pipeline_->pool().size(), 0,
                        pipeline_->vision_device_kind());
      timings_.preprocess_ms += t.preprocess_ms;
      timings_.vision_ms += t.encode_ms;
      return pipeline_->take_image();
    }
    return error(ErrorCode::internal, "image " + std::to_string(id) + " is not part of the conversation");
  };
  NM_ASSIGN_OR_RETURN(size_t first, pipeline_->prefill(positions, slots ? *slots : encode));
  for (size_t i = first; i < positions.size(); ++i) {
    if (positions[i].image < 0) sampler_.accept(positions[i].token);
  }
  timings_.n_prompt_tokens = (int)(positions.size() - first);
  energy_.end_phase(energy::EnergyPhase::prefill, text_device_name(), pipeline_->pool().size(),
                    timings_.n_prompt_tokens, pipeline_->text_device_kind());
  timings_.prompt_ms = ms_since(t0);
  return Status();
}

void TextSession::note_vision_busy(double seconds) {
  if (params_.energy && seconds > 0)
    params_.energy->note_busy(vision_device_name(), seconds, pipeline_->pool().size(), pipeline_->vision_device_kind());
}

Status TextSession::prefill_and_generate(const std::vector<PromptPosition>& positions, int n_predict,
                                         const PieceCallback& on_piece, std::string* reply,
                                         const Pipeline::ImageSource* slots, bool ignore_eos) {
  const auto t0 = Clock::now();
  NM_RETURN_IF_ERROR(prefill(positions, slots));
  Status st = generate(n_predict, on_piece, reply, t0, ignore_eos);
  // On demand, the text brick gives its weights, graphs and KV cache back after each
  // answer; the next turn maps them again and prefills the whole conversation.
  if (pipeline_->params().residency == Residency::on_demand) pipeline_->release_text();
  return st;
}

TextStream TextSession::make_stream(int n_predict, const std::vector<std::string>& extra_stops, bool ignore_eos) const {
  const Tokenizer& tok = model_.tokenizer();
  std::vector<std::string> stops = template_ ? template_->stop_strings() : std::vector<std::string>{};
  stops.insert(stops.end(), extra_stops.begin(), extra_stops.end());
  return TextStream(tok, template_ ? template_->stop_tokens(tok) : tok.eog_tokens(), std::move(stops), n_predict,
                    ignore_eos);
}

Status TextSession::generate(int n_predict, const PieceCallback& on_piece, std::string* reply,
                             Clock::time_point t0, bool ignore_eos) {
  TextStream stream = make_stream(n_predict, {}, ignore_eos);
  const auto t1 = Clock::now();
  TraceScope trace(pipeline_->trace(), pipeline_->text_device_name(), "text", "decode");
  energy_.begin_phase(energy::EnergyPhase::decode);
  Status status;
  bool cancelled = false;
  for (int i = 0; stream.finished() == FinishReason::none; ++i) {
    NM_ASSIGN_OR_RETURN(int32_t next, sample());
    if (i == 0) timings_.first_token_ms = ms_since(t0);
    const std::string piece = stream.push(next);
    if (!piece.empty() && !on_piece(piece, next)) {
      cancelled = true;
      break;
    }
    if (stream.finished() != FinishReason::none) break;
    if (n_past() >= n_ctx()) {
      status = error(ErrorCode::out_of_range, "the context is full (" + std::to_string(n_ctx()) +
                                                  " tokens): start a new conversation or raise -c");
      break;
    }
    NM_RETURN_IF_ERROR(eval({next}));
  }
  const std::string rest = stream.flush(FinishReason::stop);
  if (!rest.empty() && !cancelled) on_piece(rest, -1);
  timings_.n_generated = stream.n_generated();
  timings_.generate_ms = ms_since(t1);
  trace.arg("tokens", timings_.n_generated);
  energy_.end_phase(energy::EnergyPhase::decode, text_device_name(), pipeline_->pool().size(), timings_.n_generated,
                    pipeline_->text_device_kind());
  energy_.end_request();
  if (reply) *reply = stream.text();
  return status;
}

void TextSession::restart_sampler(const SamplerParams& sampling) {
  sampler_ = Sampler(sampling, model_.hparams().n_vocab);
  for (const PromptPosition& p : pipeline_->positions()) {
    if (p.image < 0) sampler_.accept(p.token);
  }
}

Status TextSession::begin_chat(const std::vector<ChatMessage>& messages, const std::vector<Image>& images,
                               const GenerationParams& gp) {
  stream_.reset();
  pending_ = -1;
  if (!template_) return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  if (!images.empty() && !pipeline_->has_vision()) {
    return error(ErrorCode::invalid_argument,
                 "this model has no vision encoder: give the model's mmproj file (--mmproj) to use images");
  }
  turn_start_ = Clock::now();
  timings_ = {};
  history_.clear();
  // A picture equal to one the context already holds keeps its id, so the rows it put in
  // the KV cache match and are reused; the others get new ids.
  std::vector<ConversationImage> pictures;
  for (const Image& img : images) {
    NM_ASSIGN_OR_RETURN(ImagePlan plan, pipeline_->plan_image(img.width, img.height));
    int32_t id = -1;
    for (const ConversationImage& c : images_) {
      const bool taken = std::any_of(pictures.begin(), pictures.end(), [&](const ConversationImage& p) { return p.id == c.id; });
      if (!taken && c.image.width == img.width && c.image.height == img.height && c.image.rgb == img.rgb) id = c.id;
      if (id >= 0) break;
    }
    pictures.push_back({id >= 0 ? id : next_image_id_++, img, plan});
  }
  images_ = std::move(pictures);
  timings_.n_images = (int)images_.size();
  auto positions = chat_positions(messages);
  Status st = positions.ok() ? prefill(positions.value(), nullptr, true) : positions.status();
  if (!st.ok()) {
    // What the context holds no longer matches any picture list: forget it all.
    images_.clear();
    pipeline_->clear();
    return st;
  }
  restart_sampler(gp.sampling);
  stream_.emplace(make_stream(gp.n_predict, gp.stop, gp.ignore_eos));
  decode_start_ = Clock::now();
  return Status();
}

Status TextSession::begin_completion(const std::string& text, const GenerationParams& gp) {
  stream_.reset();
  pending_ = -1;
  if (text.empty()) return error(ErrorCode::invalid_argument, "the prompt is empty");
  turn_start_ = Clock::now();
  timings_ = {};
  history_.clear();
  images_.clear();  // positions holding image rows can no longer match: prefill drops them
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, model_.tokenizer().encode(text, {true, params_.parse_special}));
  NM_RETURN_IF_ERROR(prefill(token_positions(tokens), nullptr, true));
  restart_sampler(gp.sampling);
  stream_.emplace(make_stream(gp.n_predict, gp.stop, gp.ignore_eos));
  decode_start_ = Clock::now();
  return Status();
}

Result<GenerationStep> TextSession::next() {
  if (!stream_) return error(ErrorCode::invalid_argument, "no answer is being generated: begin one first");
  if (pending_ >= 0) return error(ErrorCode::invalid_argument, "the last token was not evaluated yet");
  GenerationStep step;
  step.finished = stream_->finished();
  if (step.finished != FinishReason::none) return step;
  NM_ASSIGN_OR_RETURN(step.token, sample());
  if (stream_->n_generated() == 0) timings_.first_token_ms = ms_since(turn_start_);
  step.piece = stream_->push(step.token);
  // A token that does not end the answer must be evaluated next: the context needs room.
  if (stream_->finished() == FinishReason::none && n_past() >= n_ctx()) {
    step.piece += stream_->flush(FinishReason::length);
  }
  step.finished = stream_->finished();
  timings_.n_generated = stream_->n_generated();
  if (step.finished == FinishReason::none) {
    pending_ = step.token;
  } else {
    timings_.generate_ms = ms_since(decode_start_);
    energy_.set_phase_tokens(energy::EnergyPhase::decode, timings_.n_generated);
    energy_.end_request();
    if (pipeline_->params().residency == Residency::on_demand) pipeline_->release_text();
  }
  return step;
}

Status TextSession::eval_pending() {
  if (pending_ < 0) return Status();
  const int32_t t = pending_;
  pending_ = -1;
  return eval({t});
}

Status TextSession::decode_pending(std::span<TextSession* const> sessions) {
  std::vector<TextSession*> ready;
  std::vector<Pipeline*> pipes;
  std::vector<int32_t> tokens;
  for (TextSession* s : sessions) {
    if (s->pending_ < 0) continue;
    ready.push_back(s);
    pipes.push_back(s->pipeline_.get());
    tokens.push_back(s->pending_);
  }
  if (ready.size() < 2 || !Pipeline::can_batch(pipes)) {
    for (TextSession* s : ready) {
      TextSession* one[] = {s};
      NM_RETURN_IF_ERROR(charge_decode_step(one, [s] { return s->eval_pending(); }));
    }
    return Status();
  }
  NM_RETURN_IF_ERROR(charge_decode_step(ready, [&] { return Pipeline::append_batch(pipes, tokens); }));
  for (size_t i = 0; i < ready.size(); ++i) {
    ready[i]->sampler_.accept(tokens[i]);
    ready[i]->pending_ = -1;
  }
  return Status();
}

Status TextSession::charge_decode_step(std::span<TextSession* const> sessions, const std::function<Status()>& step) {
  energy::EnergyMonitor* monitor = sessions.empty() ? nullptr : sessions[0]->params_.energy;  // one per model
  if (!monitor) return step();
  energy::EnergySpan span = monitor->begin();
  const auto t0 = Clock::now();
  NM_RETURN_IF_ERROR(step());
  const TextSession& first = *sessions[0];
  monitor->note_busy(first.text_device_name(), ms_since(t0) / 1000.0, first.pipeline_->pool().size(),
                     first.pipeline_->text_device_kind());
  Result<energy::EnergyReading> r = span.finish();
  if (!r.ok()) return Status();  // no meter answered: nothing to charge
  for (TextSession* s : sessions) s->energy_.add_to_phase(energy::EnergyPhase::decode, *r, 1.0 / (double)sessions.size(), 1);
  return Status();
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
  if (st.ok()) st = chat_with_images(user_message, (int)images.size(), n_predict, on_piece, nullptr, params_.ignore_eos);
  if (!st.ok()) images_.resize(n_before);
  return st;
}

Result<std::vector<PromptPosition>> TextSession::chat_positions(const std::vector<ChatMessage>& messages) const {
  const Tokenizer& tok = model_.tokenizer();
  const ChatRenderOptions opts = chat_options_for(tok);
  NM_ASSIGN_OR_RETURN(RenderedPrompt prompt, template_->render_with_spans(messages, opts));
  // User text stays text (its special-token look-alikes are not parsed) unless the session asks.
  const std::vector<TextSpan> plain = params_.parse_special ? std::vector<TextSpan>{} : prompt.content;
  if (images_.empty()) {
    NM_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, tok.encode(prompt.text, {false, true, plain}));
    return token_positions(tokens);
  }
  const ProjectorKind projector = pipeline_->models().vision->hparams().projector;
  std::vector<ImageLayout> layouts;
  std::vector<int> ids, n_tokens;
  for (const ConversationImage& c : images_) {
    layouts.push_back(image_layout_for(projector, c.plan));
    ids.push_back(c.id);
    n_tokens.push_back(c.plan.n_tokens);
  }
  NM_ASSIGN_OR_RETURN(std::vector<PromptPart> parts,
                      tokenize_with_images(tok, prompt.text, opts.image_marker, layouts, false, plain));
  return prompt_positions(parts, ids, n_tokens);
}

Status TextSession::chat_with_images(const std::string& user_message, int n_new_images, int n_predict,
                                     const PieceCallback& on_piece, const Pipeline::ImageSource* slots,
                                     bool ignore_eos) {
  timings_.n_images = n_new_images;
  NM_ASSIGN_OR_RETURN(std::vector<PromptPosition> positions,
                      chat_positions(conversation_with(user_message, n_new_images)));
  std::string reply;
  NM_RETURN_IF_ERROR(prefill_and_generate(positions, n_predict, on_piece, &reply, slots, ignore_eos));
  history_.push_back({"user", user_message, n_new_images});
  history_.push_back({"assistant", reply});
  return Status();
}

Status TextSession::ask(const std::string& question, const ImagePlan& plan, const Pipeline::ImageSource& slots,
                        int n_predict, const PieceCallback& on_piece, bool ignore_eos) {
  if (!pipeline_->has_vision()) return pipeline_->plan_image(plan.image_width, plan.image_height).status();
  if (!template_) {
    return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  }
  history_.clear();
  images_.clear();
  timings_ = {};
  images_.push_back({next_image_id_++, Image{}, plan});
  return chat_with_images(question, 1, n_predict, on_piece, &slots, ignore_eos);
}

Status TextSession::chat(const std::string& user_message, int n_predict, const PieceCallback& on_piece) {
  if (!images_.empty()) return chat(user_message, std::vector<Image>{}, n_predict, on_piece);
  if (!template_) {
    return ChatTemplate::select(params_.chat_template, model_.tokenizer()).status();
  }
  timings_ = {};
  NM_ASSIGN_OR_RETURN(std::vector<PromptPosition> positions, chat_positions(conversation_with(user_message, 0)));
  std::string reply;
  NM_RETURN_IF_ERROR(prefill_and_generate(positions, n_predict, on_piece, &reply, nullptr, params_.ignore_eos));
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

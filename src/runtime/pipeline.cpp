#include "runtime/pipeline.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/device_placement.h"
#include "runtime/profile/calibration_store.h"

namespace nm {

const char* residency_name(Residency r) { return r == Residency::keep ? "keep" : "on-demand"; }

Result<Residency> parse_residency(const std::string& text) {
  if (text == "keep") return Residency::keep;
  if (text == "on-demand" || text == "on_demand") return Residency::on_demand;
  return error(ErrorCode::invalid_argument, "residency '" + text + "': use keep or on-demand");
}

namespace {

// Locks the default placement's pool for a brick placed there.
std::unique_lock<std::recursive_mutex> pool_lock(std::recursive_mutex& mu, const Device* device) {
  return device ? std::unique_lock<std::recursive_mutex>() : std::unique_lock<std::recursive_mutex>(mu);
}

}  // namespace

Result<std::unique_ptr<PipelineModels>> PipelineModels::from_bricks(std::unique_ptr<TextModel> text,
                                                                    std::unique_ptr<MmprojModel> vision) {
  if (!text) return error(ErrorCode::invalid_argument, "a pipeline needs a text model");
  if (vision) NM_RETURN_IF_ERROR(vision->check_llm_width(text->hparams().n_embd));
  auto m = std::make_unique<PipelineModels>();
  m->text = std::move(text);
  m->vision = std::move(vision);
  m->packed_text = PackedWeights::for_file(m->text->file());
  if (m->vision) m->packed_vision = PackedWeights::for_file(m->vision->file());
  return m;
}

Result<std::unique_ptr<PipelineModels>> PipelineModels::load(const std::string& text_path, const std::string& mmproj_path) {
  auto text = TextModel::load(text_path);
  if (!text.ok()) return error(text.status().code(), "cannot load '" + text_path + "': " + text.status().to_string());
  std::unique_ptr<MmprojModel> vision;
  if (!mmproj_path.empty()) {
    auto v = MmprojModel::load(mmproj_path);
    Status st = v.ok() ? v.value()->check_llm_width(text.value()->hparams().n_embd) : v.status();
    if (!st.ok()) return error(st.code(), "cannot use mmproj '" + mmproj_path + "': " + st.to_string());
    vision = std::move(v).value();
  }
  return from_bricks(std::move(text).value(), std::move(vision));
}

std::vector<const Brick*> PipelineModels::bricks() const {
  std::vector<const Brick*> out;
  if (vision) out.push_back(vision.get());
  out.push_back(text.get());
  return out;
}

Result<Device*> Pipeline::find_device(const std::string& name) {
  if (name.empty()) return static_cast<Device*>(nullptr);
  if (params_.registry) return resolve_device(*params_.registry, name);
  for (const auto& r : registries_)
    if (r->find(name)) return resolve_device(*r, name);
  // OpenCL is not probed when only CPU clusters are named.
  DeviceRegistryOptions ro;
  ro.opencl = name.rfind("cpu", 0) != 0;
  ro.cpu_clusters = params_.cpu_clusters;
  auto r = std::make_unique<DeviceRegistry>(DeviceRegistry::create(ro));
  NM_ASSIGN_OR_RETURN(Device * d, resolve_device(*r, name));
  if (d) registries_.push_back(std::move(r));
  return d;
}

Status Pipeline::place() {
  NM_ASSIGN_OR_RETURN(BrickPlacement placement, parse_device_spec(params_.devices));
  if (placement.empty()) return Status();
  if (!params_.registry) {  // one registry for every name the spec mentions
    DeviceRegistryOptions ro;
    ro.opencl = false;
    ro.cpu_clusters = params_.cpu_clusters;
    for (const std::string& n : placement.device_names()) ro.opencl |= n.rfind("cpu", 0) != 0;
    registries_.push_back(std::make_unique<DeviceRegistry>(DeviceRegistry::create(ro)));
  }
  NM_ASSIGN_OR_RETURN(Device * text, find_device(placement.device_for(BrickKind::text)));
  NM_ASSIGN_OR_RETURN(Device * vision, find_device(placement.device_for(BrickKind::vision)));
  text_device_ = text;
  vision_device_ = vision;
  return Status();
}

Result<std::unique_ptr<ImageEncoder>> Pipeline::make_vision(Device* device) const {
  ImageEncoderParams ip;
  ip.sizing = params_.image_sizing;
  // On demand, a brick owns its packed copies so that releasing them leaves other
  // sessions of the model alone; they are spilled to spill_dir_ where one was made.
  const bool own = params_.residency == Residency::on_demand;
  ip.run = {device, params_.isa, params_.pack_weights, own ? nullptr : models_.packed_vision, regions_, spill_dir_};
  // An encode reads each weight once: on demand, each leaves memory after its last reader,
  // so that about one layer of the encoder is resident while the text brick answers beside it.
  ip.run.stream_weights = own;
  return ImageEncoder::create(*models_.vision, ip);
}

Result<std::unique_ptr<TextContext>> Pipeline::make_text(Device* device) const {
  TextContextParams tp;
  tp.n_ctx = params_.n_ctx;
  tp.kv_type = params_.kv_type;
  tp.n_batch = params_.n_batch;
  tp.run = {device, params_.isa, params_.pack_weights,
            params_.residency == Residency::on_demand ? nullptr : models_.packed_text, regions_, spill_dir_};
  return TextContext::create(*models_.text, tp);
}

Result<std::unique_ptr<Pipeline>> Pipeline::create(const PipelineModels& models, const PipelineParams& params) {
  if (!models.text) return error(ErrorCode::invalid_argument, "a pipeline needs a text model");
  if (params.n_ctx < 0) return error(ErrorCode::invalid_argument, "n_ctx must not be negative");
  const int n_threads = params.n_threads > 0 ? params.n_threads : default_thread_count();
  std::unique_ptr<Pipeline> p(new Pipeline(models, params, n_threads));
  NM_RETURN_IF_ERROR(p->place());

  // On demand, packed copies go into a file where one can be made (see make_vision).
  if (params.residency == Residency::on_demand && params.spill_packed) {
    p->spill_dir_ = params.packed_spill_dir.empty() ? nanomind_cache_dir() : params.packed_spill_dir;
    std::error_code ec;
    if (!p->spill_dir_.empty()) std::filesystem::create_directories(p->spill_dir_, ec);  // a failure shows at the first pack
  }
  if (models.vision) {
    // The ring holds the largest image this model can produce; both bricks' graphs get its
    // memory as a region, so a device that imports memory at prepare reaches every slot.
    NM_ASSIGN_OR_RETURN(int max_tokens, max_image_tokens(*models.vision, params.image_sizing));
    const size_t slot_bytes = (size_t)max_tokens * models.vision->hparams().n_embd_out * sizeof(float);
    NM_ASSIGN_OR_RETURN(p->ring_, TokenRing::create(params.ring_slots, slot_bytes, params.ring_policy));
    p->slot_flow_.assign((size_t)p->ring_->n_slots(), 0);
    p->regions_.push_back(p->ring_->region());
    NM_ASSIGN_OR_RETURN(p->image_, p->make_vision(p->vision_device_));
  }
  NM_ASSIGN_OR_RETURN(p->text_, p->make_text(p->text_device_));
  // On demand, nothing of a brick is resident until it runs: the model files' pages that
  // loading touched (metadata, vocabulary) are given back now, not after each brick's first
  // run (a server or a camera stream may wait long for its first event).
  if (params.residency == Residency::on_demand) {
    p->release_vision();
    p->release_text();
  }
  return p;
}

std::vector<Device*> Pipeline::devices() const {
  std::vector<Device*> out;
  auto add = [&out](const DeviceRegistry& r) {
    for (const auto& d : r.devices())
      if (std::none_of(out.begin(), out.end(), [&](const Device* o) { return o->name() == d->name(); }))
        out.push_back(d.get());
  };
  if (params_.registry) add(*params_.registry);
  for (const auto& r : registries_) add(*r);
  return out;
}

Status Pipeline::move_vision(const std::string& name) {
  if (!image_) return plan_image(0, 0).status();
  NM_ASSIGN_OR_RETURN(Device * device, find_device(name));
  if (device == vision_device_.load()) return Status();
  // Only this thread uses the vision brick: nothing runs in the graphs dropped here.
  NM_ASSIGN_OR_RETURN(std::unique_ptr<ImageEncoder> moved, make_vision(device));
  image_ = std::move(moved);
  vision_device_ = device;
  return Status();
}

Status Pipeline::move_text(const std::string& name) {
  NM_ASSIGN_OR_RETURN(Device * device, find_device(name));
  if (device == text_device_.load()) return Status();
  NM_ASSIGN_OR_RETURN(std::unique_ptr<TextContext> moved, make_text(device));
  text_ = std::move(moved);
  text_device_ = device;
  positions_.clear();  // the new context's cache is empty
  return Status();
}

Result<ImagePlan> Pipeline::plan_image(int width, int height) const {
  if (!image_) {
    return error(ErrorCode::invalid_argument,
                 "this model has no vision encoder: give the model's mmproj file (--mmproj) to use images");
  }
  return image_->plan(width, height);
}

Result<int> Pipeline::encode_image(const Image& image, uint64_t tag, ImageTimings* timings, bool commit) {
  NM_ASSIGN_OR_RETURN(ImagePlan plan, plan_image(image.width, image.height));
  NM_ASSIGN_OR_RETURN(int slot, ring_->acquire_write(plan.n_tokens, image_->n_embd_out(), tag));
  Status st;
  {
    auto lock = pool_lock(pool_mu_, vision_device_);
    TraceScope ts(trace_, vision_device_name(), "vision", "encode");
    ts.arg("tag", (double)tag);
    ts.arg("tokens", plan.n_tokens);
    st = image_->encode(image, plan, *pool_, ring_->data(slot), timings);
    if (trace_ && st.ok()) {
      slot_flow_[(size_t)slot] = trace_->next_flow_id();
      trace_->flow_start(slot_flow_[(size_t)slot], vision_device_name(), "vision", Trace::Clock::now());
    }
    if (params_.residency == Residency::on_demand) image_->encoder().release();
  }
  if (!st.ok()) {
    (void)ring_->abort_write(slot);
    return st;
  }
  if (commit) NM_RETURN_IF_ERROR(ring_->commit(slot));
  return slot;
}

Result<int> Pipeline::encode_planar(const EncoderInput& input, uint64_t tag) {
  if (!image_) return plan_image(input.width, input.height).status();
  NM_ASSIGN_OR_RETURN(int n_tokens, models_.vision->encoder_tokens(input.width, input.height));
  NM_ASSIGN_OR_RETURN(int slot, ring_->acquire_write(n_tokens, image_->n_embd_out(), tag));
  Status st;
  {
    auto lock = pool_lock(pool_mu_, vision_device_);
    st = image_->encoder().encode(input, *pool_, ring_->data(slot));
    if (params_.residency == Residency::on_demand) image_->encoder().release();
  }
  if (!st.ok()) {
    (void)ring_->abort_write(slot);
    return st;
  }
  NM_RETURN_IF_ERROR(ring_->commit(slot));
  return slot;
}

Status Pipeline::encode_image_into(const Image& image, const ImagePlan& plan, std::span<float> out,
                                   ImageTimings* timings) {
  if (!image_) return plan_image(image.width, image.height).status();
  auto lock = pool_lock(pool_mu_, vision_device_);
  Status st = image_->encode(image, plan, *pool_, out, timings);
  if (params_.residency == Residency::on_demand) image_->encoder().release();
  return st;
}

Result<int> Pipeline::take_image() {
  if (!ring_) return plan_image(0, 0).status();
  // Nothing is waiting in a serial pipeline unless encode_image() ran: never block here.
  return ring_->try_acquire_read(0);
}

std::span<const float> Pipeline::image_embeddings(int slot) const { return ring_ ? ring_->data(slot) : std::span<const float>(); }

Status Pipeline::release_image(int slot) {
  if (!ring_) return error(ErrorCode::internal, "release_image without a vision brick");
  return ring_->release(slot);
}

void Pipeline::release_vision() {
  if (!image_) return;
  auto lock = pool_lock(pool_mu_, vision_device_);
  image_->encoder().release();
}

void Pipeline::release_text() {
  auto lock = pool_lock(pool_mu_, text_device_);
  // The opening before the first picture stays: every question of a camera stream starts
  // with it (system prompt, template header), so the next one need not evaluate it again.
  // A conversation without a picture keeps nothing.
  size_t keep = 0;
  while (keep < positions_.size() && positions_[keep].image < 0) ++keep;
  if (keep == positions_.size()) keep = 0;
  text_->release((int)keep);
  positions_.resize(keep);
}

Status Pipeline::set_threads(int n_threads) {
  auto lock = pool_lock(pool_mu_, nullptr);
  const int n = std::clamp(n_threads, 1, full_pool_.size());
  if (n == full_pool_.size()) {
    pool_ = &full_pool_;
    fewer_pool_.reset();
  } else if (pool_->size() != n) {
    NM_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> fewer, ThreadPool::create(n));
    pool_ = fewer.get();
    fewer_pool_ = std::move(fewer);  // after the switch: the old one is no longer in use
  }
  return Status::ok_status();
}

void Pipeline::set_residency(Residency residency) {
  params_.residency = residency;
  if (residency == Residency::on_demand) {
    release_vision();
    release_text();
  }
}

void Pipeline::clear() {
  auto lock = pool_lock(pool_mu_, text_device_);
  text_->clear();
  positions_.clear();
}

Status Pipeline::append(std::span<const int32_t> tokens, bool all_logits) {
  auto lock = pool_lock(pool_mu_, text_device_);
  NM_RETURN_IF_ERROR(text_->eval_tokens(tokens, *pool_, all_logits));
  for (int32_t t : tokens) positions_.push_back(PromptPosition::of_token(t));
  return Status();
}

bool Pipeline::can_batch(std::span<Pipeline* const> pipes) {
  std::vector<TextContext*> ctxs;
  for (Pipeline* p : pipes) {
    // A named device is the pipeline's own (its own registry): only the default CPU
    // placement is shared between pipelines.
    if (!p || p->text_device_) return false;
    ctxs.push_back(p->text_.get());
  }
  return TextContext::can_batch(ctxs);
}

Status Pipeline::append_batch(std::span<Pipeline* const> pipes, std::span<const int32_t> tokens) {
  if (pipes.size() != tokens.size()) return error(ErrorCode::invalid_argument, "append_batch: one token per pipeline");
  if (!can_batch(pipes)) {
    return error(ErrorCode::invalid_argument, "append_batch: the pipelines differ in model, placement or context shape");
  }
  std::vector<TextContext*> ctxs;
  for (Pipeline* p : pipes) ctxs.push_back(p->text_.get());
  NM_RETURN_IF_ERROR(TextContext::eval_batch(ctxs, tokens, *pipes[0]->pool_));
  for (size_t i = 0; i < pipes.size(); ++i) pipes[i]->positions_.push_back(PromptPosition::of_token(tokens[i]));
  return Status();
}

Result<size_t> Pipeline::prefill(std::span<const PromptPosition> want, const ImageSource& images) {
  if (want.empty()) return error(ErrorCode::invalid_argument, "the prompt is empty");
  if ((int64_t)want.size() >= text_->n_ctx()) {
    return error(ErrorCode::out_of_range, "the prompt is " + std::to_string(want.size()) +
                                              " positions, but the context holds " + std::to_string(text_->n_ctx()) +
                                              " (raise -c / n_ctx, or shorten the prompt)");
  }
  auto lock = pool_lock(pool_mu_, text_device_);
  TraceScope ts(trace_, text_device_name(), "text", "prefill");
  size_t p = 0;
  while (p < positions_.size() && p < want.size() && positions_[p] == want[p]) ++p;
  if (p == want.size()) --p;  // evaluate at least one position: its logits are sampled next
  text_->truncate((int)p);
  positions_.resize(p);
  const size_t first = p;

  // The image whose slot is held (its rows may come in several runs, e.g. split tiles).
  int32_t held_image = -1;
  int held_slot = -1;
  auto drop_held = [&]() -> Status {
    if (held_slot < 0) return Status();
    const int slot = held_slot;
    held_slot = -1;
    held_image = -1;
    return release_image(slot);
  };
  Status st;
  while (p < want.size() && st.ok()) {
    size_t end = p + 1;
    if (want[p].image < 0) {
      while (end < want.size() && want[end].image < 0) ++end;
      std::vector<int32_t> run;
      run.reserve(end - p);
      for (size_t i = p; i < end; ++i) run.push_back(want[i].token);
      st = text_->eval_tokens(run, *pool_);
    } else {
      const int32_t id = want[p].image;
      const int32_t row0 = want[p].row;
      while (end < want.size() && want[end].image == id && want[end].row == row0 + (int32_t)(end - p)) ++end;
      if (held_image != id) {
        st = drop_held();
        if (!st.ok()) break;
        if (!images) {
          st = error(ErrorCode::invalid_argument, "the prompt has an image but no image source");
          break;
        }
        auto taken = images(id);
        if (!taken.ok()) {
          st = taken.status();
          break;
        }
        held_slot = *taken;
        held_image = id;
        if (trace_ && slot_flow_[(size_t)held_slot] != 0) {
          trace_->flow_end(slot_flow_[(size_t)held_slot], text_device_name(), "text", Trace::Clock::now());
        }
      }
      const std::span<const float> e = image_embeddings(held_slot);
      const size_t E = (size_t)models_.text->hparams().n_embd;
      if ((size_t)(row0 + (int32_t)(end - p)) * E > e.size()) {
        st = error(ErrorCode::internal, "image " + std::to_string(id) + " has fewer embeddings than its prompt rows");
        break;
      }
      st = text_->eval_embeddings(e.subspan((size_t)row0 * E, (end - p) * E), *pool_);
    }
    if (st.ok()) {
      positions_.insert(positions_.end(), want.begin() + (std::ptrdiff_t)p, want.begin() + (std::ptrdiff_t)end);
      p = end;
    }
  }
  Status released = drop_held();
  ts.arg("positions", (double)(want.size() - first));
  ts.arg("reused", (double)first);
  if (!st.ok()) {
    // eval_* may have written part of a failed run: keep only what is recorded.
    text_->truncate((int)positions_.size());
    return st;
  }
  NM_RETURN_IF_ERROR(released);
  return first;
}

std::string Pipeline::text_device_name() const { return placement_name(text_device_); }
std::string Pipeline::vision_device_name() const { return placement_name(vision_device_); }
std::string Pipeline::text_device_kind() const {
  const Device* d = text_device_.load();
  return d ? device_kind_name(d->kind()) : "cpu";
}
std::string Pipeline::vision_device_kind() const {
  const Device* d = vision_device_.load();
  return d ? device_kind_name(d->kind()) : "cpu";
}

size_t Pipeline::bytes_copied_between_bricks() const {
  size_t n = text_->bytes_copied_in();
  if (image_) n += image_->encoder().bytes_copied_out();
  if (ring_) n += ring_->stats().bytes_copied;
  return n;
}

}  // namespace nm

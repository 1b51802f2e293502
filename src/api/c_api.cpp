// The C API (include/nanomind/nanomind.h) over the C++ runtime. Every entry point
// checks its pointers and ranges first and catches exceptions (e.g. std::bad_alloc, a
// thread that cannot start) so none crosses into C. A model handle holds a reference to
// the loaded model; sessions hold their own, so the model outlives whichever goes last.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "api/c_api_status.h"
#include "core/image.h"
#include "core/thread_pool.h"
#include "kernels/roofline.h"
#include "nanomind/nanomind.h"
#include "runtime/energy/battery.h"
#include "runtime/energy/machine_energy.h"
#include "runtime/frame_stream.h"
#include "runtime/pipeline.h"
#include "runtime/plan/auto_placement.h"
#include "runtime/powered_stream.h"
#include "runtime/stream_replan.h"
#include "runtime/text_session.h"
#include "runtime/trace.h"
#include "runtime/watched_folder_source.h"

namespace {

// What a loaded model is; shared by the caller's handle and every session.
struct LoadedModel {
  // The bricks and their packed CPU weight copies, shared by every session of this model.
  std::unique_ptr<nm::PipelineModels> bricks;
  int n_threads = 0;
  double load_ms = 0;
  // The machine's energy meters (and the profile estimate), shared by the model's sessions.
  std::unique_ptr<nm::energy::EnergyMonitor> energy;
};

}  // namespace

struct nm_model {
  std::shared_ptr<const LoadedModel> m;
};

struct nm_session {
  std::shared_ptr<const LoadedModel> model;  // first member: destroyed last, after the session using it
  std::unique_ptr<nm::Trace> trace;           // recording since nm_session_trace_start (outlives session)
  std::unique_ptr<nm::TextSession> session;   // owns the session's pipeline (placement, ring, bricks' runners)
  uint64_t seed = 0;
  std::string chat_template;  // the family in use, "" for none (nm_session_chat_template)
  std::string last_error;
  std::string piece;       // nm_session_next's last piece
  int32_t n_prompt = 0;    // positions of the current answer's prompt
};

namespace {

// A stream's power policy (nm_stream_params.battery / power_mode); off when neither is given.
struct StreamPower {
  bool on = false;
  nm::PowerControllerOptions options;
  std::unique_ptr<nm::energy::BatterySource> battery;
};

// What a stream run returns: the stream's counts, and the policy's when it had one.
struct StreamRun {
  nm::FrameStreamStats stream;
  std::optional<nm::PoweredStreamStats> power;
};

}  // namespace

// A stream of pushed frames: run_frame_stream (or run_powered_stream) on its own thread
// over a PushSource.
struct nm_stream {
  nm_session* session = nullptr;
  nm::PushSource source;
  nm::FrameStreamParams params;
  StreamPower power;
  nm_answer_callback cb = nullptr;
  void* user = nullptr;
  std::thread runner;
  nm::Result<StreamRun> result = nm::error(nm::ErrorCode::internal, "the stream has not run");
};

namespace {

using nm::capi::copy_message;
using nm::capi::to_c;

// Records a failed status's message on the session; passes success through.
nm_status report(nm_session* s, const nm::Status& st) {
  if (!st.ok()) s->last_error = st.to_string();
  return to_c(st.code());
}

// Returns report(s, status) from the enclosing function when status failed.
#define NM_RETURN_IF_ERROR_AS(s, expr)                 \
  do {                                                 \
    const ::nm::Status nm_check_ = (expr);             \
    if (!nm_check_.ok()) return report((s), nm_check_); \
  } while (0)

// Runs f, turning a C++ exception into NM_ERR_OUT_OF_MEMORY / NM_ERR_INTERNAL on the session.
template <class F>
nm_status guarded(nm_session* s, F&& f) {
  if (!s) return NM_ERR_INVALID_ARGUMENT;
  try {
    s->last_error.clear();
    return f();
  } catch (const std::bad_alloc&) {
    s->last_error = "out of memory";
    return NM_ERR_OUT_OF_MEMORY;
  } catch (const nm::ThreadStartError& e) {
    s->last_error = e.what();
    return NM_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    s->last_error = std::string("internal error: ") + e.what();
    return NM_ERR_INTERNAL;
  }
}

// A C image: a file to decode, or packed RGB in memory.
nm::Result<nm::Image> decode(const nm_image& im) {
  if (im.path) return nm::load_image(im.path);
  if (!im.rgb) return nm::error(nm::ErrorCode::invalid_argument, "the image has neither a path nor RGB pixels");
  return nm::image_from_rgb(im.rgb, im.width, im.height);
}

nm::PieceCallback wrap(nm_token_callback cb, void* user) {
  return [cb, user](const std::string& piece, int32_t token) { return cb ? cb(piece.c_str(), token, user) == 0 : true; };
}

nm::Status invalid(std::string message) { return nm::error(nm::ErrorCode::invalid_argument, std::move(message)); }

nm::Status check_n_predict(int32_t n_predict) {
  if (n_predict < 0) return invalid("n_predict " + std::to_string(n_predict) + " is negative (0 or more tokens)");
  return nm::Status();
}

// kv_type as the integer a C caller stored: in C any int fits the field, but loading a value
// outside the enumerators as the C++ enum type is undefined (UBSan stops on it).
int64_t kv_type_value(const nm_session_params& p) {
  static_assert(sizeof(nm_kv_type) == sizeof(int32_t) || sizeof(nm_kv_type) == sizeof(int64_t));
  if constexpr (sizeof(nm_kv_type) == sizeof(int32_t)) {
    int32_t v = 0;
    std::memcpy(&v, &p.kv_type, sizeof v);
    return v;
  } else {
    int64_t v = 0;
    std::memcpy(&v, &p.kv_type, sizeof v);
    return v;
  }
}

// Range checks of everything in nm_session_params the runtime does not check itself.
nm::Status check_session_params(const LoadedModel& model, const nm_session_params& p) {
  if (p.n_ctx < 0 || p.n_ctx > NM_MAX_CTX) {
    return invalid("n_ctx " + std::to_string(p.n_ctx) + " is out of range: 0 (the model's) or 1 to " +
                   std::to_string(NM_MAX_CTX));
  }
  if (p.residency != NM_RESIDENCY_KEEP && p.residency != NM_RESIDENCY_ON_DEMAND) {
    return invalid("residency " + std::to_string(p.residency) + " is not NM_RESIDENCY_KEEP (0) or NM_RESIDENCY_ON_DEMAND (1)");
  }
  if (kv_type_value(p) != NM_KV_F16 && kv_type_value(p) != NM_KV_Q8_0 && kv_type_value(p) != NM_KV_F32) {
    return invalid("kv_type " + std::to_string(kv_type_value(p)) + " is not one of NM_KV_F16, NM_KV_Q8_0, NM_KV_F32");
  }
  const int w = p.image_width, h = p.image_height;
  if (w < 0 || h < 0 || (w > 0) != (h > 0)) {
    return invalid("image_width and image_height must both be positive (static shape) or both 0");
  }
  if (w > 0) {
    if (!model.bricks->vision) return invalid("image_width / image_height need a vision model (mmproj)");
    const nm::VisionHparams& hp = model.bricks->vision->hparams();
    const int step = hp.patch_size * std::max(1, hp.scale_factor);
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    if (w > NM_MAX_IMAGE_SIDE || h > NM_MAX_IMAGE_SIDE || w % step || h % step) {
      return invalid("static image size " + size + ": each side must be a multiple of " + std::to_string(step) +
                     " (the encoder's " + (step == hp.patch_size ? "patch size" : "patch size x pixel-shuffle factor") +
                     ") from " + std::to_string(step) + " to " + std::to_string(NM_MAX_IMAGE_SIDE) + ", e.g. " +
                     std::to_string(hp.image_size) + "x" + std::to_string(hp.image_size) + " (the trained size)");
    }
    if (std::max(w, h) > 16 * std::min(w, h)) {
      return invalid("static image size " + size + " is too thin: the longer side may be at most 16 times the shorter");
    }
  }
  return nm::Status();
}

// The seed a session samples with: NM_SEED_RANDOM draws one.
uint64_t effective_seed(uint64_t seed) {
  if (seed != NM_SEED_RANDOM) return seed;
  std::random_device rd;
  return ((uint64_t)rd() << 32) ^ rd();
}

nm::SamplerParams to_sampler(const nm_sampling_params& sp) {
  return {sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty, sp.repeat_last_n, sp.seed};
}

nm::Result<nm::GenerationParams> to_generation(const nm_generate_params* gp) {
  if (!gp) return nm::error(nm::ErrorCode::invalid_argument, "no generation parameters");
  if (gp->n_predict < 0) return nm::error(nm::ErrorCode::invalid_argument, "n_predict must not be negative");
  if (gp->n_stop < 0 || (gp->n_stop > 0 && !gp->stop)) return nm::error(nm::ErrorCode::invalid_argument, "bad stop list");
  nm::GenerationParams g;
  g.n_predict = gp->n_predict;
  g.sampling = to_sampler(gp->sampling);
  g.sampling.seed = effective_seed(gp->sampling.seed);
  if (nm::Status st = nm::check_sampler_params(g.sampling); !st.ok()) return st;
  g.ignore_eos = gp->ignore_eos != 0;
  for (int32_t i = 0; i < gp->n_stop; ++i) {
    if (!gp->stop[i]) return nm::error(nm::ErrorCode::invalid_argument, "stop string " + std::to_string(i) + " is NULL");
    g.stop.emplace_back(gp->stop[i]);
  }
  return g;
}

}  // namespace

extern "C" {

nm_model_params nm_model_default_params(void) {
  nm_model_params p{};
  p.model_path = nullptr;
  p.mmproj_path = nullptr;
  p.n_threads = 0;
  p.power_profile = nullptr;
  return p;
}

nm_session_params nm_session_default_params(void) {
  nm_session_params p{};
  p.n_ctx = 0;
  p.kv_type = NM_KV_F16;
  p.system_prompt = nullptr;
  p.chat_template = nullptr;
  p.image_width = p.image_height = 0;
  p.devices = nullptr;
  p.no_repack = 0;
  p.parse_special = 0;
  p.ignore_eos = 0;
  const nm::SamplerParams d;
  p.sampling = {d.temperature, d.top_k, d.top_p, d.min_p, d.repeat_penalty, d.repeat_last_n, NM_SEED_RANDOM};
  return p;
}

nm_status nm_model_load(const nm_model_params* params, nm_model** out, char* err, size_t err_size) {
  if (!out) return NM_ERR_INVALID_ARGUMENT;
  *out = nullptr;
  if (!params || !params->model_path) {
    copy_message("no model path given", err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  if (params->n_threads < 0 || params->n_threads > NM_MAX_THREADS) {
    copy_message("n_threads " + std::to_string(params->n_threads) + " is out of range: 0 (one per core) or 1 to " +
                     std::to_string(NM_MAX_THREADS),
                 err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto m = nm::PipelineModels::load(params->model_path, params->mmproj_path ? params->mmproj_path : "");
    if (!m.ok()) {
      copy_message(m.status().message(), err, err_size);
      return to_c(m.status().code());
    }
    auto energy = nm::energy::open_machine_energy(params->power_profile ? params->power_profile : "");
    if (!energy.ok()) {
      copy_message("power profile: " + energy.status().message(), err, err_size);
      return NM_ERR_INVALID_ARGUMENT;
    }
    auto model = std::make_shared<LoadedModel>();
    model->bricks = std::move(m).value();
    model->energy = std::move(energy).value();
    // More threads than CPUs only slow a spinning pool down (decode 200x slower at -t 64 on 2 cores).
    model->n_threads = std::min(params->n_threads, nm::usable_cpu_count());
    model->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    *out = new nm_model{std::move(model)};
    copy_message("", err, err_size);
    return NM_OK;
  } catch (const std::bad_alloc&) {
    copy_message("out of memory while loading the model", err, err_size);
    return NM_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    copy_message(std::string("internal error: ") + e.what(), err, err_size);
    return NM_ERR_INTERNAL;
  }
}

void nm_model_free(nm_model* model) { delete model; }

int32_t nm_tokenize(const nm_model* model, const char* text, int add_special, int parse_special, int32_t* tokens,
                    int32_t n_max) {
  if (!model || !text || n_max < 0 || (!tokens && n_max > 0)) return NM_BAD_ARGUMENT;
  try {
    auto r = model->m->bricks->text->tokenizer().encode(text, {add_special != 0, parse_special != 0});
    if (!r.ok()) return NM_BAD_ARGUMENT;
    const auto& ids = r.value();
    if (ids.size() > (size_t)INT32_MAX) return NM_BAD_ARGUMENT;
    if ((int64_t)ids.size() > n_max) return -(int32_t)ids.size();
    std::copy(ids.begin(), ids.end(), tokens);
    return (int32_t)ids.size();
  } catch (...) {
    return NM_BAD_ARGUMENT;
  }
}

int32_t nm_token_to_piece(const nm_model* model, int32_t token, char* buf, int32_t buf_size) {
  if (!model || token < 0 || token >= model->m->bricks->text->hparams().n_vocab || buf_size < 0 || (!buf && buf_size > 0)) {
    return NM_BAD_ARGUMENT;
  }
  try {
    const std::string piece = model->m->bricks->text->tokenizer().token_to_piece(token);
    if ((int64_t)piece.size() > buf_size) return -(int32_t)piece.size();
    if (!piece.empty()) std::memcpy(buf, piece.data(), piece.size());
    return (int32_t)piece.size();
  } catch (...) {
    return NM_BAD_ARGUMENT;
  }
}

int32_t nm_model_n_vocab(const nm_model* model) { return model ? model->m->bricks->text->hparams().n_vocab : 0; }

nm_status nm_model_get_info(const nm_model* handle, nm_model_info* out) {
  if (!handle || !out) return NM_ERR_INVALID_ARGUMENT;
  const LoadedModel* model = handle->m.get();
  *out = {};
  const nm::TextHparams& hp = model->bricks->text->hparams();
  copy_message(hp.arch, out->arch, sizeof out->arch);
  out->n_vocab = hp.n_vocab;
  out->n_ctx_train = hp.n_ctx_train;
  out->n_embd = hp.n_embd;
  out->n_layer = hp.n_layer;
  out->n_head = hp.n_head;
  out->n_head_kv = hp.n_head_kv;
  out->n_ff = hp.n_ff;
  out->n_params = model->bricks->text->n_params();
  out->weight_bytes = model->bricks->text->weight_bytes();
  out->weight_bytes_per_token = model->bricks->text->weight_bytes_per_token();
  copy_message(model->bricks->text->weight_type(), out->weight_type, sizeof out->weight_type);
  return NM_OK;
}

nm_status nm_session_init(nm_model* handle, const nm_session_params* params, nm_session** out, char* err,
                          size_t err_size) {
  if (!out) {
    copy_message("no place for the session (out is NULL)", err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  if (!handle) {
    copy_message("no model (model is NULL)", err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  std::unique_ptr<nm_session> s;
  try {
    s = std::make_unique<nm_session>();
  } catch (...) {
    copy_message("out of memory", err, err_size);
    return NM_ERR_OUT_OF_MEMORY;
  }
  s->model = handle->m;
  const LoadedModel& model = *s->model;
  const nm_session_params defaults = nm_session_default_params();
  if (!params) params = &defaults;
  const nm_status st = guarded(s.get(), [&]() -> nm_status {
    NM_RETURN_IF_ERROR_AS(s.get(), check_session_params(model, *params));
    nm::TextSessionParams p;
    p.pipeline.n_ctx = params->n_ctx;
    p.pipeline.pack_weights = params->no_repack == 0;
    p.parse_special = params->parse_special != 0;
    p.ignore_eos = params->ignore_eos != 0;
    p.pipeline.kv_type = params->kv_type == NM_KV_Q8_0 ? nm::DType::Q8_0  // checked above: a valid value
                         : params->kv_type == NM_KV_F32 ? nm::DType::F32 : nm::DType::F16;
    const nm_sampling_params& sp = params->sampling;
    s->seed = effective_seed(sp.seed);
    p.sampling = {sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty, sp.repeat_last_n, s->seed};
    NM_RETURN_IF_ERROR_AS(s.get(), nm::check_sampler_params(p.sampling));
    if (params->system_prompt) p.system_prompt = params->system_prompt;
    if (params->chat_template) p.chat_template = params->chat_template;
    p.pipeline.n_threads = model.n_threads;
    p.energy = model.energy.get();
    p.pipeline.image_sizing = {params->image_width, params->image_height};
    if (params->devices) p.pipeline.devices = params->devices;
    p.pipeline.residency = params->residency == NM_RESIDENCY_ON_DEMAND ? nm::Residency::on_demand : nm::Residency::keep;
    auto r = nm::TextSession::create(*model.bricks, p);
    if (!r.ok()) return report(s.get(), r.status());
    s->session = std::move(r).value();
    s->chat_template = s->session->chat_template_name();
    return NM_OK;
  });
  if (st != NM_OK) {
    copy_message(s->last_error.empty() ? "cannot create a session" : s->last_error, err, err_size);
    return st;
  }
  copy_message("", err, err_size);
  *out = s.release();
  return NM_OK;
}

void nm_session_free(nm_session* session) { delete session; }

nm_status nm_session_trace_start(nm_session* s) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session"));
    s->trace = std::make_unique<nm::Trace>();
    s->session->pipeline().set_trace(s->trace.get());
    return NM_OK;
  });
}

nm_status nm_session_trace_write(nm_session* s, const char* path) {
  return guarded(s, [&]() -> nm_status {
    if (!path || !*path) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no trace file path"));
    if (!s->trace) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument, "nothing is traced: call nm_session_trace_start first"));
    }
    nm::Status st = s->trace->write(path);
    return st.ok() ? NM_OK : report(s, st);
  });
}

const char* nm_session_last_error(const nm_session* session) { return session ? session->last_error.c_str() : ""; }

uint64_t nm_session_seed(const nm_session* session) { return session ? session->seed : 0; }

const char* nm_session_chat_template(const nm_session* session) {
  return session && session->session ? session->chat_template.c_str() : "";
}

nm_status nm_session_chat(nm_session* s, const char* user_message, int32_t n_predict, nm_token_callback cb,
                          void* user_data) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !user_message) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session or message"));
    if (*user_message == '\0') return report(s, nm::error(nm::ErrorCode::invalid_argument, "the message is empty"));
    NM_RETURN_IF_ERROR_AS(s, check_n_predict(n_predict));
    return report(s, s->session->chat(user_message, n_predict, wrap(cb, user_data)));
  });
}

nm_status nm_session_chat_images(nm_session* s, const char* user_message, const nm_image* images, int32_t n_images,
                                 int32_t n_predict, nm_token_callback cb, void* user_data) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !user_message || n_images < 0 || (n_images > 0 && !images)) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session, message or images"));
    }
    NM_RETURN_IF_ERROR_AS(s, check_n_predict(n_predict));
    std::vector<nm::Image> decoded;
    for (int32_t i = 0; i < n_images; ++i) {
      auto img = decode(images[i]);
      if (!img.ok()) return report(s, img.status());
      decoded.push_back(std::move(img).value());
    }
    return report(s, s->session->chat(user_message, decoded, n_predict, wrap(cb, user_data)));
  });
}

nm_status nm_session_encode_image(nm_session* s, const nm_image* image, float* out, int64_t max_floats,
                                  int32_t* n_tokens, int32_t* n_embd) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !image || !n_tokens || !n_embd || max_floats < 0) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session, image or output counts"));
    }
    auto img = decode(*image);
    if (!img.ok()) return report(s, img.status());
    nm::Pipeline& pipe = s->session->pipeline();
    // The token count is known before encoding: a too-small buffer is refused without work.
    auto plan = pipe.plan_image(img->width, img->height);
    if (!plan.ok()) return report(s, plan.status());
    *n_tokens = plan->n_tokens;
    *n_embd = pipe.models().vision->hparams().n_embd_out;
    const int64_t n_floats = (int64_t)*n_tokens * *n_embd;
    if (!out || n_floats > max_floats) {
      return report(s, nm::error(nm::ErrorCode::out_of_range, "the image has " + std::to_string(*n_tokens) + " x " +
                                                                  std::to_string(*n_embd) + " embedding floats; out holds " +
                                                                  std::to_string(out ? max_floats : 0)));
    }
    // Written straight into the caller's buffer.
    return report(s, pipe.encode_image_into(img.value(), plan.value(), std::span<float>(out, (size_t)n_floats)));
  });
}

nm_status nm_session_complete(nm_session* s, const char* text, int32_t n_predict, nm_token_callback cb,
                              void* user_data) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !text) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session or text"));
    if (*text == '\0') return report(s, nm::error(nm::ErrorCode::invalid_argument, "the prompt is empty"));
    NM_RETURN_IF_ERROR_AS(s, check_n_predict(n_predict));
    return report(s, s->session->complete(text, n_predict, wrap(cb, user_data)));
  });
}

void nm_session_reset(nm_session* s) {
  if (s && s->session) s->session->reset();
}

nm_status nm_session_set_power_mode(nm_session* s, int32_t mode, int32_t n_threads) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session"));
    if (mode != NM_POWER_PARALLEL && mode != NM_POWER_THROTTLED && mode != NM_POWER_ON_DEMAND) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument,
                                 "power mode " + std::to_string(mode) + ": NM_POWER_PARALLEL, _THROTTLED or _ON_DEMAND"));
    }
    nm::Pipeline& p = s->session->pipeline();
    NM_RETURN_IF_ERROR_AS(s, p.set_threads(n_threads));
    p.set_residency(mode == NM_POWER_ON_DEMAND ? nm::Residency::on_demand : nm::Residency::keep);
    return NM_OK;
  });
}

nm_status nm_session_eval(nm_session* s, const int32_t* tokens, int32_t n) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !tokens || n <= 0) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no tokens"));
    return report(s, s->session->eval(std::vector<int32_t>(tokens, tokens + n)));
  });
}

nm_status nm_session_sample(nm_session* s, int32_t* token) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !token) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session or output"));
    auto r = s->session->sample();
    if (!r.ok()) return report(s, r.status());
    *token = r.value();
    return NM_OK;
  });
}

nm_status nm_session_get_logits(nm_session* s, float* out, int32_t n) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !out) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session or output"));
    const int32_t n_vocab = s->model->bricks->text->hparams().n_vocab;
    if (n < n_vocab) {
      return report(s, nm::error(nm::ErrorCode::out_of_range, "the vocabulary has " + std::to_string(n_vocab) +
                                                                  " logits; out holds " + std::to_string(n)));
    }
    auto r = s->session->last_logits();
    if (!r.ok()) return report(s, r.status());
    std::memcpy(out, r.value(), (size_t)n_vocab * sizeof(float));
    return NM_OK;
  });
}

int32_t nm_session_n_past(const nm_session* s) { return s && s->session ? s->session->n_past() : 0; }
int32_t nm_session_n_ctx(const nm_session* s) { return s && s->session ? s->session->n_ctx() : 0; }

nm_status nm_session_get_timings(const nm_session* s, nm_timings* out) {
  if (!s || !out) return NM_ERR_INVALID_ARGUMENT;
  *out = {};
  out->load_ms = s->model ? s->model->load_ms : 0;
  if (!s->session) return NM_OK;
  const nm::TextTimings& t = s->session->timings();
  out->n_images = t.n_images;
  out->preprocess_ms = t.preprocess_ms;
  out->vision_ms = t.vision_ms;
  out->n_prompt_tokens = t.n_prompt_tokens;
  out->prompt_ms = t.prompt_ms;
  out->n_generated = t.n_generated;
  out->generate_ms = t.generate_ms;
  std::snprintf(out->text_device, sizeof out->text_device, "%s", s->session->text_device_name().c_str());
  if (s->model && s->model->bricks->vision) {
    std::snprintf(out->vision_device, sizeof out->vision_device, "%s", s->session->vision_device_name().c_str());
  }
  out->first_token_ms = t.first_token_ms;
  return NM_OK;
}

nm_status nm_image_probe(const uint8_t* data, size_t size, int32_t* width, int32_t* height) {
  if (!width || !height) return NM_ERR_INVALID_ARGUMENT;
  *width = *height = 0;
  int w = 0, h = 0;
  const nm::Status st = nm::probe_image(data, size, &w, &h);
  if (!st.ok()) return to_c(st.code());
  *width = w;
  *height = h;
  return NM_OK;
}

nm_generate_params nm_generate_default_params(void) {
  nm_generate_params p{};
  p.n_predict = 128;
  p.sampling = nm_session_default_params().sampling;
  p.stop = nullptr;
  p.n_stop = 0;
  p.ignore_eos = 0;
  return p;
}

nm_status nm_session_begin_chat(nm_session* s, const nm_chat_message* messages, int32_t n_messages,
                                const nm_image_bytes* images, int32_t n_images, const nm_generate_params* params) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !messages || n_messages <= 0 || n_images < 0 || (n_images > 0 && !images)) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session, messages or images"));
    }
    auto gp = to_generation(params);
    if (!gp.ok()) return report(s, gp.status());
    std::vector<nm::ChatMessage> msgs;
    int64_t images_named = 0;
    for (int32_t i = 0; i < n_messages; ++i) {
      const nm_chat_message& m = messages[i];
      if (!m.role || !m.content || m.n_images < 0) {
        return report(s, nm::error(nm::ErrorCode::invalid_argument, "message " + std::to_string(i) +
                                                                        " has no role or content, or a negative image count"));
      }
      images_named += m.n_images;
      msgs.push_back({m.role, m.content, m.n_images});
    }
    if (images_named != n_images) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument, "the messages name " + std::to_string(images_named) +
                                                                      " images, but " + std::to_string(n_images) +
                                                                      " were given"));
    }
    std::vector<nm::Image> decoded;
    for (int32_t i = 0; i < n_images; ++i) {
      auto img = nm::decode_image(images[i].data, images[i].data ? images[i].size : 0, "image " + std::to_string(i + 1));
      if (!img.ok()) return report(s, img.status());
      decoded.push_back(std::move(img).value());
    }
    s->n_prompt = 0;
    const nm::Status st = s->session->begin_chat(msgs, decoded, gp.value());
    if (st.ok()) s->n_prompt = s->session->n_past();
    return report(s, st);
  });
}

nm_status nm_session_begin_completion(nm_session* s, const char* prompt, const nm_generate_params* params) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !prompt) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session or prompt"));
    auto gp = to_generation(params);
    if (!gp.ok()) return report(s, gp.status());
    s->n_prompt = 0;
    const nm::Status st = s->session->begin_completion(prompt, gp.value());
    if (st.ok()) s->n_prompt = s->session->n_past();
    return report(s, st);
  });
}

nm_status nm_session_next(nm_session* s, const char** piece, int32_t* token, nm_finish* finished) {
  return guarded(s, [&]() -> nm_status {
    if (!s->session || !piece || !token || !finished) {
      return report(s, nm::error(nm::ErrorCode::invalid_argument, "no session or outputs"));
    }
    *piece = "";
    *token = -1;
    *finished = NM_FINISH_STOP;
    auto r = s->session->next();
    if (!r.ok()) return report(s, r.status());
    s->piece = std::move(r.value().piece);
    *piece = s->piece.c_str();
    *token = r.value().token;
    *finished = r.value().finished == nm::FinishReason::none   ? NM_FINISH_NONE
                : r.value().finished == nm::FinishReason::stop ? NM_FINISH_STOP
                                                                : NM_FINISH_LENGTH;
    return NM_OK;
  });
}

nm_status nm_sessions_decode(nm_session* const* sessions, int32_t n) {
  if (n < 0 || (n > 0 && !sessions)) return NM_ERR_INVALID_ARGUMENT;
  std::vector<nm::TextSession*> list;
  for (int32_t i = 0; i < n; ++i) {
    if (!sessions[i] || !sessions[i]->session) return NM_ERR_INVALID_ARGUMENT;
    list.push_back(sessions[i]->session.get());
  }
  if (list.empty()) return NM_OK;
  // The error is recorded on every session: the caller cannot tell whose token failed.
  const nm_status st =
      guarded(sessions[0], [&]() -> nm_status { return report(sessions[0], nm::TextSession::decode_pending(list)); });
  if (st != NM_OK) {
    for (int32_t i = 1; i < n; ++i) sessions[i]->last_error = sessions[0]->last_error;
  }
  return st;
}

void nm_session_usage(const nm_session* s, int32_t* n_prompt, int32_t* n_generated) {
  if (n_prompt) *n_prompt = s ? s->n_prompt : 0;
  if (n_generated) *n_generated = s && s->session ? s->session->timings().n_generated : 0;
}

nm_status nm_session_get_energy(const nm_session* s, nm_energy* out) {
  if (!s || !out) return NM_ERR_INVALID_ARGUMENT;
  *out = {};
  if (!s->session) return NM_OK;
  const nm::energy::EnergyReport& r = s->session->energy();
  if (!r.valid) return NM_OK;
  using nm::energy::EnergyPhase;
  out->valid = 1;
  out->measured = r.measured ? 1 : 0;
  out->joules = r.joules;
  out->seconds = r.seconds;
  out->vision_joules = r.phase(EnergyPhase::vision).joules;
  out->prefill_joules = r.phase(EnergyPhase::prefill).joules;
  out->decode_joules = r.phase(EnergyPhase::decode).joules;
  out->prefill_joules_per_token = r.phase(EnergyPhase::prefill).joules_per_token();
  out->decode_joules_per_token = r.phase(EnergyPhase::decode).joules_per_token();
  std::snprintf(out->source, sizeof out->source, "%s", r.source.c_str());
  return NM_OK;
}

int nm_default_threads(void) { return nm::default_thread_count(); }

double nm_measure_read_bandwidth(int n_threads) {
  if (n_threads < 0 || n_threads > NM_MAX_THREADS) return 0;
  try {
    nm::ThreadPool pool(n_threads > 0 ? n_threads : nm_default_threads());
    return nm::measure_read_bandwidth(pool, (size_t)512 << 20);
  } catch (...) {
    return 0;
  }
}

// ---- streams -------------------------------------------------------------------------

nm_stream_params nm_stream_default_params(void) {
  nm_stream_params p{};
  p.question = nullptr;
  p.every = 1;
  p.n_predict = 64;
  p.sequential = 0;
  p.drop_frames = 0;
  p.max_frames = 0;
  p.copy_embeddings = 0;
  p.battery = nullptr;
  p.power_mode = nullptr;
  p.ignore_eos = 0;
  p.t_high = 0;
  p.t_low = 0;
  p.watch = 0;
  p.watch_fd = -1;
  p.replan = 0;
  return p;
}

}  // extern "C"

namespace {

// Re-planning on this machine's profile (calibrated, else the built-in estimate) over the
// devices the session's pipeline has.
nm::Result<std::shared_ptr<nm::StreamReplan>> stream_replan(nm::Pipeline& pipe, const nm::FrameStreamParams& p,
                                                            bool print) {
  const std::vector<nm::Device*> devices = pipe.devices();
  NM_ASSIGN_OR_RETURN(nm::plan::MachineProfile mp,
                      nm::plan::machine_profile(devices, static_cast<int64_t>(std::time(nullptr))));
  nm::StreamReplanParams rp;
  rp.profile = std::move(mp.profile);
  // Only devices the pipeline already has (none named: it stays where it is).
  for (const nm::Device* d : devices) rp.devices.push_back(d->name());
  if (rp.devices.empty()) rp.devices = {pipe.vision_device_name(), pipe.text_device_name()};
  rp.answer_tokens = p.n_predict;
  if (print) {
    std::fprintf(stderr, "nanomind: re-planning on the %s profile (%s)\n", rp.profile.name.c_str(), mp.source.c_str());
  } else {
    rp.log = [](const std::string&) {};
  }
  NM_ASSIGN_OR_RETURN(std::unique_ptr<nm::StreamReplan> r, nm::StreamReplan::create(pipe, std::move(rp)));
  return std::shared_ptr<nm::StreamReplan>(std::move(r));
}

nm::Result<nm::FrameStreamParams> stream_params(nm_session* s, const nm_stream_params* params) {
  if (!s->session) return nm::error(nm::ErrorCode::invalid_argument, "no session");
  if (!params || !params->question || !*params->question) {
    return nm::error(nm::ErrorCode::invalid_argument, "a stream needs a question (nm_stream_params.question)");
  }
  if (params->every < 0 || params->n_predict < 0 || params->max_frames < 0) {
    return nm::error(nm::ErrorCode::invalid_argument, "every, n_predict and max_frames must not be negative");
  }
  nm::FrameStreamParams p;
  p.question = params->question;
  p.every = params->every > 0 ? params->every : 1;
  p.n_predict = params->n_predict > 0 ? params->n_predict : 64;
  p.pipelined = params->sequential == 0;
  p.copy_embeddings = params->copy_embeddings != 0;
  p.ignore_eos = params->ignore_eos != 0;
  if (nm::TokenRing* ring = s->session->pipeline().ring()) {
    ring->set_policy(params->drop_frames ? nm::Backpressure::drop_oldest : nm::Backpressure::block);
  }
  if (params->replan < 0 || params->replan > 2) {
    return nm::error(nm::ErrorCode::invalid_argument, "replan must be 0 (off), 1 (on) or 2 (on, each decision printed)");
  }
  if (params->replan) {
    NM_ASSIGN_OR_RETURN(p.replan, stream_replan(s->session->pipeline(), p, params->replan == 2));
  }
  return p;
}

nm::Result<StreamPower> stream_power(const nm_stream_params* params) {
  StreamPower p;
  if (params->battery && *params->battery) {
    NM_ASSIGN_OR_RETURN(nm::energy::BatterySpec spec, nm::energy::parse_battery_spec(params->battery));
    NM_ASSIGN_OR_RETURN(p.battery, nm::energy::open_battery(spec, ""));
    p.on = p.battery != nullptr;
  }
  if (params->power_mode && *params->power_mode) {
    NM_ASSIGN_OR_RETURN(p.options.policy.choice, nm::energy::parse_power_mode(params->power_mode));
    p.on = p.on || p.options.policy.choice != nm::energy::PowerModeChoice::automatic;
  }
  if (params->t_high != 0 || params->t_low != 0) {
    p.options.policy.t_high = params->t_high / 100;
    p.options.policy.t_low = params->t_low / 100;
  }
  NM_RETURN_IF_ERROR(nm::energy::PowerPolicy::create(p.options.policy).status());  // refused before the stream starts
  return p;
}

void deliver(nm_answer_callback cb, void* user, const nm::FrameAnswer& a, const nm::PowerState* power) {
  if (!cb) return;
  const std::string text = a.status.ok() ? a.text : a.status.to_string();
  nm_frame_answer c{};
  c.frame = (int64_t)a.frame;
  c.name = a.name.c_str();
  c.status = to_c(a.status.code());
  c.text = text.c_str();
  c.dropped = a.dropped ? 1 : 0;
  c.n_generated = a.n_generated;
  c.vision_ms = a.vision_ms;
  c.prefill_ms = a.prefill_ms;
  c.decode_ms = a.decode_ms;
  c.done_ms = a.done_ms;
  c.power_mode = power ? (int32_t)power->mode : NM_POWER_NONE;
  c.battery_level = power ? power->level : NAN;
  cb(&c, user);
}

// The stream over `source`, under the power policy when it has one.
nm::Result<StreamRun> run_stream(nm_session* s, nm::FrameSource& source, const nm::FrameStreamParams& params,
                                 StreamPower& power, nm_answer_callback cb, void* user) {
  StreamRun run;
  if (!power.on) {
    NM_ASSIGN_OR_RETURN(run.stream, nm::run_frame_stream(*s->session, source, params, [&](const nm::FrameAnswer& a) {
      deliver(cb, user, a, nullptr);
    }));
    return run;
  }
  nm::PoweredStreamParams pp;
  pp.stream = params;
  pp.power = power.options;
  NM_ASSIGN_OR_RETURN(nm::PoweredStreamStats st,
                      nm::run_powered_stream(*s->session, source, pp, power.battery.get(), s->model->energy.get(),
                                             [&](const nm::FrameAnswer& a, const nm::PowerState& ps) {
                                               deliver(cb, user, a, &ps);
                                             }));
  run.stream = st.stream;
  run.power = st;
  return run;
}

void fill_stats(nm_session* s, const StreamRun& run, nm_stream_stats* out) {
  if (!out) return;
  *out = {};
  const nm::FrameStreamStats& st = run.stream;
  out->asked = st.asked;
  out->answered = st.answered;
  out->failed = st.failed;
  out->dropped = st.dropped;
  out->first_answer_ms = st.first_answer_ms;
  out->total_ms = st.total_ms;
  out->bytes_copied_between_bricks = s->session->pipeline().bytes_copied_between_bricks();
  if (run.power) {
    const nm::PoweredStreamStats& p = *run.power;
    for (int m = 0; m < 3; ++m) {
      out->answered_per_mode[m] = p.answered[m];
      out->joules_per_mode[m] = p.power.joules[m];
      out->seconds_per_mode[m] = p.power.seconds[m];
    }
    out->skipped = p.skipped;
    out->mode_changes = p.mode_changes;
    out->battery_empty = p.battery_empty ? 1 : 0;
    out->energy_measured = p.power.measured ? 1 : 0;
  }
}

}  // namespace

extern "C" {

nm_status nm_session_run_stream(nm_session* s, const char* source, const nm_stream_params* params, nm_answer_callback cb,
                                void* user_data, nm_stream_stats* stats) {
  return guarded(s, [&]() -> nm_status {
    auto p = stream_params(s, params);
    if (!p.ok()) return report(s, p.status());
    if (!source) return report(s, nm::error(nm::ErrorCode::invalid_argument, "no stream source (a folder or /dev/videoN)"));
    auto power = stream_power(params);
    if (!power.ok()) return report(s, power.status());
    if (params->watch_fd < -1) return report(s, nm::error(nm::ErrorCode::invalid_argument, "watch_fd must be a descriptor or -1"));
    auto src = params->watch ? nm::open_watched_folder_source(source, params->watch_fd, params->max_frames)
                             : nm::open_frame_source(source, params->max_frames);
    if (!src.ok()) return report(s, src.status());
    auto r = run_stream(s, *src.value(), p.value(), power.value(), cb, user_data);
    if (!r.ok()) return report(s, r.status());
    fill_stats(s, r.value(), stats);
    return NM_OK;
  });
}

nm_status nm_stream_begin(nm_session* s, const nm_stream_params* params, nm_answer_callback cb, void* user_data,
                          nm_stream** out) {
  if (!out) return NM_ERR_INVALID_ARGUMENT;
  *out = nullptr;
  return guarded(s, [&]() -> nm_status {
    auto p = stream_params(s, params);
    if (!p.ok()) return report(s, p.status());
    if (!s->session->pipeline().has_vision()) return report(s, s->session->pipeline().plan_image(1, 1).status());
    auto power = stream_power(params);
    if (!power.ok()) return report(s, power.status());
    auto st = std::make_unique<nm_stream>();
    st->power = std::move(power).value();
    st->session = s;
    st->params = p.value();
    st->cb = cb;
    st->user = user_data;
    nm_stream* raw = st.get();
    raw->runner = std::thread([raw] {
      try {
        raw->result = run_stream(raw->session, raw->source, raw->params, raw->power, raw->cb, raw->user);
      } catch (const std::exception& e) {
        raw->result = nm::error(nm::ErrorCode::internal, std::string("internal error: ") + e.what());
      }
    });
    *out = st.release();
    return NM_OK;
  });
}

nm_status nm_stream_push(nm_stream* stream, const nm_image* image, const char* name) {
  if (!stream || !image) return NM_ERR_INVALID_ARGUMENT;
  try {
    stream->source.push(name ? name : "", decode(*image));
    return NM_OK;
  } catch (const std::bad_alloc&) {
    return NM_ERR_OUT_OF_MEMORY;
  } catch (...) {
    return NM_ERR_INTERNAL;
  }
}

nm_status nm_stream_end(nm_stream* stream, nm_stream_stats* stats) {
  if (!stream) return NM_ERR_INVALID_ARGUMENT;
  std::unique_ptr<nm_stream> owned(stream);
  owned->source.close();
  if (owned->runner.joinable()) owned->runner.join();
  nm_session* s = owned->session;
  if (!owned->result.ok()) {
    s->last_error = owned->result.status().to_string();
    return to_c(owned->result.status().code());
  }
  fill_stats(s, owned->result.value(), stats);
  return NM_OK;
}

}  // extern "C"

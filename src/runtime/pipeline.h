// Pipeline: the bricks of one multimodal model assembled for running — the one place
// where image -> text is put together (the C API's sessions, the CLI through them, the
// test shim and the benchmarks all use it). It owns what model code must not know about:
// the devices each brick is placed on (--device), the thread pool of the default CPU
// placement, the packed weight copies (shared per model through PipelineModels), the
// token ring between the vision and text bricks, and the runtime side of each brick
// (ImageEncoder, TextContext).
//
// The flow of an image question:
//   encode_image(): plan (token count known before running) -> ring slot FREE -> WRITING
//   -> the vision graph writes its embeddings straight into the slot -> READY;
//   the text brick takes the slot (READING), its prefill graph reads the embeddings in
//   place (TextContext::eval_embeddings), and release_image() frees it.
// On the CPU and on OpenCL (which imports the ring whole) no byte is copied between the
// bricks: bytes_copied_between_bricks() counts any that were.
// Thread-safety: one thread uses the text brick (prefill, append, clear) and one the vision
// brick (plan/encode_*) at a time; the two may be different threads (a stream's workers).
// Bricks on the default placement share pool(), so their runs are serialised.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "backend/cpu/packed_weights.h"
#include "backend/cpu/cpu_topology.h"
#include "backend/device_registry.h"
#include "bricks/text/text_model.h"
#include "bricks/vision/mmproj.h"
#include "core/image.h"
#include "core/thread_pool.h"
#include "runtime/image_encoder.h"
#include "runtime/multimodal_prompt.h"
#include "runtime/text_context.h"
#include "runtime/token_ring.h"
#include "runtime/trace.h"

namespace nm {

// How long a brick's weights stay in memory. keep: loaded (mapped, packed) on first use and
// held until the pipeline ends. on_demand: mapped and packed when the brick is about to
// run and given back after (Pipeline::release_vision / release_text), so two bricks that
// take turns (a sequential stream) are never both at their peak: less memory,
// at the price of re-reading (and re-packing) the weights and re-evaluating the prompt on
// every run. A pipelined stream overlaps the bricks, and both are resident while it does.
enum class Residency : uint8_t { keep, on_demand };
const char* residency_name(Residency r);  // "keep", "on-demand"
Result<Residency> parse_residency(const std::string& text);

// The loaded bricks of a model, read-only and shared by every pipeline (session) made from
// it, with one packed CPU copy of each brick's weights (made on first use).
struct PipelineModels {
  std::unique_ptr<TextModel> text;
  std::unique_ptr<MmprojModel> vision;  // null: text only
  std::shared_ptr<PackedWeights> packed_text, packed_vision;

  // mmproj_path "" = text only. Errors name the file.
  static Result<std::unique_ptr<PipelineModels>> load(const std::string& text_path, const std::string& mmproj_path);
  // Models loaded elsewhere (tests); checks that they fit together.
  static Result<std::unique_ptr<PipelineModels>> from_bricks(std::unique_ptr<TextModel> text,
                                                             std::unique_ptr<MmprojModel> vision);
  // The bricks, in pipeline order (vision first).
  std::vector<const Brick*> bricks() const;
};

struct PipelineParams {
  int n_ctx = 0;                 // 0 = the model's training context, capped at 4096
  DType kv_type = DType::F16;
  int n_batch = 512;             // longest prefill chunk run as one graph
  Isa isa = best_isa();
  bool pack_weights = true;      // packed CPU copies of Q4_0/Q8_0 matrices (TextContextParams)
  int n_threads = 0;             // threads of the default CPU placement; 0 = one per core
  ImageSizing image_sizing;      // static-shape vision input, or the model's own tiling
  std::string devices;           // --device: "" | NAME | BRICK=NAME,... (runtime/device_placement.h)
  std::string cpu_clusters = cpu_clusters_from_env();  // "0|1": CPU devices cpu:0, cpu:1 (NM_CPU_CLUSTERS)
  // Devices to place bricks on, owned by the caller and outliving the pipeline (tests wrap
  // devices this way); null: the machine's, found when a device is named.
  const DeviceRegistry* registry = nullptr;
  int ring_slots = 2;            // token-ring slots between vision and text
  Backpressure ring_policy = Backpressure::block;
  Residency residency = Residency::keep;
  // On demand, the packed copies each brick owns live in an unlinked file in this folder
  // ("" = the user's cache folder, $XDG_CACHE_HOME/nanomind, else ~/.cache/nanomind): given
  // back, they leave the resident set and stay in the page cache, so the next run maps them
  // instead of reading and packing the weights again. false, or a folder that cannot hold
  // the file (tmpfs, full, read-only): anonymous copies, freed and packed again each run.
  bool spill_packed = true;
  std::string packed_spill_dir;
};

class Pipeline {
 public:
  static Result<std::unique_ptr<Pipeline>> create(const PipelineModels& models, const PipelineParams& params);

  const PipelineModels& models() const { return models_; }
  const PipelineParams& params() const { return params_; }
  bool has_vision() const { return models_.vision != nullptr; }  // constant: read from any worker
  TextContext& text() { return *text_; }
  const TextContext& text() const { return *text_; }
  ImageEncoder* vision() { return image_.get(); }
  TokenRing* ring() { return ring_.get(); }
  // The pool the default placement's runs use now (set_threads may make it a smaller one).
  ThreadPool& pool() { return *pool_; }

  // ---- the vision brick
  // How an image of this size is encoded, and its token count (before running).
  Result<ImagePlan> plan_image(int width, int height) const;
  // Encodes `image` into a ring slot and commits it (READY); `tag` labels the slot (e.g.
  // a frame number). The text brick takes it with take_image(), frees it with release_image().
  // commit = false leaves the slot WRITING for the caller to commit (ring()->commit()).
  Result<int> encode_image(const Image& image, uint64_t tag = 0, ImageTimings* timings = nullptr, bool commit = true);
  // An image already preprocessed (planar normalised RGB at the encoder's input size: the
  // reference tests' own preprocessing) into a ring slot, committed.
  Result<int> encode_planar(const EncoderInput& input, uint64_t tag = 0);
  // The vision brick alone, into caller memory (plan.n_tokens x n_embd floats).
  Status encode_image_into(const Image& image, const ImagePlan& plan, std::span<float> out,
                           ImageTimings* timings = nullptr);
  // READY -> READING: the oldest encoded image's embeddings, read in place.
  Result<int> take_image();
  std::span<const float> image_embeddings(int slot) const;
  Status release_image(int slot);

  // ---- the text brick's context
  // Hands prefill the ring slot holding image `id`'s embeddings (a PromptPosition::image),
  // taken for reading (READING): encode_image() + take_image() in a serial pipeline, the
  // slot another thread encoded in a stream. prefill releases it.
  using ImageSource = std::function<Result<int>(int32_t id)>;
  // Makes the context hold exactly `positions`: keeps the longest prefix it already holds,
  // evaluates the rest (token runs in batches, image rows read in place from their ring
  // slot, each image encoded once per call) and returns the index of the first position
  // evaluated. At least the last position is evaluated, so there are logits to sample.
  // On failure the context holds a prefix of `positions`.
  Result<size_t> prefill(std::span<const PromptPosition> positions, const ImageSource& images);
  // Appends tokens (decode, or low-level evaluation); all_logits as TextContext.
  Status append(std::span<const int32_t> tokens, bool all_logits = false);
  // Continuous batching: appends tokens[i] to pipes[i]'s context, all in one forward pass
  // of the text brick (TextContext::eval_batch; the weights are read once for all), run on
  // pipes[0]'s threads. Needs can_batch(pipes).
  static Status append_batch(std::span<Pipeline* const> pipes, std::span<const int32_t> tokens);
  // True when the pipelines are distinct, run the text brick on the default CPU placement
  // and share its model and context shape.
  static bool can_batch(std::span<Pipeline* const> pipes);
  // The positions the context holds, in order.
  const std::vector<PromptPosition>& positions() const { return positions_; }
  void clear();

  // ---- residency
  // Give back what a brick holds (weights, packed copies, prepared graphs; the text brick
  // also its KV cache, except the positions before the conversation's first picture — a
  // camera stream's shared opening, a few hundred KiB — which the next prefill reuses; a
  // conversation without a picture keeps nothing). on_demand calls them after each run;
  // callers may call them any time the brick is idle.
  void release_vision();
  void release_text();

  // ---- power modes (runtime/powered_stream.h): called between runs, never during one.
  // Runs on the default CPU placement use `n_threads` threads from now on (1 to the
  // pool's size; kernels give the same bits for any count). Bricks placed on a named
  // device keep that device's threads.
  Status set_threads(int n_threads);
  // From now on each brick is kept or given back after each run; on_demand gives both
  // back at once. A pipeline created with keep shares the model's packed weight copies
  // (quantised weights on a CPU) with its other sessions: on_demand then gives back this
  // pipeline's mappings, graphs and KV cache, and the shared copies stay with the model;
  // create the pipeline with on_demand to own (and give back) its copies too.
  void set_residency(Residency residency);

  // ---- re-placement (re-planning, runtime/stream_replan.h): the brick moves to device
  // `name` ("" = the default CPU executor; a name as --device takes). Called by the thread
  // that runs the brick, between its runs: its prepared graphs (and, for text, its KV cache:
  // the next prefill evaluates the whole prompt) are dropped and made again on the new
  // device, which imports the token ring as the old one did, so slots already encoded or
  // being encoded are read and written in place across the move. The other brick is
  // untouched. On error the brick stays where it was.
  Status move_vision(const std::string& name);
  Status move_text(const std::string& name);
  // The devices bricks may be placed on without probing again: params.registry's, or those
  // of the registries made for the names given so far (none on the default placement).
  std::vector<Device*> devices() const;

  // ---- tracing: brick runs and ring hand-offs are recorded into `trace` (null: none).
  void set_trace(Trace* trace) { trace_ = trace; }
  Trace* trace() const { return trace_; }

  // ---- placement and accounting
  std::string text_device_name() const;
  std::string vision_device_name() const;
  // The devices the bricks run on (nullptr: the default CPU executor on pool()).
  Device* text_device() const { return text_device_.load(); }
  Device* vision_device() const { return vision_device_.load(); }
  // "cpu" / "gpu" / "npu" of each brick's device, for the energy estimate (PoCL: "cpu").
  std::string text_device_kind() const;
  std::string vision_device_kind() const;
  // Bytes of embeddings moved between the bricks by copying (0 when everything ran in place).
  size_t bytes_copied_between_bricks() const;

 private:
  Pipeline(const PipelineModels& models, const PipelineParams& params, int n_threads)
      : models_(models), params_(params), full_pool_(n_threads) {}
  Status place();
  // The device called `name` ("" = nullptr, the default executor), from params.registry or
  // a registry of the machine's own, made (and kept) when a name first needs one.
  Result<Device*> find_device(const std::string& name);
  Result<std::unique_ptr<ImageEncoder>> make_vision(Device* device) const;
  Result<std::unique_ptr<TextContext>> make_text(Device* device) const;

  const PipelineModels& models_;
  PipelineParams params_;
  // Registries of the machine's devices made here (each probes what a name needed: OpenCL
  // only for a non-CPU name); kept while a brick may run on one of their devices.
  std::vector<std::unique_ptr<DeviceRegistry>> registries_;
  // nullptr: the CPU executor on pool_. Atomic: a brick moves on its own worker thread
  // while the other worker reads where it is (the shared-pool test, trace names).
  std::atomic<Device*> text_device_{nullptr};
  std::atomic<Device*> vision_device_{nullptr};
  std::vector<MemoryRegion> regions_;  // the ring's memory, imported by both bricks' graphs
  std::string spill_dir_;              // on demand: where packed copies are spilled ("" keeps them in memory)
  ThreadPool full_pool_;                    // params.n_threads workers
  std::unique_ptr<ThreadPool> fewer_pool_;  // set_threads below full_pool_'s size
  ThreadPool* pool_ = &full_pool_;          // what runs use now
  // Held while a brick on the default placement uses pool_ (recursive: prefill may encode).
  std::recursive_mutex pool_mu_;
  std::unique_ptr<TokenRing> ring_;  // before the bricks: their graphs import its memory
  std::unique_ptr<ImageEncoder> image_;
  std::unique_ptr<TextContext> text_;
  std::vector<PromptPosition> positions_;  // what text_'s KV cache holds
  Trace* trace_ = nullptr;
  // The hand-off arrow of each ring slot's current contents (written by the producer
  // before commit, read by the consumer after taking the slot: the ring orders them).
  std::vector<uint64_t> slot_flow_;
};

}  // namespace nm

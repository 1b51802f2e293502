// BrickRunner: where and how one brick's graphs run — the runtime's business, never the
// brick's. It holds the brick's placement (a device, or the default CPU executor on the
// caller's pool, with its kernel ISA), the packed CPU copies of its weights (shared per
// model, or its own), and the memory its graphs may be re-pointed into after they are
// prepared (the token ring); prepare() turns a brick graph into a GraphRunner there.
// TextContext, VisionEncoder, WhisperEncoder and WhisperDecoder each own one.
// Not thread-safe: one per brick per session.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/graph_runner.h"
#include "core/gguf_reader.h"
#include "graph/graph.h"

namespace nm {

struct BrickRunParams {
  Device* device = nullptr;  // where the graphs run; nullptr: the CPU executor on the caller's pool
  Isa isa = best_isa();      // kernels of the default CPU executor
  // On a CPU, run Q4_0/Q8_0 matrices from packed (row-interleaved) copies made on first
  // use, whose file pages are then released (backend/cpu/packed_weights.h).
  bool pack_weights = true;
  // With pack_weights: copies shared with other runners of the same model file (one per
  // model, not per session); null: this runner makes its own.
  std::shared_ptr<PackedWeights> packed;
  // Memory external nodes are re-pointed into after prepare (the token ring): devices that
  // import memory at prepare import these regions whole (Graph::add_region).
  std::vector<MemoryRegion> regions;
  // Copies this runner makes itself (no `packed` given) are kept in an unlinked file in
  // this folder (on-demand residency: release() then only advises them away, and the next
  // run maps them back from the page cache instead of reading and packing the weights
  // again); "": anonymous memory, freed by release().
  std::string packed_spill_dir;
  // On a CPU, each run gives a weight back as soon as its last reader has run (the model
  // file's pages, and packed copies where they are spilled to packed_spill_dir): for a
  // brick that reads every weight once per run, on on-demand residency, so that about one
  // layer is resident at a time (backend/cpu/cpu_executor.h, WeightStreaming).
  bool stream_weights = false;
};

class BrickRunner {
 public:
  // `file`: the brick's model file, whose weights may be packed.
  BrickRunner(const GgufFile& file, const BrickRunParams& params);
  // A brick whose weights are not pages of a mapped model file (Whisper copies its files
  // into an arena): packed copies only when params.packed is given.
  explicit BrickRunner(const BrickRunParams& params);

  Result<std::unique_ptr<GraphRunner>> prepare(Graph graph) const;
  Device* device() const { return params_.device; }
  // Gives the brick's weights back (on-demand residency): the packed copies this runner
  // owns leave the resident set — advised away when they are file-backed (packed_spill_dir),
  // freed otherwise — (shared ones are left to their other users) and the pages of the model
  // file mapped into this process are advised away (MADV_DONTNEED: they are re-read from
  // the page cache when next touched); a runner without a file frees its own copies only. The graphs prepared from this runner must be
  // dropped first: they point into the packed copies.
  void release();
  // Bytes of weights running from packed CPU copies so far (0 without packing).
  size_t packed_bytes() const { return packed_ ? packed_->packed_bytes() : 0; }

 private:
  const GgufFile* file_ = nullptr;  // null: weights not mapped from a GGUF (nothing to advise away)
  BrickRunParams params_;
  std::shared_ptr<PackedWeights> packed_;  // null when not packing
};

}  // namespace nm

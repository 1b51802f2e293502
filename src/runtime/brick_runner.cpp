#include "runtime/brick_runner.h"

#include <sys/mman.h>
#include <unistd.h>

namespace nm {

BrickRunner::BrickRunner(const GgufFile& file, const BrickRunParams& params) : file_(&file), params_(params) {
  if (params_.pack_weights) {
    packed_ = params_.packed ? params_.packed : PackedWeights::for_file(file, params_.packed_spill_dir);
  }
}

BrickRunner::BrickRunner(const BrickRunParams& params) : params_(params) {
  if (params_.pack_weights) packed_ = params_.packed;
}

Result<std::unique_ptr<GraphRunner>> BrickRunner::prepare(Graph graph) const {
  for (const MemoryRegion& r : params_.regions) graph.add_region(r);
  WeightStreaming streaming;
  const bool stream = params_.stream_weights && file_ && !file_->path().empty() && file_->data();
  if (stream) streaming = {file_->data(), file_->file_size()};
  return GraphRunner::create(std::move(graph), params_.device, params_.isa, packed_.get(), stream ? &streaming : nullptr);
}

void BrickRunner::release() {
  if (!file_) {
    if (!params_.packed) packed_.reset();
    return;
  }
  if (params_.pack_weights && !params_.packed && (!packed_ || !packed_->evict())) {
    packed_ = PackedWeights::for_file(*file_, params_.packed_spill_dir);
  }
  if (file_->path().empty() || !file_->data()) return;  // parsed from memory: nothing mapped
  // Every page of the mapping: it starts on a page boundary and covers whole pages, the
  // last one partly past the end of the file (that page holds the last weights too).
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)file_->data() + page - 1) / page * page;
  const uintptr_t hi = ((uintptr_t)file_->data() + file_->file_size() + page - 1) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

}  // namespace nm

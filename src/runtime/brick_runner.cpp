#include "runtime/brick_runner.h"

namespace nm {

BrickRunner::BrickRunner(const GgufFile& file, const BrickRunParams& params) : params_(params) {
  if (params_.pack_weights) packed_ = params_.packed ? params_.packed : PackedWeights::for_file(file);
}

Result<std::unique_ptr<GraphRunner>> BrickRunner::prepare(Graph graph) const {
  for (const MemoryRegion& r : params_.regions) graph.add_region(r);
  return GraphRunner::create(std::move(graph), params_.device, params_.isa, packed_.get());
}

}  // namespace nm

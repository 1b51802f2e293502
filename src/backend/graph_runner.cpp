// GraphRunner: one graph on the default CPU executor or on a Device.
#include "backend/graph_runner.h"

#include "backend/cpu/cpu_device.h"

namespace nm {

Result<std::unique_ptr<GraphRunner>> GraphRunner::create(Graph graph, Device* device, Isa isa,
                                                         PackedWeights* packed, const WeightStreaming* streaming) {
  std::unique_ptr<GraphRunner> r(new GraphRunner());
  r->device_ = device;
  if (auto* cpu = dynamic_cast<CpuDevice*>(device)) {
    NM_ASSIGN_OR_RETURN(r->exe_, cpu->prepare(std::move(graph), packed, streaming));
  } else if (device) {
    NM_ASSIGN_OR_RETURN(r->exe_, device->prepare(std::move(graph)));
  } else {
    NM_ASSIGN_OR_RETURN(r->cpu_, CpuExecutor::create(std::move(graph), isa, packed, streaming));
  }
  return r;
}

const Graph& GraphRunner::graph() const { return exe_ ? exe_->graph() : cpu_->graph(); }

const Tensor& GraphRunner::tensor(NodeId id) const { return graph().node(id).t; }

Status GraphRunner::rebind(NodeId weight_leaf, void* data) {
  return exe_ ? exe_->rebind(weight_leaf, data) : cpu_->rebind(weight_leaf, data);
}

Status GraphRunner::run(ThreadPool& pool) { return exe_ ? device_->run(*exe_) : cpu_->run(pool); }

std::string placement_name(const Device* device) { return device ? device->name() : "cpu"; }

}  // namespace nm

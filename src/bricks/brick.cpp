// The shared parts of every brick: names, port sizes, file opening and checked tensor lookup.
#include "bricks/brick.h"

#include "graph/memory_planner.h"

namespace nm {

const char* brick_kind_name(BrickKind kind) {
  switch (kind) {
    case BrickKind::vision: return "vision";
    case BrickKind::text: return "text";
    case BrickKind::audio: return "audio";
    case BrickKind::asr: return "asr";
    case BrickKind::tts: return "tts";
  }
  return "?";
}

const char* port_kind_name(PortKind kind) {
  switch (kind) {
    case PortKind::image: return "image";
    case PortKind::tokens: return "tokens";
    case PortKind::embeddings: return "embeddings";
    case PortKind::logits: return "logits";
    case PortKind::pcm: return "pcm";
  }
  return "?";
}

size_t PortSpec::bytes() const { return n_tokens <= 0 || width <= 0 ? 0 : row_size(type, width) * (size_t)n_tokens; }

Result<std::shared_ptr<const GgufFile>> open_brick_file(const std::string& path) {
  NM_ASSIGN_OR_RETURN(GgufFile f, GgufFile::open(path));
  return std::make_shared<const GgufFile>(std::move(f));
}

std::string tensor_shape_str(const std::array<int64_t, 4>& ne) {
  std::string s = "[";
  for (int i = 0; i < kMaxDims; ++i) {
    if (i > 0 && ne[(size_t)i] == 1 && (i == kMaxDims - 1 || ne[(size_t)i + 1] == 1)) break;
    s += (i ? ", " : "") + std::to_string(ne[(size_t)i]);
  }
  return s + "]";
}

Status BrickTensors::get(const std::string& name, std::array<int64_t, 4> ne, Role role, Tensor& out,
                         const std::string& hint) {
  if (!f_.find_tensor(name)) {
    return error(ErrorCode::invalid_file, what_ + " has no tensor '" + name + "'" + (hint.empty() ? "" : " (" + hint + ")"));
  }
  NM_ASSIGN_OR_RETURN(out, f_.tensor(name));
  if (out.ne != ne) {
    return error(ErrorCode::invalid_file, "tensor '" + name + "' has shape " + tensor_shape_str(out.ne) + ", expected " +
                                              tensor_shape_str(ne));
  }
  const TypeTraits* tt = type_traits(out.type);
  if (!tt || !tt->to_float) {
    return error(ErrorCode::unsupported, "tensor '" + name + "' has unsupported type " + std::string(dtype_name(out.type)));
  }
  if (role == Role::f32 && out.type != DType::F32) {
    return error(ErrorCode::unsupported, "tensor '" + name + "' is " + std::string(dtype_name(out.type)) +
                                             "; norms and biases must be f32");
  }
  bytes_ += out.n_bytes();
  if (role == Role::matrix) matrix_bytes_by_type_[std::string(dtype_name(out.type))] += out.n_bytes();
  return Status();
}

Status BrickTensors::get_optional(const std::string& name, std::array<int64_t, 4> ne, Role role, Tensor& out) {
  if (!has(name)) {
    out = Tensor();
    return Status();
  }
  return get(name, ne, role, out);
}

std::string BrickTensors::main_matrix_type() const {
  std::string best_type;
  size_t best = 0;
  for (const auto& [type, bytes] : matrix_bytes_by_type_) {
    if (bytes > best) {
      best = bytes;
      best_type = type;
    }
  }
  return best_type;
}

Result<size_t> planned_activation_bytes(const BrickGraph& g) {
  NM_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(g.graph));
  return plan.arena_size;
}

}  // namespace nm

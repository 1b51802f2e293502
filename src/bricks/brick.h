// Brick: the unit NanoMind cuts a multimodal model into (vision encoder + projector, text
// decoder; audio, speech recognition and speech synthesis plug in the same way). A brick
// is model code only: it reads its hyper-parameters and weights from its model file(s),
// says what its ports carry and how many tokens an input becomes before anything runs,
// what a run costs, and builds the op graph for one shape. It never names a device,
// thread pool, graph runner or packed-weight cache: the runtime (src/runtime/) places a
// brick on a device, prepares and runs its graphs, maps / packs / releases the pages of
// the files it names, and hands its outputs to the next brick through the token ring.
//
// Adding a brick: a class deriving from Brick in bricks/<name>/ (load its file with
// open_brick_file() and BrickTensors), and one line in runtime/brick_registry.cpp.
// Thread-safety: a loaded brick is read-only; every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/gguf_reader.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/graph.h"

namespace nm {

class KvCache;

enum class BrickKind : uint8_t { vision, text, audio, asr, tts };
const char* brick_kind_name(BrickKind kind);  // "vision", "text", ...

// What flows through a port, one row per token.
enum class PortKind : uint8_t {
  image,       // encoder input tiles: planar normalised RGB, one row per tile
  tokens,      // token ids (I32, width 1)
  embeddings,  // LLM-space embeddings (F32, width n_embd)
  logits,      // next-token scores (F32, width n_vocab)
  pcm,         // audio samples
};
const char* port_kind_name(PortKind kind);

struct PortSpec {
  std::string name;
  PortKind kind = PortKind::embeddings;
  DType type = DType::F32;
  int64_t n_tokens = 0;  // rows
  int64_t width = 0;     // values per row
  size_t bytes() const;
};

// An input as far as it is known before the brick runs: enough to count its tokens and
// cost it. Fields a brick does not take stay 0.
struct BrickInput {
  int width = 0, height = 0;  // image: pixels
  int n_tokens = 0;           // text: tokens of this run (already tokenized)
  int n_past = 0;             // text: positions already in the context
  int64_t n_samples = 0;      // audio: 16 kHz samples
};

// What one run of a brick on a given input costs, from its shapes (no timing): the data a
// planner places bricks with and an energy model turns into joules.
struct BrickCost {
  double flops = 0;                  // 2 x multiply-adds of matmuls and attention
  size_t weight_bytes_read = 0;      // weight bytes streamed (each graph run reads every weight once)
  size_t activation_bytes = 0;       // the graph arenas of the run, as the memory planner lays them out
  size_t resident_weight_bytes = 0;  // weight bytes that must be in memory while it runs
  size_t kv_bytes_per_token = 0;     // KV cache growth per token (f16 cache), 0 for stateless bricks
  int n_graph_runs = 0;              // graph executions (tiles, prefill chunks)
};

// One graph shape. Text: n_tokens new positions attending to n_kv cache positions (a
// bucket), logits for every position or the last. Vision: one encoder input of width x
// height pixels.
struct GraphShape {
  int n_tokens = 0;
  int n_kv = 0;
  bool all_logits = false;
  int width = 0, height = 0;
};

// A brick's graph for one shape and where its ports are: `in` is the node its main
// input is read from and `out` the node its result is written to (the runtime binds both
// to token-ring slots). Bricks extend it with the other nodes they fill per run.
struct BrickGraph {
  Graph graph;
  NodeId in = kInvalidNode;
  NodeId out = kInvalidNode;
  virtual ~BrickGraph() = default;
};

class Brick {
 public:
  virtual ~Brick() = default;
  Brick(const Brick&) = delete;
  Brick& operator=(const Brick&) = delete;

  virtual BrickKind kind() const = 0;
  // For people and logs: "llama q4_0, 22 layers", "siglip+mlp 384x384".
  virtual std::string description() const = 0;
  // The model files whose pages this brick's weights live in (the runtime advises,
  // packs and releases them; a file may be shared by two bricks).
  virtual std::vector<const GgufFile*> files() const = 0;
  // Weight bytes of the tensors this brick uses.
  virtual size_t weight_bytes() const = 0;

  // Ports for an input, token counts included (known before the brick runs).
  virtual Result<std::vector<PortSpec>> inputs(const BrickInput& in) const = 0;
  virtual Result<std::vector<PortSpec>> outputs(const BrickInput& in) const = 0;
  virtual Result<BrickCost> cost(const BrickInput& in) const = 0;

  // The graph of one run shape. `kv` is the KV cache the graph writes (text; null: one
  // is reserved in virtual memory only, e.g. to plan a graph's memory for cost()).
  virtual Result<std::unique_ptr<BrickGraph>> build_graph(const GraphShape& shape, const KvCache* kv) const = 0;

 protected:
  Brick() = default;
};

// ---- the loading skeleton every brick shares --------------------------------------------

// Opens and validates a GGUF model file for a brick (mmapped, weights used in place).
Result<std::shared_ptr<const GgufFile>> open_brick_file(const std::string& path);

// Loads brick type B (which has `static Result<std::unique_ptr<B>> from_gguf(std::shared_ptr<const GgufFile>)`).
template <class B>
Result<std::unique_ptr<B>> load_brick(const std::string& path) {
  NM_ASSIGN_OR_RETURN(std::shared_ptr<const GgufFile> file, open_brick_file(path));
  return B::from_gguf(std::move(file));
}

// Tensor lookup for a brick's load_weights: every tensor is checked for presence, shape
// and type before the brick uses it, with messages that name the tensor and the file's
// kind; the bytes of what was taken are counted (by type, for "the model is mostly q4_0").
class BrickTensors {
 public:
  enum class Role {
    matrix,  // a weight any dequantisable type may hold
    f32,     // norms and biases: f32 only
  };
  // `what` names the file kind in messages ("the mmproj file", "the model file").
  BrickTensors(const GgufFile& file, std::string what) : f_(file), what_(std::move(what)) {}

  bool has(const std::string& name) const { return f_.find_tensor(name) != nullptr; }
  // Fails (invalid_file) when absent or of another shape; unsupported for a bad type.
  Status get(const std::string& name, std::array<int64_t, 4> ne, Role role, Tensor& out, const std::string& hint = "");
  // As get(), but leaves `out` empty (data == nullptr) when the file has no such tensor.
  Status get_optional(const std::string& name, std::array<int64_t, 4> ne, Role role, Tensor& out);

  size_t bytes() const { return bytes_; }
  // The type holding most bytes among the matrices taken ("q4_0"), "" if none.
  std::string main_matrix_type() const;

 private:
  const GgufFile& f_;
  std::string what_;
  size_t bytes_ = 0;
  std::map<std::string, size_t> matrix_bytes_by_type_;
};

// "[2048, 32000]": a tensor's shape for messages (trailing 1s dropped).
std::string tensor_shape_str(const std::array<int64_t, 4>& ne);

// Graph arena bytes of a brick graph as the memory planner lays it out (activation_bytes).
Result<size_t> planned_activation_bytes(const BrickGraph& g);

}  // namespace nm

// MmprojModel: the vision brick — the vision encoder + projector of a llama.cpp "mmproj"
// GGUF (keys clip.*, tensors v.* and mm.*): hyper-parameters, weight views into the
// mmapped file, and the preprocessing constants. CLIP (class token, pre-LN) and SigLIP (no
// class token, post-LN) encoders; "mlp" (LLaVA) and "idefics3" (pixel shuffle + linear)
// projectors. Its ports: an image in (cut into encoder tiles, image_plan.h), LLM-space
// embeddings out; its graph: vision_graph.h. Read-only after load; shared by every
// session from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bricks/brick.h"
#include "bricks/vision/preprocess.h"
#include "core/gguf_reader.h"
#include "core/status.h"
#include "core/tensor.h"

namespace nm {

enum class ProjectorKind { mlp, idefics3 };
enum class VisionAct { gelu, gelu_quick, silu };  // encoder FFN activation (gelu = tanh form)
// How LLaVA-1.6 / OneVision anyres tiles become one embedding sequence
// (clip.vision.mm_patch_merge_type): flat = overview then each tile's tokens (llama.cpp's
// default); spatial_unpad = overview, then the tiles as one grid cropped back to the
// image's aspect ratio with model.image_newline after each row (LLaVA-NeXT).
enum class PatchMerge { flat, spatial_unpad };

struct VisionHparams {
  ProjectorKind projector = ProjectorKind::mlp;
  int image_size = 0;   // trained input side (pixels)
  int patch_size = 0;
  int n_embd = 0;
  int n_ff = 0;
  int n_layer = 0;      // blocks stored in the file
  int n_layer_run = 0;  // blocks run: the features come from the output of this many blocks
  int n_head = 0;
  float eps = 1e-6f;
  VisionAct act = VisionAct::gelu_quick;
  bool has_class_token = false;  // CLIP; dropped before the projector
  bool has_pre_ln = false, has_post_ln = false, has_patch_bias = false;
  int scale_factor = 1;          // idefics3 pixel shuffle
  int n_embd_out = 0;            // projector output width (= the LLM's n_embd)
  Normalization norm;
  std::vector<Resolution> grid_pinpoints;  // anyres candidates (width, height); may be empty
  PatchMerge patch_merge = PatchMerge::flat;
  int preproc_image_size = 0;  // idefics3: longest edge before splitting into tiles (0 = no splitting)

  int grid_side() const { return image_size / patch_size; }  // trained patches per side (floor)
};

struct VisionLayerWeights {
  Tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  Tensor ln2_w, ln2_b, up_w, up_b, down_w, down_b;
};

struct VisionWeights {
  Tensor patch_w;    // [P, P, 3, n_embd] (F32 or F16)
  Tensor patch_b;    // [n_embd] or absent
  Tensor class_embd; // [n_embd] or absent
  Tensor pos_embd;   // [n_embd, n_pos]
  Tensor pre_ln_w, pre_ln_b, post_ln_w, post_ln_b;
  std::vector<VisionLayerWeights> layers;
  Tensor mm0_w, mm0_b, mm2_w, mm2_b;  // mlp
  Tensor mm_fc_w;                     // idefics3 [n_embd * s * s, n_embd_out]
  Tensor image_newline;               // [n_embd_out] or absent (LLaVA-NeXT spatial_unpad row end)
};

class MmprojModel final : public Brick {
 public:
  static Result<std::unique_ptr<MmprojModel>> load(const std::string& path);
  static Result<std::unique_ptr<MmprojModel>> from_gguf(std::shared_ptr<const GgufFile> file);

  // ---- Brick. in.width x in.height is the picture; in.n_tokens > 0 with width and height
  // 0 asks for the trained single tile. Static-shape mode is the runtime's (ImageSizing):
  // these describe the model's own tiling.
  BrickKind kind() const override { return BrickKind::vision; }
  std::string description() const override;
  std::vector<const GgufFile*> files() const override { return {file_.get()}; }
  size_t weight_bytes() const override { return weight_bytes_; }
  Result<std::vector<PortSpec>> inputs(const BrickInput& in) const override;
  Result<std::vector<PortSpec>> outputs(const BrickInput& in) const override;
  Result<BrickCost> cost(const BrickInput& in) const override;
  // shape.width x shape.height: one encoder input.
  Result<std::unique_ptr<BrickGraph>> build_graph(const GraphShape& shape, const KvCache* kv) const override;

  // Embeddings one encoder call on a width x height input gives; invalid_argument when
  // the encoder cannot take that size (patch grid, projector scale, 8192 pixels a side).
  Result<int> encoder_tokens(int width, int height) const;
  // 2 x multiply-adds of one encoder call on a width x height input.
  double encoder_flops(int width, int height) const;

  const VisionHparams& hparams() const { return hp_; }
  const VisionWeights& weights() const { return w_; }
  const GgufFile& file() const { return *file_; }
  // "clip" or "siglip" (by the class token), for messages.
  const char* encoder_name() const { return hp_.has_class_token ? "clip" : "siglip"; }

  // Error (invalid_argument) when the projector's output width is not the LLM's n_embd.
  Status check_llm_width(int n_embd_llm) const;

  // Position embeddings as F32 [n_embd, n_pos] for a grid of gw x gh patches (plus the
  // class position first for CLIP): the stored table when the grid is the trained one,
  // else its patch part resampled bilinearly (half-pixel centres, edges clamped).
  std::vector<float> position_embeddings(int gw, int gh) const;

 private:
  MmprojModel() = default;
  Status load_hparams();
  Status load_weights();

  std::shared_ptr<const GgufFile> file_;
  VisionHparams hp_;
  VisionWeights w_;
  size_t weight_bytes_ = 0;
};

}  // namespace nm

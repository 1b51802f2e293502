// How the vision brick turns one picture into LLM-space embeddings, decided from the
// picture's size before anything runs: which encoder inputs (tiles) it is cut into — the
// tiling the mmproj file asks for (LLaVA-1.6 / OneVision anyres, SmolVLM / Idefics3
// splitting, else one resize to the trained size), or one fixed input size in
// static-shape mode (as NPUs need) — where each tile's embeddings go in the result, and
// how many embeddings (image tokens) that makes. plan_image() is the one place image
// tokens are counted; the runtime sizes a token-ring slot from it before encoding.
// Pure functions on a read-only model.
#pragma once

#include <span>
#include <vector>

#include "bricks/vision/anyres_merge.h"
#include "bricks/vision/mmproj.h"
#include "core/image.h"
#include "core/status.h"

namespace nm {

// Static-shape mode: every encoder call gets exactly width x height pixels (the image is
// fitted and padded with the normalisation mean, no tiling). 0 x 0: the model's own tiling.
struct ImageSizing {
  int static_width = 0, static_height = 0;
  bool is_static() const { return static_width > 0 || static_height > 0; }
};

struct ImagePlan {
  enum class Kind { single, anyres, split } kind = Kind::single;
  int n_tokens = 0;      // embeddings in total
  int tile_tokens = 0;   // embeddings per encoder call
  int n_encodes = 1;     // encoder calls
  int tile_width = 0, tile_height = 0;  // the encoder's input size
  AnyresGrid grid;       // anyres: the tile grid (0 x 0 under static shape)
  int rows = 0, cols = 0;  // split: the tile grid; 0 x 0 = the global image alone
  int image_width = 0, image_height = 0;  // the picture planned for
  bool fixed_size = false;  // static-shape mode
  bool newline = false;      // single LLaVA-NeXT tile: model.image_newline ends the result
  bool grid_merged = false;  // anyres spatial_unpad: grid tiles are cropped and interleaved

  // Row of the result where encoder call i's tile_tokens embeddings start, or -1 when the
  // tile is merged into place afterwards (anyres spatial_unpad grid tiles: see
  // finish_image_embeddings).
  int tile_row(int i) const;
};

// Fails (invalid_argument) for an empty image or a static size the encoder cannot take.
Result<ImagePlan> plan_image(const MmprojModel& model, int width, int height, const ImageSizing& sizing);

// The most embeddings one image can give under `sizing` (any picture size): what a
// token-ring slot for this model must hold.
Result<int> max_image_tokens(const MmprojModel& model, const ImageSizing& sizing);

// The images the encoder sees for `image` under `plan`, in encoding order: anyres:
// overview then tiles; split: tiles then the global image; else the one resized image.
Result<std::vector<Image>> image_tiles(const MmprojModel& model, const Image& image, const ImagePlan& plan);

// Completes an image's embeddings `out` (plan.n_tokens x n_embd_out floats) after every
// encoder call with tile_row(i) >= 0 wrote its rows in place: merges the other tiles
// (`merged[i]`: tile i's embeddings, or empty) and writes the newline rows.
Status finish_image_embeddings(const MmprojModel& model, const ImagePlan& plan,
                               std::span<const std::vector<float>> merged, std::span<float> out);

}  // namespace nm

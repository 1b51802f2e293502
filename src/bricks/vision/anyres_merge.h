// LLaVA-1.6 / OneVision "anyres": how the overview image and the grid tiles, each run
// through the encoder + projector on its own, become one embedding sequence. "flat"
// (llama.cpp's default) concatenates overview and tiles; "spatial_unpad" (LLaVA-NeXT) puts
// the overview first, then lays the tiles out as one feature grid, crops the rows or
// columns that only saw padding (unpad to the image's aspect ratio) and appends
// model.image_newline after each grid row. Pure functions.
#pragma once

#include <span>
#include <vector>

#include "bricks/vision/mmproj.h"

namespace nm {

// The part of a grid_w x grid_h feature grid that covers an image of width x height
// once it was fitted and centered into the grid (LLaVA-NeXT's unpad_image).
struct UnpadBox {
  int row0 = 0, rows = 0, col0 = 0, cols = 0;
};
UnpadBox unpad_box(int width, int height, int grid_w, int grid_h);

// Tiles of an anyres image: a tiles_x x tiles_y grid, each tile `side` x `side` tokens.
struct AnyresGrid {
  int tiles_x = 0, tiles_y = 0;
  int side = 0;  // tokens per tile side
};

// Embeddings the merged image holds: overview + grid (see the header comment).
// tiles_x = tiles_y = 0 means the overview alone (LLaVA-NeXT's single-image case: the
// newline still follows it under spatial_unpad).
int anyres_n_tokens(PatchMerge merge, const AnyresGrid& g, int width, int height, bool has_newline);

// Writes the merged sequence (anyres_n_tokens(...) * n_embd floats) to `out`. tiles[0] is
// the overview, then the grid tiles in row-major order, each side*side tokens of n_embd
// floats (tokens row-major); a tile that already lies where the merge puts it (the
// overview at `out`, flat tiles at their offset) is left in place. newline: n_embd
// floats, or empty for none.
void merge_anyres(PatchMerge merge, const AnyresGrid& g, int width, int height, std::span<const float* const> tiles,
                  std::span<const float> newline, int n_embd, float* out);

}  // namespace nm

#include "bricks/vision/anyres_merge.h"

#include <cassert>
#include <cstdint>
#include <cstring>

namespace nm {

UnpadBox unpad_box(int width, int height, int grid_w, int grid_h) {
  UnpadBox b{0, grid_h, 0, grid_w};
  // Exact integer form of LLaVA-NeXT's comparison of aspect ratios and its rounded-down
  // new size: the image is wider than the grid, so padding went above and below.
  if ((int64_t)width * grid_h > (int64_t)grid_w * height) {
    const int new_h = (int)((int64_t)height * grid_w / width);
    const int pad = (grid_h - new_h) / 2;
    b.row0 = pad;
    b.rows = grid_h - 2 * pad;
  } else {
    const int new_w = (int)((int64_t)width * grid_h / height);
    const int pad = (grid_w - new_w) / 2;
    b.col0 = pad;
    b.cols = grid_w - 2 * pad;
  }
  return b;
}

int anyres_n_tokens(PatchMerge merge, const AnyresGrid& g, int width, int height, bool has_newline) {
  const int per_tile = g.side * g.side;
  const int n_tiles = g.tiles_x * g.tiles_y;
  if (merge == PatchMerge::flat) return per_tile * (1 + n_tiles);
  if (n_tiles == 0) return per_tile + (has_newline ? 1 : 0);
  const UnpadBox b = unpad_box(width, height, g.tiles_x * g.side, g.tiles_y * g.side);
  return per_tile + b.rows * (b.cols + (has_newline ? 1 : 0));
}

namespace {

// Copies n floats unless they are already there (an encoder call wrote them in place).
float* put(float* out, const float* src, size_t n) {
  if (src != out) std::memcpy(out, src, n * sizeof(float));
  return out + n;
}

}  // namespace

void merge_anyres(PatchMerge merge, const AnyresGrid& g, int width, int height, std::span<const float* const> tiles,
                  std::span<const float> newline, int n_embd, float* out) {
  const size_t E = (size_t)n_embd, per_tile = (size_t)g.side * g.side;
  assert(tiles.size() == 1 + (size_t)g.tiles_x * g.tiles_y);
  const bool nl = !newline.empty();
  if (merge == PatchMerge::flat) {
    for (const float* t : tiles) out = put(out, t, per_tile * E);
    return;
  }
  out = put(out, tiles[0], per_tile * E);  // the overview, then the grid
  if (tiles.size() == 1) {
    if (nl) put(out, newline.data(), E);
    return;
  }
  const UnpadBox b = unpad_box(width, height, g.tiles_x * g.side, g.tiles_y * g.side);
  for (int r = b.row0; r < b.row0 + b.rows; ++r) {
    const int ty = r / g.side, y = r % g.side;
    for (int c = b.col0; c < b.col0 + b.cols; ++c) {
      const int tx = c / g.side, x = c % g.side;
      out = put(out, tiles[1 + (size_t)ty * g.tiles_x + tx] + ((size_t)y * g.side + x) * E, E);
    }
    if (nl) out = put(out, newline.data(), E);
  }
}

}  // namespace nm

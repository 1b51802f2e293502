// LLaVA-1.6 anyres token counts and layouts, hand-computed for the real model shape
// (CLIP 336 px, patch 14: 24 x 24 = 576 tokens per tile; pinpoints as in its config).
#include "bricks/vision/anyres_merge.h"

#include <gtest/gtest.h>

#include "bricks/vision/preprocess.h"

namespace nm {
namespace {

const std::vector<Resolution> kLlava16 = {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};

AnyresGrid grid_for(int w, int h) {
  const Resolution r = select_best_resolution(w, h, kLlava16);
  return {r.first / 336, r.second / 336, 24};
}

TEST(AnyresMerge, WideImage) {
  // 800x300 -> 1008x336: 3 x 1 tiles, a 72 x 24 feature grid. The image is less wide
  // than the grid (8/3 < 3), so columns are cropped: 800 * 24 / 300 = 64 kept, 4 each side.
  const AnyresGrid g = grid_for(800, 300);
  EXPECT_EQ(g.tiles_x, 3);
  EXPECT_EQ(g.tiles_y, 1);
  const UnpadBox b = unpad_box(800, 300, 72, 24);
  EXPECT_EQ(b.col0, 4);
  EXPECT_EQ(b.cols, 64);
  EXPECT_EQ(b.row0, 0);
  EXPECT_EQ(b.rows, 24);
  EXPECT_EQ(anyres_n_tokens(PatchMerge::spatial_unpad, g, 800, 300, true), 576 + 24 * 65);  // 2136
  EXPECT_EQ(anyres_n_tokens(PatchMerge::spatial_unpad, g, 800, 300, false), 576 + 24 * 64);
  EXPECT_EQ(anyres_n_tokens(PatchMerge::flat, g, 800, 300, true), 4 * 576);
}

TEST(AnyresMerge, TallImage) {
  // 300x800 -> 336x1008: 1 x 3 tiles, grid 24 wide x 72 tall; rows cropped to 800*24/300 = 64.
  const AnyresGrid g = grid_for(300, 800);
  EXPECT_EQ(g.tiles_x, 1);
  EXPECT_EQ(g.tiles_y, 3);
  const UnpadBox b = unpad_box(300, 800, 24, 72);
  EXPECT_EQ(b.row0, 4);
  EXPECT_EQ(b.rows, 64);
  EXPECT_EQ(b.cols, 24);
  EXPECT_EQ(anyres_n_tokens(PatchMerge::spatial_unpad, g, 300, 800, true), 576 + 64 * 25);  // 2176
}

TEST(AnyresMerge, SquareAndOddSizes) {
  // 512x512 -> 672x672 (2 x 2), nothing cropped: 576 + 48 * 49.
  EXPECT_EQ(anyres_n_tokens(PatchMerge::spatial_unpad, grid_for(512, 512), 512, 512, true), 2928);
  // 1000x600 -> 672x672 (0.672 keeps 672x403 pixels); rows: 600*48/1000 = 28.8 -> 28,
  // padding (48 - 28) / 2 = 10 each side: 28 rows.
  EXPECT_EQ(grid_for(1000, 600).tiles_x, 2);
  EXPECT_EQ(unpad_box(1000, 600, 48, 48).rows, 28);
  EXPECT_EQ(anyres_n_tokens(PatchMerge::spatial_unpad, grid_for(1000, 600), 1000, 600, true), 576 + 28 * 49);
  // 1000x610: 29.28 -> 29 rows of image, padding (48 - 29) / 2 = 9 each side, so 30 rows
  // are kept (LLaVA-NeXT slices [pad, H - pad)).
  const UnpadBox b = unpad_box(1000, 610, 48, 48);
  EXPECT_EQ(b.row0, 9);
  EXPECT_EQ(b.rows, 30);
}

TEST(AnyresMerge, LayoutOfASmallGrid) {
  // 2 x 1 tiles of 2 x 2 tokens (E = 1), a 4 x 2 feature grid; token value = 10 * tile +
  // index. A 4:1 image is wider than the grid (2:1): new height 1 * 4 / 4 = 1, padding
  // (2 - 1) / 2 = 0, so both rows stay. Newline 99 after each row.
  const AnyresGrid g{2, 1, 2};
  const std::vector<std::vector<float>> tiles = {{0, 1, 2, 3}, {10, 11, 12, 13}, {20, 21, 22, 23}};
  const std::vector<float> nl = {99};
  std::vector<const float*> ptrs;
  for (const auto& t : tiles) ptrs.push_back(t.data());
  auto merge = [&](PatchMerge m, int w, int h) {
    std::vector<float> out((size_t)anyres_n_tokens(m, g, w, h, true), -1.0f);
    merge_anyres(m, g, w, h, ptrs, nl, 1, out.data());
    return out;
  };
  const std::vector<float> out = merge(PatchMerge::spatial_unpad, 4, 1);
  const std::vector<float> want = {0, 1, 2, 3, 10, 11, 20, 21, 99, 12, 13, 22, 23, 99};
  EXPECT_EQ(out, want);
  // A 1:1 image keeps 2 of the 4 columns (one cropped on each side).
  const std::vector<float> sq = merge(PatchMerge::spatial_unpad, 5, 5);
  const std::vector<float> want_sq = {0, 1, 2, 3, 11, 20, 99, 13, 22, 99};
  EXPECT_EQ(sq, want_sq);
  const std::vector<float> flat = merge(PatchMerge::flat, 5, 5);
  const std::vector<float> want_flat = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
  EXPECT_EQ(flat, want_flat);
  // The overview already in place (an encoder call wrote it there) is kept, not re-copied.
  std::vector<float> in_place((size_t)anyres_n_tokens(PatchMerge::spatial_unpad, g, 4, 1, true), -1.0f);
  std::copy(tiles[0].begin(), tiles[0].end(), in_place.begin());
  std::vector<const float*> with_overview_in_place = ptrs;
  with_overview_in_place[0] = in_place.data();
  merge_anyres(PatchMerge::spatial_unpad, g, 4, 1, with_overview_in_place, nl, 1, in_place.data());
  EXPECT_EQ(in_place, want);
}

}  // namespace
}  // namespace nm

#include "bricks/vision/preprocess.h"

#include <gtest/gtest.h>

namespace nm {
namespace {

// LLaVA-1.6's grid pinpoints, as (width, height).
const std::vector<Resolution> kLlava16 = {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};

Image solid(int w, int h, uint8_t v) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign((size_t)w * h * 3, v);
  return img;
}

TEST(Anyres, SquareImagePicksTheSquareGrid) {
  // 512x512: every non-square candidate keeps only 336x336 of it; 672x672 keeps all of it.
  EXPECT_EQ(select_best_resolution(512, 512, kLlava16), Resolution(672, 672));
}

TEST(Anyres, WideImagePicksTheWideGrid) {
  // 800x300: 1008x336 scales by 1.12 to 896x336 and keeps all 240000 pixels; 672x336 keeps
  // 672x252 = 169344. So 1008x336 (3 x 1 tiles).
  EXPECT_EQ(select_best_resolution(800, 300, kLlava16), Resolution(1008, 336));
}

TEST(Anyres, TiesGoToTheLeastWaste) {
  // 300x300 fits whole in 336x672, 672x336 and 672x672; the first two waste 225792-90000,
  // 672x672 wastes more. 336x672 comes first in the list and wins the tie on waste.
  EXPECT_EQ(select_best_resolution(300, 300, kLlava16), Resolution(336, 672));
}

TEST(Anyres, TilesArePaddedAndInRowMajorOrder) {
  auto t = anyres_tiles(solid(800, 300, 200), 336, kLlava16, ResizeFilter::bicubic);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->tiles_x, 3);
  EXPECT_EQ(t->tiles_y, 1);
  ASSERT_EQ(t->images.size(), 4u);  // overview + 3 tiles
  for (const Image& im : t->images) {
    EXPECT_EQ(im.width, 336);
    EXPECT_EQ(im.height, 336);
  }
  // Width ceil(800 * 336/300) = ceil(896.0000000000001) = 897 in double, as in the Hugging Face
  // processor, centered in 1008: columns 0..54 of the first tile are padding, 56 on the right.
  EXPECT_EQ(t->images[1].at(0, 100, 0), 0);
  EXPECT_EQ(t->images[1].at(54, 100, 0), 0);
  EXPECT_EQ(t->images[1].at(55, 100, 0), 200);
  EXPECT_EQ(t->images[3].at(335 - 56, 100, 0), 200);
  EXPECT_EQ(t->images[3].at(335 - 55, 100, 0), 0);
}

TEST(Anyres, RejectsBadPinpoints) {
  EXPECT_FALSE(anyres_tiles(solid(10, 10, 0), 336, {}, ResizeFilter::bicubic).ok());
  EXPECT_FALSE(anyres_tiles(solid(10, 10, 0), 336, {{500, 336}}, ResizeFilter::bicubic).ok());
}

TEST(Preprocess, PadToSquareCenters) {
  Image p = pad_to_square(solid(4, 2, 9), {1, 2, 3});
  EXPECT_EQ(p.width, 4);
  EXPECT_EQ(p.height, 4);
  EXPECT_EQ(p.at(0, 0, 2), 3);
  EXPECT_EQ(p.at(0, 1, 0), 9);
  EXPECT_EQ(p.at(3, 2, 0), 9);
  EXPECT_EQ(p.at(3, 3, 1), 2);
}

TEST(Preprocess, NormalizeIsPlanarAndUsesMeanStd) {
  Image img = solid(2, 1, 0);
  img.rgb = {255, 0, 51, 0, 255, 102};
  Normalization n{{0.5f, 0.25f, 0.0f}, {0.5f, 0.25f, 2.0f}};
  EncoderInput e = normalize_image(img, n);
  ASSERT_EQ(e.chw.size(), 6u);
  EXPECT_FLOAT_EQ(e.chw[0], 1.0f);   // R, pixel 0: (1 - .5) / .5
  EXPECT_FLOAT_EQ(e.chw[1], -1.0f);  // R, pixel 1
  EXPECT_FLOAT_EQ(e.chw[2], -1.0f);  // G, pixel 0: (0 - .25) / .25
  EXPECT_FLOAT_EQ(e.chw[3], 3.0f);   // G, pixel 1
  EXPECT_NEAR(e.chw[4], 0.1f, 1e-6);  // B: 0.2 / 2
  EXPECT_NEAR(e.chw[5], 0.2f, 1e-6);
}

}  // namespace
}  // namespace nm

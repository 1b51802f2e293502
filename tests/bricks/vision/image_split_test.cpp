// SmolVLM / Idefics3 image splitting: tile grids hand-computed from the processor's rules
// (longest edge to L keeping the aspect ratio, other side rounded down then up to even,
// both sides up to multiples of the tile), and the prompt markers around the tiles.
#include "bricks/vision/image_split.h"

#include <gtest/gtest.h>

#include "runtime/multimodal_prompt.h"

namespace nm {
namespace {

TEST(ImageSplit, PlansFromTheProcessorRules) {
  // 640x480, L 2048: 2048 x 1536 -> 4 cols x 3 rows of 512.
  SplitPlan p = idefics3_split_plan(640, 480, 512, 2048);
  EXPECT_EQ(p.resized_w, 2048);
  EXPECT_EQ(p.resized_h, 1536);
  EXPECT_EQ(p.cols, 4);
  EXPECT_EQ(p.rows, 3);
  // Small images are enlarged too: 512x512 -> 2048x2048, 4 x 4.
  p = idefics3_split_plan(512, 512, 512, 2048);
  EXPECT_EQ(p.rows * p.cols, 16);
  // Tall: 300x1000 -> 614 (614.4 down, even) x 2048 -> 1024 x 2048: 2 cols x 4 rows.
  p = idefics3_split_plan(300, 1000, 512, 2048);
  EXPECT_EQ(p.resized_w, 1024);
  EXPECT_EQ(p.cols, 2);
  EXPECT_EQ(p.rows, 4);
  // 1920x1080, L 1536: 1536 x 864 -> 1536 x 1024: 3 x 2.
  p = idefics3_split_plan(1920, 1080, 512, 1536);
  EXPECT_EQ(p.cols, 3);
  EXPECT_EQ(p.rows, 2);
  // L = tile: everything fits one tile, no splitting.
  p = idefics3_split_plan(640, 480, 512, 512);
  EXPECT_EQ(p.rows, 0);
  EXPECT_EQ(p.cols, 0);
  EXPECT_EQ(p.resized_w, 512);
  EXPECT_EQ(p.resized_h, 512);
}

TEST(ImageSplit, TilesThenGlobal) {
  Image img;
  img.width = 8;
  img.height = 4;
  img.rgb.assign(8 * 4 * 3, 77);
  auto s = idefics3_split(img, 4, 8, ResizeFilter::lanczos);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->rows, 1);
  EXPECT_EQ(s->cols, 2);
  ASSERT_EQ(s->images.size(), 3u);
  for (const Image& t : s->images) {
    EXPECT_EQ(t.width, 4);
    EXPECT_EQ(t.height, 4);
    EXPECT_EQ(t.at(1, 1, 0), 77);
  }
  EXPECT_FALSE(idefics3_split(img, 0, 8, ResizeFilter::lanczos).ok());
  EXPECT_FALSE(idefics3_split(img, 4, 100000, ResizeFilter::lanczos).ok());
}

TEST(ImageSplit, PromptMarkers) {
  // 2 rows x 2 cols of 3 tokens + the global image: Hugging Face's Idefics3 prompt
  // "<fake><row_1_col_1>III<fake><row_1_col_2>III\n<fake><row_2_col_1>III<fake><row_2_col_2>III\n"
  // "\n<fake><global-img>III<fake>".
  ImagePlan plan;
  plan.kind = ImagePlan::Kind::split;
  plan.rows = plan.cols = 2;
  plan.tile_tokens = 3;
  plan.n_tokens = 15;
  const ImageLayout l = image_layout_for(ProjectorKind::idefics3, plan);
  const std::string f = "<fake_token_around_image>";
  ASSERT_EQ(l.size(), 6u);
  EXPECT_EQ(l[0].text, f + "<row_1_col_1>");
  EXPECT_EQ(l[1].text, f + "<row_1_col_2>");
  EXPECT_EQ(l[2].text, "\n" + f + "<row_2_col_1>");
  EXPECT_EQ(l[3].text, f + "<row_2_col_2>");
  EXPECT_EQ(l[4].text, "\n\n" + f + "<global-img>");
  EXPECT_EQ(l[5].text, f);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(l[(size_t)i].first, 3 * i);
    EXPECT_EQ(l[(size_t)i].count, 3);
  }
  EXPECT_EQ(l[5].count, 0);
  // Not split: "<fake><global-img>" + all tokens + "<fake>".
  plan.kind = ImagePlan::Kind::single;
  plan.n_tokens = 3;
  const ImageLayout one = image_layout_for(ProjectorKind::idefics3, plan);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].text, f + "<global-img>");
  EXPECT_EQ(one[0].count, 3);
  EXPECT_EQ(one[1].text, f);
  // LLaVA: the embeddings, then "\n".
  const ImageLayout llava = image_layout_for(ProjectorKind::mlp, plan);
  ASSERT_EQ(llava.size(), 2u);
  EXPECT_EQ(llava[0].text, "");
  EXPECT_EQ(llava[0].count, 3);
  EXPECT_EQ(llava[1].text, "\n");
}

}  // namespace
}  // namespace nm

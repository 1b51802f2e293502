// The C API's image entry points on the bundled demo model (models/): raw RGB pixels from
// memory give exactly the embeddings of the same pixels stored as a PNG file (written
// here by stb_image_write, decoded by the library), the size query, and clear errors.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "nanomind/nanomind.h"

namespace {

const std::string kModels = std::string(NM_SOURCE_DIR) + "/models/";

struct Demo {
  nm_model* model = nullptr;
  nm_session* session = nullptr;
  explicit Demo(int image_w = 0, int image_h = 0) {
    nm_model_params mp = nm_model_default_params();
    const std::string llm = kModels + "nanomind-demo-llm.gguf", mm = kModels + "nanomind-demo-mmproj.gguf";
    mp.model_path = llm.c_str();
    mp.mmproj_path = mm.c_str();
    mp.n_threads = 2;
    char err[256];
    if (nm_model_load(&mp, &model, err, sizeof err) != NM_OK) ADD_FAILURE() << err;
    nm_session_params sp = nm_session_default_params();
    sp.image_width = image_w;
    sp.image_height = image_h;
    if (model && nm_session_init(model, &sp, &session) != NM_OK) ADD_FAILURE() << nm_session_last_error(session);
  }
  ~Demo() {
    nm_session_free(session);
    nm_model_free(model);
  }
  // Embeddings of an image, or empty with the failure recorded.
  std::vector<float> encode(const nm_image& img, int32_t* n_tok = nullptr) {
    int32_t n = 0, e = 0;
    if (nm_session_encode_image(session, &img, nullptr, 0, &n, &e) != NM_ERR_OUT_OF_RANGE || n <= 0 || e <= 0) {
      ADD_FAILURE() << "size query: " << nm_session_last_error(session);
      return {};
    }
    std::vector<float> out((size_t)n * e);
    if (nm_session_encode_image(session, &img, out.data(), (int64_t)out.size(), &n, &e) != NM_OK) {
      ADD_FAILURE() << nm_session_last_error(session);
      return {};
    }
    if (n_tok) *n_tok = n;
    return out;
  }
};

std::vector<uint8_t> pattern(int w, int h) {
  std::vector<uint8_t> px((size_t)w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) px[((size_t)y * w + x) * 3 + c] = (uint8_t)((x * 7 + y * 13 + c * 80) ^ (x * y));
  return px;
}

TEST(CApiImage, RawRgbEqualsTheSamePixelsFromAPng) {
  Demo d;
  ASSERT_TRUE(d.session);
  // 96 x 96 is the encoder's own size; 120 x 70 goes through the resize.
  for (auto [w, h] : {std::pair{96, 96}, std::pair{120, 70}}) {
    const std::vector<uint8_t> px = pattern(w, h);
    const std::string png = (std::filesystem::temp_directory_path() /
                             ("nm_c_api_image_" + std::to_string(w) + "x" + std::to_string(h) + ".png"))
                                .string();
    ASSERT_TRUE(stbi_write_png(png.c_str(), w, h, 3, px.data(), w * 3));
    int32_t n_raw = 0, n_png = 0;
    const std::vector<float> raw = d.encode({nullptr, px.data(), w, h}, &n_raw);
    const std::vector<float> file = d.encode({png.c_str(), nullptr, 0, 0}, &n_png);
    std::remove(png.c_str());
    EXPECT_EQ(n_raw, 9);  // 3 x 3 patches of 32 pixels, whatever the input size
    EXPECT_EQ(n_raw, n_png);
    ASSERT_FALSE(raw.empty());
    EXPECT_EQ(raw, file) << w << "x" << h;  // same pixels, same arithmetic: bit for bit
    // A different picture gives different embeddings (the comparison can fail).
    std::vector<uint8_t> other = px;
    other[0] ^= 0xff;
    other[(size_t)w * h * 3 / 2] ^= 0xff;
    EXPECT_NE(d.encode({nullptr, other.data(), w, h}), raw);
  }
  EXPECT_EQ(nm_session_n_past(d.session), 0);  // encoding alone leaves the conversation alone
}

TEST(CApiImage, StaticShapeAndErrors) {
  Demo d(64, 32);
  ASSERT_TRUE(d.session);
  const std::vector<uint8_t> px = pattern(96, 96);
  int32_t n = 0;
  d.encode({nullptr, px.data(), 96, 96}, &n);
  EXPECT_EQ(n, 2);  // 2 x 1 patches
  int32_t e = 0;
  const nm_image none{nullptr, nullptr, 0, 0};
  EXPECT_EQ(nm_session_encode_image(d.session, &none, nullptr, 0, &n, &e), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nm_session_last_error(d.session)), "");
  const nm_image zero{nullptr, px.data(), 0, 96};
  EXPECT_NE(nm_session_encode_image(d.session, &zero, nullptr, 0, &n, &e), NM_OK);
  const nm_image missing{"/no/such/image.png", nullptr, 0, 0};
  EXPECT_NE(nm_session_encode_image(d.session, &missing, nullptr, 0, &n, &e), NM_OK);
  EXPECT_EQ(nm_session_encode_image(d.session, nullptr, nullptr, 0, &n, &e), NM_ERR_INVALID_ARGUMENT);

  // Only one of width and height: refused at session creation.
  nm_session_params sp = nm_session_default_params();
  sp.image_width = 64;
  nm_session* s = nullptr;
  EXPECT_EQ(nm_session_init(d.model, &sp, &s), NM_ERR_INVALID_ARGUMENT);
  nm_session_free(s);
}

}  // namespace

// The C API's image entry points on the bundled demo model (models/): raw RGB pixels from
// memory give exactly the embeddings of the same pixels stored as a PNG file (written
// here by a minimal encoder from the PNG spec, decoded by the library), the size query,
// and clear errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <algorithm>
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
    if (model && nm_session_init(model, &sp, &session, err, sizeof err) != NM_OK) ADD_FAILURE() << err;
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

// A valid PNG (RFC 2083) of 8-bit RGB pixels: filter 0 rows in a zlib stream of stored
// (uncompressed) deflate blocks; CRC-32 per chunk, Adler-32 over the raw rows.
bool write_png(const std::string& path, const std::vector<uint8_t>& rgb, int w, int h) {
  auto crc32 = [](const uint8_t* p, size_t n, uint32_t c = 0xffffffffu) {
    for (size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c;
  };
  auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back((uint8_t)(x >> s));
  };
  std::vector<uint8_t> raw;
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rgb.begin() + (ptrdiff_t)y * w * 3, rgb.begin() + (ptrdiff_t)(y + 1) * w * 3);
  }
  std::vector<uint8_t> z = {0x78, 0x01};
  for (size_t at = 0; at < raw.size() || at == 0;) {
    const size_t n = std::min<size_t>(raw.size() - at, 65535);
    z.push_back(at + n == raw.size() ? 1 : 0);
    z.insert(z.end(), {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n, (uint8_t)(~n >> 8)});
    z.insert(z.end(), raw.begin() + (ptrdiff_t)at, raw.begin() + (ptrdiff_t)(at + n));
    at += n;
    if (n == 0) break;
  }
  uint32_t a = 1, b = 0;
  for (uint8_t c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  be32(z, (b << 16) | a);
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    be32(png, (uint32_t)data.size());
    const size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    be32(png, ~crc32(png.data() + start, png.size() - start));
  };
  std::vector<uint8_t> ihdr;
  be32(ihdr, (uint32_t)w);
  be32(ihdr, (uint32_t)h);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit, RGB, deflate, filter 0, no interlace
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", {});
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(png.data()), (std::streamsize)png.size());
  return (bool)f;
}

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
    ASSERT_TRUE(write_png(png, px, w, h));
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
  char err[256];
  EXPECT_EQ(nm_session_init(d.model, &sp, &s, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::string(err).find("image_width"), std::string::npos) << err;
}

}  // namespace

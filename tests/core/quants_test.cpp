#include "core/quants.h"

#include <gtest/gtest.h>

#include <vector>

namespace nm {
namespace {

TEST(Quants, RejectsRowLengthNotMultipleOfBlock) {
  std::vector<float> src(300, 1.f);
  std::vector<uint8_t> dst(4096);
  Status s = quantize_rows(DType::Q4_K, src.data(), dst.data(), 1, 300);
  EXPECT_EQ(s.code(), ErrorCode::invalid_argument);
  EXPECT_NE(s.message().find("256"), std::string::npos) << s.message();
  s = dequantize_rows(DType::Q8_0, dst.data(), src.data(), 1, 33);
  EXPECT_EQ(s.code(), ErrorCode::invalid_argument);
}

TEST(Quants, RejectsUnknownAndUnsupportedTypes) {
  std::vector<float> src(256, 1.f);
  std::vector<uint8_t> dst(4096);
  EXPECT_EQ(quantize_rows(static_cast<DType>(99), src.data(), dst.data(), 1, 256).code(),
            ErrorCode::unsupported);
  EXPECT_EQ(dequantize_rows(static_cast<DType>(99), dst.data(), src.data(), 1, 256).code(),
            ErrorCode::unsupported);
  Status s = quantize_rows(DType::Q2_K, src.data(), dst.data(), 1, 256);
  EXPECT_EQ(s.code(), ErrorCode::unsupported);
  EXPECT_NE(s.message().find("q2_k"), std::string::npos) << s.message();
  EXPECT_EQ(dequantize_rows(DType::I32, dst.data(), src.data(), 1, 256).code(), ErrorCode::unsupported);
}

TEST(Quants, RejectsNegativeCountsAndNullBuffers) {
  std::vector<float> src(32, 1.f);
  std::vector<uint8_t> dst(64);
  EXPECT_EQ(quantize_rows(DType::Q8_0, src.data(), dst.data(), -1, 32).code(), ErrorCode::invalid_argument);
  EXPECT_EQ(quantize_rows(DType::Q8_0, src.data(), dst.data(), 1, -32).code(), ErrorCode::invalid_argument);
  EXPECT_EQ(quantize_rows(DType::Q8_0, nullptr, dst.data(), 1, 32).code(), ErrorCode::invalid_argument);
  EXPECT_TRUE(quantize_rows(DType::Q8_0, nullptr, nullptr, 0, 32).ok());
}

TEST(Quants, AllZeroBlocksGiveZeros) {
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K, DType::Q8_K, DType::IQ4_NL}) {
    std::vector<float> src(512, 0.f), out(512, 1.f);
    std::vector<uint8_t> q(row_size(t, 512), 0xAB);
    ASSERT_TRUE(quantize_rows(t, src.data(), q.data(), 2, 256).ok());
    ASSERT_TRUE(dequantize_rows(t, q.data(), out.data(), 2, 256).ok());
    for (float v : out) ASSERT_EQ(v, 0.f) << dtype_name(t);
  }
}

}  // namespace
}  // namespace nm

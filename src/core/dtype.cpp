#include "core/dtype.h"

#include <cstring>

#include "core/quants.h"

namespace nm {
namespace {

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * 4); }
void f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * 4); }
void f16_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const fp16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<fp16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
}
void bf16_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const bf16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(s[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<bf16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
}

// Quantised rows: scalar references in core/quant_*.cpp (see quants.h).
const TypeTraits kF32{"f32", 1, 4, false, f32_to_float, f32_from_float};
const TypeTraits kF16{"f16", 1, 2, false, f16_to_float, f16_from_float};
const TypeTraits kBF16{"bf16", 1, 2, false, bf16_to_float, bf16_from_float};
const TypeTraits kQ4_0{"q4_0", QK4_0, sizeof(BlockQ4_0), true, dequantize_row_q4_0, quantize_row_q4_0};
const TypeTraits kQ4_1{"q4_1", QK4_1, sizeof(BlockQ4_1), true, dequantize_row_q4_1, quantize_row_q4_1};
const TypeTraits kQ5_0{"q5_0", QK5_0, sizeof(BlockQ5_0), true, dequantize_row_q5_0, quantize_row_q5_0};
const TypeTraits kQ5_1{"q5_1", QK5_1, sizeof(BlockQ5_1), true, dequantize_row_q5_1, quantize_row_q5_1};
const TypeTraits kQ8_0{"q8_0", QK8_0, sizeof(BlockQ8_0), true, dequantize_row_q8_0, quantize_row_q8_0};
const TypeTraits kQ8_1{"q8_1", QK8_1, sizeof(BlockQ8_1), true, dequantize_row_q8_1, quantize_row_q8_1};
// Q2_K / Q3_K: no reference quantiser yet (files are read, not written).
const TypeTraits kQ2_K{"q2_k", QK_K, sizeof(BlockQ2_K), true, dequantize_row_q2_k, nullptr};
const TypeTraits kQ3_K{"q3_k", QK_K, sizeof(BlockQ3_K), true, dequantize_row_q3_k, nullptr};
const TypeTraits kQ4_K{"q4_k", QK_K, sizeof(BlockQ4_K), true, dequantize_row_q4_k, quantize_row_q4_k};
const TypeTraits kQ5_K{"q5_k", QK_K, sizeof(BlockQ5_K), true, dequantize_row_q5_k, quantize_row_q5_k};
const TypeTraits kQ6_K{"q6_k", QK_K, sizeof(BlockQ6_K), true, dequantize_row_q6_k, quantize_row_q6_k};
const TypeTraits kQ8_K{"q8_k", QK_K, sizeof(BlockQ8_K), true, dequantize_row_q8_k, quantize_row_q8_k};
const TypeTraits kIQ4_NL{"iq4_nl", QK4_NL, sizeof(BlockIQ4_NL), true, dequantize_row_iq4_nl, quantize_row_iq4_nl};
const TypeTraits kI8{"i8", 1, 1, false, nullptr, nullptr};
const TypeTraits kI16{"i16", 1, 2, false, nullptr, nullptr};
const TypeTraits kI32{"i32", 1, 4, false, nullptr, nullptr};
const TypeTraits kI64{"i64", 1, 8, false, nullptr, nullptr};
const TypeTraits kF64{"f64", 1, 8, false, nullptr, nullptr};

}  // namespace

const TypeTraits* type_traits(DType type) {
  switch (type) {
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    case DType::Q4_0: return &kQ4_0;
    case DType::Q4_1: return &kQ4_1;
    case DType::Q5_0: return &kQ5_0;
    case DType::Q5_1: return &kQ5_1;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q8_1: return &kQ8_1;
    case DType::Q2_K: return &kQ2_K;
    case DType::Q3_K: return &kQ3_K;
    case DType::Q4_K: return &kQ4_K;
    case DType::Q5_K: return &kQ5_K;
    case DType::Q6_K: return &kQ6_K;
    case DType::Q8_K: return &kQ8_K;
    case DType::IQ4_NL: return &kIQ4_NL;
    case DType::I8: return &kI8;
    case DType::I16: return &kI16;
    case DType::I32: return &kI32;
    case DType::I64: return &kI64;
    case DType::F64: return &kF64;
  }
  return nullptr;
}

bool dtype_is_known(uint32_t raw) { return type_traits(raw) != nullptr; }

std::string_view dtype_name(DType type) {
  const TypeTraits* t = type_traits(type);
  return t ? t->name : "?";
}

int block_size(DType type) { return type_traits(type)->block_size; }

size_t row_size(DType type, int64_t n) {
  const TypeTraits* t = type_traits(type);
  return (size_t)(n / t->block_size) * t->type_size;
}

}  // namespace nm

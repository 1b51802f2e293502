// GgufWriter -> GgufFile round trips: every metadata type (nested arrays included),
// every dtype the table knows, alignment variants, typed getter errors.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "core/gguf_reader.h"
#include "core/gguf_writer.h"

namespace nm {
namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed);
  return v;
}

Result<GgufFile> parse(const std::vector<uint8_t>& b) { return GgufFile::from_memory(b.data(), b.size(), nullptr); }

GgufWriter all_types_writer() {
  GgufWriter w;
  w.add("k.u8", GgufValue(uint8_t{200}));
  w.add("k.i8", GgufValue(int8_t{-100}));
  w.add("k.u16", GgufValue(uint16_t{60000}));
  w.add("k.i16", GgufValue(int16_t{-30000}));
  w.add("k.u32", GgufValue(uint32_t{4000000000u}));
  w.add("k.i32", GgufValue(int32_t{-2000000000}));
  w.add("k.f32", GgufValue(1.5f));
  w.add("k.bool", GgufValue(true));
  w.add("k.string", GgufValue(std::string("héllo\0x", 8)));
  w.add("k.u64", GgufValue(uint64_t{1} << 63));
  w.add("k.i64", GgufValue(int64_t{-(int64_t{1} << 62)}));
  w.add("k.f64", GgufValue(-2.25e300));
  w.add_array_strings("k.arr_str", {"a", "", "ccc"});
  w.add_array_f32("k.arr_f32", {1.f, -2.f, 3.5f});
  w.add_array_i32("k.arr_i32", {1, -2, 3});
  w.add("k.arr_bool", gguf_array(std::vector<bool>{true, false}));
  w.add("k.arr_u64", gguf_array(std::vector<uint64_t>{1, 2}));
  w.add("k.arr_empty", gguf_array(std::vector<int8_t>{}));
  GgufArray nested{GgufType::array, {gguf_array(std::vector<int32_t>{1, 2}), gguf_array(std::vector<int32_t>{})}};
  w.add("k.nested", GgufValue(nested));
  return w;
}

TEST(GgufRoundTrip, EveryMetadataType) {
  GgufWriter w = all_types_writer();
  auto f = parse(w.to_bytes());
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 19u);
  EXPECT_EQ(f->get_u8("k.u8").value(), 200);
  EXPECT_EQ(f->get_i8("k.i8").value(), -100);
  EXPECT_EQ(f->get_u16("k.u16").value(), 60000);
  EXPECT_EQ(f->get_i16("k.i16").value(), -30000);
  EXPECT_EQ(f->get_u32("k.u32").value(), 4000000000u);
  EXPECT_EQ(f->get_i32("k.i32").value(), -2000000000);
  EXPECT_EQ(f->get_f32("k.f32").value(), 1.5f);
  EXPECT_EQ(f->get_bool("k.bool").value(), true);
  EXPECT_EQ(f->get_string("k.string").value(), std::string("héllo\0x", 8));
  EXPECT_EQ(f->get_u64("k.u64").value(), uint64_t{1} << 63);
  EXPECT_EQ(f->get_i64("k.i64").value(), -(int64_t{1} << 62));
  EXPECT_EQ(f->get_f64("k.f64").value(), -2.25e300);
  EXPECT_EQ(f->get_array_strings("k.arr_str").value(), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f->get_array_f32("k.arr_f32").value(), (std::vector<float>{1.f, -2.f, 3.5f}));
  EXPECT_EQ(f->get_array_i32("k.arr_i32").value(), (std::vector<int32_t>{1, -2, 3}));
  EXPECT_EQ(*f->find("k.arr_bool"), gguf_array(std::vector<bool>{true, false}));
  EXPECT_EQ(*f->find("k.arr_u64"), gguf_array(std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(f->get_array("k.arr_empty").value()->items.size(), 0u);
  EXPECT_EQ(f->get_array("k.arr_empty").value()->elem, GgufType::i8);
  const GgufArray* n = f->get_array("k.nested").value();
  ASSERT_EQ(n->elem, GgufType::array);
  ASSERT_EQ(n->items.size(), 2u);
  EXPECT_EQ(n->items[0], gguf_array(std::vector<int32_t>{1, 2}));
  EXPECT_EQ(n->items[1].get_if<GgufArray>()->items.size(), 0u);
  // file order is kept
  EXPECT_EQ(f->metadata().front().key, "k.u8");
  EXPECT_EQ(f->metadata().back().key, "k.nested");
}

TEST(GgufRoundTrip, GetterErrorsNameKeyAndTypes) {
  auto f = parse(all_types_writer().to_bytes());
  ASSERT_TRUE(f.ok());
  auto r = f->get_u32("k.f32");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::invalid_file);
  EXPECT_NE(r.status().message().find("'k.f32'"), std::string::npos);
  EXPECT_NE(r.status().message().find("type f32"), std::string::npos);
  EXPECT_NE(r.status().message().find("expected u32"), std::string::npos);
  auto m = f->get_string("llama.context_length");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("missing metadata key 'llama.context_length'"), std::string::npos);
  auto a = f->get_array_f32("k.arr_i32");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("array of i32, expected array of f32"), std::string::npos);
  // defaults: missing -> default, wrong type -> error
  EXPECT_EQ(f->get_u32_or("nope", 7).value(), 7u);
  EXPECT_EQ(f->get_string_or("nope", "d").value(), "d");
  EXPECT_EQ(f->get_f32_or("k.f32", 0.f).value(), 1.5f);
  EXPECT_FALSE(f->get_u32_or("k.string", 7).ok());
  EXPECT_EQ(f->get_int("k.u16").value(), 60000);
  EXPECT_EQ(f->get_int("k.i8").value(), -100);
  EXPECT_FALSE(f->get_int("k.u64").ok());  // 2^63 does not fit
  EXPECT_FALSE(f->get_int("k.f32").ok());
  EXPECT_EQ(f->get_int_or("nope", -3).value(), -3);
}

struct DtypeCase {
  DType type;
  std::vector<int64_t> ne;
};

TEST(GgufRoundTrip, EveryDtypeUsedInPlace) {
  const DType all[] = {DType::F32,  DType::F16,  DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                       DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K,
                       DType::I8,   DType::I16,  DType::I32,  DType::I64,  DType::F64,  DType::BF16};
  GgufWriter w;
  w.add_string("general.architecture", "test");
  std::vector<std::vector<uint8_t>> datas;
  int i = 0;
  for (DType t : all) {
    ASSERT_NE(type_traits(t), nullptr);
    int bs = block_size(t);
    std::vector<int64_t> ne = {int64_t{bs} * 2, 3};
    if (i % 3 == 1) ne.push_back(2);
    if (i % 3 == 2) ne = {int64_t{bs}};
    size_t n = row_size(t, ne[0]) * static_cast<size_t>(std::accumulate(ne.begin() + 1, ne.end(), int64_t{1}, std::multiplies<>()));
    datas.push_back(pattern(n, static_cast<uint8_t>(i)));
    ASSERT_TRUE(w.add_tensor("t." + std::to_string(i), t, ne, datas.back().data(), n).ok());
    ++i;
  }
  std::vector<uint8_t> bytes = w.to_bytes();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ(f->tensors().size(), std::size(all));
  EXPECT_EQ(f->data_offset() % 32, 0u);
  for (size_t k = 0; k < std::size(all); ++k) {
    const GgufTensorInfo& info = f->tensors()[k];
    EXPECT_EQ(info.name, "t." + std::to_string(k));
    EXPECT_EQ(info.type, all[k]);
    EXPECT_EQ(info.n_bytes, datas[k].size());
    EXPECT_EQ(info.offset % 32, 0u);
    Tensor t = f->tensor(info.name).value();
    EXPECT_EQ(t.type, all[k]);
    EXPECT_EQ(t.n_bytes(), datas[k].size());
    EXPECT_EQ(t.n_elements(), info.n_elements());
    EXPECT_GE(static_cast<const uint8_t*>(t.data), bytes.data());
    EXPECT_LE(static_cast<const uint8_t*>(t.data) + t.n_bytes(), bytes.data() + bytes.size());
    EXPECT_EQ(std::memcmp(t.data, datas[k].data(), datas[k].size()), 0) << info.name;
  }
  auto missing = f->tensor("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos);
}

TEST(GgufRoundTrip, AlignmentVariants) {
  for (uint32_t align : {8u, 32u, 64u, 4096u}) {
    GgufWriter w;
    ASSERT_TRUE(w.set_alignment(align).ok());
    std::vector<uint8_t> a = pattern(4 * 5, 1), b = pattern(4 * 7, 2);
    ASSERT_TRUE(w.add_tensor("a", DType::F32, {5}, a.data(), a.size()).ok());
    ASSERT_TRUE(w.add_tensor("b", DType::F32, {7}, b.data(), b.size()).ok());
    std::vector<uint8_t> bytes = w.to_bytes();
    auto f = parse(bytes);
    ASSERT_TRUE(f.ok()) << align << ": " << f.status().to_string();
    EXPECT_EQ(f->alignment(), align);
    EXPECT_EQ(f->has("general.alignment"), align != 32);
    EXPECT_EQ(f->data_offset() % align, 0u);
    EXPECT_EQ(f->find_tensor("b")->offset % align, 0u);
    EXPECT_EQ(std::memcmp(f->tensor("b")->data, b.data(), b.size()), 0);
  }
  GgufWriter w;
  EXPECT_EQ(w.set_alignment(48).code(), ErrorCode::invalid_argument);
  EXPECT_EQ(w.set_alignment(1).code(), ErrorCode::invalid_argument);  // GGUF asks for a multiple of 8
}

TEST(GgufRoundTrip, WriterRejectsBadTensors) {
  GgufWriter w;
  std::vector<uint8_t> d(64);
  EXPECT_TRUE(w.add_tensor("x", DType::F32, {16}, d.data(), 64).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {16}, d.data(), 64).ok());
  EXPECT_FALSE(w.add_tensor("y", DType::F32, {15}, d.data(), 64).ok());
  EXPECT_FALSE(w.add_tensor("z", DType::Q4_0, {16}, d.data(), 64).ok());
  EXPECT_FALSE(w.add_tensor("w", DType::F32, {}, d.data(), 0).ok());
}

TEST(GgufRoundTrip, FileOnDiskAndOwnerKeepsMappingAlive) {
  std::string path = testing::TempDir() + "/nm_gguf_rt.gguf";
  GgufWriter w;
  w.add_u32("llama.context_length", 4096);
  std::vector<float> x = {1, 2, 3, 4};
  ASSERT_TRUE(w.add_tensor("x", DType::F32, {4}, x.data(), 16).ok());
  ASSERT_TRUE(w.write(path).ok());
  Tensor t;
  {
    auto f = GgufFile::open(path);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->get_u32("llama.context_length").value(), 4096u);
    t = f->tensor("x").value();
  }
  ASSERT_NE(t.owner, nullptr);
  EXPECT_EQ(t.as<float>()[3], 4.f);  // file object gone, the view still valid
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nm

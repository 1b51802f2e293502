// Hostile / broken GGUF files: each is a good file from GgufWriter with some bytes
// changed; the reader must refuse it with the right code and a message naming the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "core/gguf_reader.h"
#include "core/gguf_writer.h"
#include "core/mapped_file.h"

namespace nm {
namespace {

// Layout: 2 kvs ("k.a" u32, "k.arr" array of 3 i32), 2 tensors ("ta" Q4_0 [64,2], "tb" F32 [8]).
std::vector<uint8_t> good_file() {
  GgufWriter w;
  w.add_u32("k.a", 7);
  w.add_array_i32("k.arr", {1, 2, 3});
  std::vector<uint8_t> q(18 * 4, 1), f(32, 2);
  EXPECT_TRUE(w.add_tensor("ta", DType::Q4_0, {64, 2}, q.data(), q.size()).ok());
  EXPECT_TRUE(w.add_tensor("tb", DType::F32, {8}, f.data(), f.size()).ok());
  return w.to_bytes();
}

size_t find(const std::vector<uint8_t>& b, const std::string& s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  EXPECT_NE(it, b.end()) << s;
  return static_cast<size_t>(it - b.begin());
}

template <class T>
void poke(std::vector<uint8_t>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

// Field offsets inside the tensor info of `name` (2-byte names).
size_t ndims_at(const std::vector<uint8_t>& b, const std::string& name) { return find(b, name) + name.size(); }
size_t ne_at(const std::vector<uint8_t>& b, const std::string& name) { return ndims_at(b, name) + 4; }
size_t type_at(const std::vector<uint8_t>& b, const std::string& name, int n_dims) {
  return ne_at(b, name) + 8 * static_cast<size_t>(n_dims);
}
size_t offset_at(const std::vector<uint8_t>& b, const std::string& name, int n_dims) {
  return type_at(b, name, n_dims) + 4;
}

void expect_error(const std::vector<uint8_t>& b, ErrorCode code, const std::string& needle) {
  auto f = GgufFile::from_memory(b.data(), b.size(), nullptr);
  ASSERT_FALSE(f.ok()) << "expected failure mentioning: " << needle;
  EXPECT_EQ(f.status().code(), code) << f.status().to_string();
  EXPECT_NE(f.status().message().find(needle), std::string::npos)
      << "message '" << f.status().message() << "' does not mention '" << needle << "'";
}

TEST(GgufCorrupt, GoodFileParses) {
  auto b = good_file();
  auto f = GgufFile::from_memory(b.data(), b.size(), nullptr);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
}

TEST(GgufCorrupt, TruncatedAnywhere) {
  auto b = good_file();
  for (size_t n = 1; n < b.size(); ++n) {
    std::vector<uint8_t> t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    auto f = GgufFile::from_memory(t.data(), t.size(), nullptr);
    // The last tensor ends before the final padding: cuts inside the padding are fine.
    if (n >= b.size() - (32 - 0) && f.ok()) continue;
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(f.status().code(), ErrorCode::invalid_file);
    const std::string& m = f.status().message();
    EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("larger than") != std::string::npos)
        << n << ": " << m;
  }
}

TEST(GgufCorrupt, MagicAndVersion) {
  auto b = good_file();
  auto x = b;
  x[0] = 'X';
  expect_error(x, ErrorCode::invalid_file, "bad magic");
  x = b;
  std::reverse(x.begin(), x.begin() + 4);
  expect_error(x, ErrorCode::unsupported, "little-endian");
  x = b;
  poke<uint32_t>(x, 4, 1);
  expect_error(x, ErrorCode::unsupported, "version 1");
  x = b;
  poke<uint32_t>(x, 4, 4);
  expect_error(x, ErrorCode::unsupported, "version 4");
  x = b;
  poke<uint32_t>(x, 4, 0x03000000u);
  expect_error(x, ErrorCode::unsupported, "big-endian");
  x = b;
  poke<uint32_t>(x, 4, 2);  // v2 layout is the same as v3
  EXPECT_TRUE(GgufFile::from_memory(x.data(), x.size(), nullptr).ok());
}

TEST(GgufCorrupt, AbsurdCounts) {
  auto b = good_file();
  auto x = b;
  poke<uint64_t>(x, 8, uint64_t{1} << 60);
  expect_error(x, ErrorCode::invalid_file, "the header says 1152921504606846976 tensors");
  x = b;
  poke<uint64_t>(x, 16, ~uint64_t{0});
  expect_error(x, ErrorCode::invalid_file, "the header says 18446744073709551615 metadata keys");
  x = b;
  poke<uint64_t>(x, find(x, "k.arr") + 5 + 4 + 4, uint64_t{1} << 40);  // array length
  expect_error(x, ErrorCode::invalid_file, "array length");
  x = b;
  poke<uint64_t>(x, find(x, "k.a") - 8, uint64_t{1} << 50);  // key string length
  expect_error(x, ErrorCode::invalid_file, "string length");
  // A one-key file whose key claims 2^60 bytes: the error names that string, not the count
  // (before: "metadata count 1 ... is larger than the file could hold").
  std::vector<uint8_t> tiny(32, 0);
  poke<uint32_t>(tiny, 0, 0x46554747u);  // "GGUF"
  poke<uint32_t>(tiny, 4, 3);
  poke<uint64_t>(tiny, 8, 0);                   // tensors
  poke<uint64_t>(tiny, 16, 1);                  // metadata keys
  poke<uint64_t>(tiny, 24, uint64_t{1} << 60);  // length of key #0's name
  expect_error(tiny, ErrorCode::invalid_file, "string length 1152921504606846976 of the name of metadata key #0");
  x = b;
  poke<uint64_t>(x, find(x, "ta") - 8, 1000000);  // tensor name length
  expect_error(x, ErrorCode::invalid_file, "the name of tensor #0");
}

TEST(GgufCorrupt, TooManyArrayItemsRefusedBeforeAllocating) {
  GgufWriter w;
  w.add("k.big", gguf_array(std::vector<uint8_t>{1}));
  auto x = w.to_bytes();
  const uint64_t n = (uint64_t{1} << 24) + 1;  // fits in the file, but too many items to parse
  poke<uint64_t>(x, find(x, "k.big") + 5 + 4 + 4, n);
  x.resize(x.size() + n, 0);
  expect_error(x, ErrorCode::invalid_file, "more than 16777216 array items");
}

TEST(GgufCorrupt, BadShapes) {
  auto b = good_file();
  auto x = b;
  poke<uint32_t>(x, ndims_at(x, "ta"), 0);
  expect_error(x, ErrorCode::invalid_file, "tensor 'ta' has 0 dimensions");
  x = b;
  poke<uint32_t>(x, ndims_at(x, "ta"), 5);
  expect_error(x, ErrorCode::invalid_file, "tensor 'ta' has 5 dimensions");
  x = b;
  poke<int64_t>(x, ne_at(x, "ta") + 8, 0);
  expect_error(x, ErrorCode::invalid_file, "dimension 1 = 0");
  x = b;
  poke<int64_t>(x, ne_at(x, "tb"), -8);
  expect_error(x, ErrorCode::invalid_file, "tensor 'tb' has dimension 0 = -8");
  x = b;
  poke<int64_t>(x, ne_at(x, "ta"), int64_t{1} << 40);
  poke<int64_t>(x, ne_at(x, "ta") + 8, int64_t{1} << 40);
  expect_error(x, ErrorCode::invalid_file, "overflows");
  x = b;
  poke<int64_t>(x, ne_at(x, "ta"), int64_t{32} << 30);  // fine count, far too many bytes
  expect_error(x, ErrorCode::invalid_file, "tensor 'ta'");
  x = b;
  poke<int64_t>(x, ne_at(x, "ta"), 48);
  expect_error(x, ErrorCode::invalid_file, "ne[0] = 48 is not a multiple of the block size 32");
}

TEST(GgufCorrupt, UnknownDtypeNamesIdAndTensor) {
  auto x = good_file();
  poke<uint32_t>(x, type_at(x, "tb", 1), 99);
  expect_error(x, ErrorCode::unsupported, "tensor 'tb' has unknown or unsupported type id 99");
  poke<uint32_t>(x, type_at(x, "tb", 1), 4);  // removed Q4_2
  expect_error(x, ErrorCode::unsupported, "type id 4");
}

TEST(GgufCorrupt, Offsets) {
  auto b = good_file();
  auto x = b;
  poke<uint64_t>(x, offset_at(x, "tb", 1), 80);
  expect_error(x, ErrorCode::invalid_file, "tensor 'tb' offset 80 is not a multiple of the alignment 32");
  x = b;
  poke<uint64_t>(x, offset_at(x, "tb", 1), 32 * 1000);
  expect_error(x, ErrorCode::invalid_file, "tensor 'tb' data");
  x = b;
  poke<uint64_t>(x, offset_at(x, "tb", 1), ~uint64_t{0} - 31);
  expect_error(x, ErrorCode::invalid_file, "ends past the end of the file");
  x = b;
  poke<uint64_t>(x, offset_at(x, "tb", 1), 32);  // inside ta (72 bytes at 0)
  expect_error(x, ErrorCode::invalid_file, "tensors 'ta' and 'tb' overlap");
}

TEST(GgufCorrupt, Duplicates) {
  auto b = good_file();
  auto x = b;
  x[find(x, "tb") + 1] = 'a';
  expect_error(x, ErrorCode::invalid_file, "duplicate tensor name 'ta'");
  GgufWriter w;
  w.add_u32("k.aa", 1);
  w.add_u32("k.ab", 2);
  x = w.to_bytes();
  x[find(x, "k.ab") + 3] = 'a';
  expect_error(x, ErrorCode::invalid_file, "duplicate metadata key 'k.aa'");
}

TEST(GgufCorrupt, MetadataValues) {
  auto b = good_file();
  auto x = b;
  poke<uint32_t>(x, find(x, "k.a") + 3, 13);  // value type of k.a
  expect_error(x, ErrorCode::invalid_file, "metadata key 'k.a' has unknown value type id 13");
  x = b;
  poke<uint32_t>(x, find(x, "k.arr") + 5 + 4, 77);  // array item type
  expect_error(x, ErrorCode::invalid_file, "'k.arr' is an array of unknown value type id 77");
  GgufWriter w;
  w.add_bool("k.b", true);
  x = w.to_bytes();
  x[find(x, "k.b") + 3 + 4] = 2;
  expect_error(x, ErrorCode::invalid_file, "bool value 2");
  GgufValue v = gguf_array(std::vector<int32_t>{1});
  for (int i = 0; i < 9; ++i) v = GgufValue(GgufArray{GgufType::array, {v}});
  GgufWriter deep;
  deep.add("k.deep", v);
  x = deep.to_bytes();
  expect_error(x, ErrorCode::invalid_file, "nested deeper");
}

TEST(GgufCorrupt, Alignment) {
  GgufWriter w;
  ASSERT_TRUE(w.set_alignment(64).ok());
  std::vector<uint8_t> d(16);
  ASSERT_TRUE(w.add_tensor("t", DType::F32, {4}, d.data(), d.size()).ok());
  auto b = w.to_bytes();
  auto x = b;
  poke<uint32_t>(x, find(x, "general.alignment") + 17 + 4, 48);
  expect_error(x, ErrorCode::invalid_file, "general.alignment 48 is not a power of two");
  x = b;
  poke<uint32_t>(x, find(x, "general.alignment") + 17 + 4, 0);
  expect_error(x, ErrorCode::invalid_file, "general.alignment 0");
  for (uint32_t small : {1u, 2u, 4u}) {  // powers of two that misplace F32 data (a fuzzer find)
    x = b;
    poke<uint32_t>(x, find(x, "general.alignment") + 17 + 4, small);
    expect_error(x, ErrorCode::invalid_file, "general.alignment " + std::to_string(small) + " is below 8");
  }
  EXPECT_FALSE(GgufWriter().set_alignment(4).ok());
  // A caller's buffer that starts off 8-byte alignment would misplace the data the same way.
  std::vector<uint64_t> storage(b.size() / 8 + 2);
  uint8_t* odd = reinterpret_cast<uint8_t*>(storage.data()) + 1;
  std::memcpy(odd, b.data(), b.size());
  auto shifted = GgufFile::from_memory(odd, b.size(), nullptr);
  ASSERT_FALSE(shifted.ok());
  EXPECT_EQ(shifted.status().code(), ErrorCode::invalid_argument);
  EXPECT_NE(shifted.status().message().find("not 8-byte aligned"), std::string::npos) << shifted.status().message();
  x = b;
  poke<uint32_t>(x, find(x, "general.alignment") + 17, 5);  // type i32
  expect_error(x, ErrorCode::invalid_file, "general.alignment must be u32, got i32");
}

TEST(MappedFile, OpenErrors) {
  auto m = MappedFile::open("/nonexistent/nm_nope.gguf");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::io_error);
  EXPECT_NE(m.status().message().find("not found"), std::string::npos);
  auto d = MappedFile::open(testing::TempDir());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("directory"), std::string::npos);
  std::string empty = testing::TempDir() + "/nm_empty.gguf";
  std::fclose(std::fopen(empty.c_str(), "wb"));
  auto e = MappedFile::open(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), ErrorCode::invalid_file);
  EXPECT_NE(e.status().message().find("empty"), std::string::npos);
  auto g = GgufFile::open(empty);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("empty"), std::string::npos);
  std::remove(empty.c_str());
  if (geteuid() != 0) {
    std::string locked = testing::TempDir() + "/nm_locked.gguf";
    std::FILE* f = std::fopen(locked.c_str(), "wb");
    std::fputs("GGUF", f);
    std::fclose(f);
    chmod(locked.c_str(), 0);
    auto u = MappedFile::open(locked);
    ASSERT_FALSE(u.ok());
    EXPECT_NE(u.status().message().find("cannot open"), std::string::npos);
    std::remove(locked.c_str());
  }
}

}  // namespace
}  // namespace nm

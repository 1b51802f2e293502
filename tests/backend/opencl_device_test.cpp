// OpenCL device specifics: zero-copy use of mmapped weights (resident memory before and
// after a run), the on-disk program cache, device choice by NM_OPENCL_DEVICE, and clear
// errors. Skips with a message when the machine has no OpenCL platform.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "backend/device_registry.h"
#ifdef NM_HAVE_OPENCL
#include "backend/opencl/opencl_device.h"
#include "backend/opencl/opencl_kernels.h"
#include "backend/opencl/opencl_program_cache.h"
#endif

namespace nm {
namespace {

[[maybe_unused]] size_t resident_bytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  const int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? (size_t)pages_resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

#ifdef NM_HAVE_OPENCL
std::unique_ptr<OpenClDevice> open_device() {
  Result<std::unique_ptr<OpenClDevice>> d = OpenClDevice::create();
  if (!d.ok()) return nullptr;
  return std::move(d).value();
}
#define NM_NEED_OPENCL(dev)                                                         \
  auto dev = open_device();                                                         \
  if (!dev) GTEST_SKIP() << "no OpenCL platform/device on this machine: skipped"
#else
#define NM_NEED_OPENCL(dev) GTEST_SKIP() << "built without OpenCL (NM_OPENCL=OFF or no headers): skipped"
#endif

TEST(OpenClDevice, MmappedWeightIsNotDuplicated) {
#ifdef NM_HAVE_OPENCL
  NM_NEED_OPENCL(dev);
  if (!dev->memory().unified) GTEST_SKIP() << dev->description() << " does not report host-unified memory";
  // A 192 MiB f32 weight in an mmapped file, as a GGUF tensor would be.
  const int64_t K = 4096, N = 12288;
  const size_t bytes = (size_t)K * N * 4;
  char path[] = "/tmp/nm_zero_copy_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, (off_t)bytes), 0);
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  float* w = static_cast<float*>(map);
  for (int64_t n = 0; n < N; ++n) w[n * K + n % K] = 1.0f + (float)(n % 7);  // row n picks b[n % K]
  double touch = 0;
  for (size_t i = 0; i < bytes / 4; i += 1024) touch += w[i];  // make every page resident
  Graph g;
  const NodeId wa = g.weight(Tensor::make(DType::F32, {K, N, 1, 1}, map));
  const NodeId x = g.input(DType::F32, {K, 1, 1, 1});
  const NodeId y = g.output(g.matmul(wa, x));
  const size_t before = resident_bytes();
  auto exe = dev->prepare(std::move(g));
  ASSERT_TRUE(exe.ok()) << exe.status().to_string();
  float* xin = static_cast<float*>((*exe)->tensor(x).data);
  for (int64_t k = 0; k < K; ++k) xin[k] = (float)k;
  ASSERT_TRUE(dev->run(**exe).ok());
  const size_t after = resident_bytes();
  const float* out = static_cast<const float*>((*exe)->tensor(y).data);
  for (int64_t n = 0; n < N; n += 997) EXPECT_EQ(out[n], (1.0f + (float)(n % 7)) * (float)(n % K)) << n;
  const double grew_mib = ((double)after - (double)before) / (1 << 20);
  std::printf("%s: weight %.0f MiB, resident before %.0f MiB, after %.0f MiB (+%.1f MiB)%s\n", dev->description().c_str(),
              (double)bytes / (1 << 20), (double)before / (1 << 20), (double)after / (1 << 20), grew_mib, touch > 0 ? "" : " ");
  // A copy would add 192 MiB; allow the arena, kernels and driver bookkeeping.
  EXPECT_LT(grew_mib, 48.0) << "the weight was duplicated";
  exe = Result<std::unique_ptr<Executable>>(error(ErrorCode::internal, "released"));
  munmap(map, bytes);
  close(fd);
  std::remove(path);
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

TEST(OpenClDevice, ProgramCacheIsReused) {
#ifdef NM_HAVE_OPENCL
  const std::string dir = (std::filesystem::temp_directory_path() / ("nm_clcache_" + std::to_string(std::random_device{}()))).string();
  setenv("NM_OPENCL_CACHE_DIR", dir.c_str(), 1);
  {
    NM_NEED_OPENCL(dev);
    ASSERT_TRUE(dev->kernel("elementwise", "silu_f32", "silu").ok());
    EXPECT_EQ(dev->programs_compiled(), 1);
    EXPECT_EQ(dev->programs_from_cache(), 0);
  }
  {
    auto dev = open_device();
    ASSERT_TRUE(dev->kernel("elementwise", "silu_f32", "silu").ok());
    EXPECT_EQ(dev->programs_compiled(), 0);
    EXPECT_EQ(dev->programs_from_cache(), 1);
  }
  unsetenv("NM_OPENCL_CACHE_DIR");
  std::filesystem::remove_all(dir);
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

#ifdef NM_HAVE_OPENCL
// Files of a cache directory, for damaging them.
std::vector<std::filesystem::path> cache_files(const std::string& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void write_bytes(const std::filesystem::path& p, const std::vector<unsigned char>& bytes) {
  std::FILE* f = std::fopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);  // an empty vector's data() may be NULL (UBSan)
  std::fclose(f);
}

std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
#endif

TEST(OpenClProgramCache, DamagedFilesAreIgnoredAndReplaced) {
#ifdef NM_HAVE_OPENCL
  // No device needed: the file format alone. A damaged entry must read as absent (so the
  // driver never sees it) and be replaced by the next store.
  const std::string dir = (std::filesystem::temp_directory_path() / ("nm_clcache_" + std::to_string(std::random_device{}()))).string();
  OpenClProgramCache cache(dir);
  std::mt19937 rng(7);
  std::vector<unsigned char> bin(5000);
  for (auto& b : bin) b = (unsigned char)rng();
  const uint64_t key = OpenClProgramCache::key("dev", "-opt", "source");
  EXPECT_FALSE(cache.load(key).has_value());
  cache.store(key, bin);
  ASSERT_EQ(cache.load(key), bin);
  const std::filesystem::path file = cache_files(dir).at(0);
  const std::vector<unsigned char> good = read_bytes(file);
  auto damaged = [&](std::vector<unsigned char> bytes) {
    write_bytes(file, bytes);
    return !cache.load(key).has_value();
  };
  EXPECT_TRUE(damaged({}));                                               // empty
  EXPECT_TRUE(damaged({good.begin(), good.begin() + 20}));                // inside the header
  EXPECT_TRUE(damaged({good.begin(), good.end() - 1}));                   // truncated payload
  for (size_t at : {size_t{0}, size_t{9}, size_t{17}, size_t{30}, good.size() - 1}) {  // magic, size, hash, payload
    std::vector<unsigned char> flip = good;
    flip[at] ^= 0x10;
    EXPECT_TRUE(damaged(flip)) << "bit flip at " << at;
  }
  std::vector<unsigned char> longer = good;
  longer.push_back(0);
  EXPECT_TRUE(damaged(longer));
  EXPECT_TRUE(damaged(bin));  // a bare binary as older versions wrote it
  cache.store(key, bin);      // replaced by the next store
  EXPECT_EQ(cache.load(key), bin);
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);  // a directory where the file should be
  EXPECT_FALSE(cache.load(key).has_value());
  cache.store(key, bin);  // cannot replace a directory: no crash, still absent
  EXPECT_FALSE(cache.load(key).has_value());
  std::filesystem::remove_all(dir);
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

TEST(OpenClDevice, FirstCompilationIsAnnouncedOnceAndDamagedEntriesAreRebuilt) {
#ifdef NM_HAVE_OPENCL
  const std::string dir = (std::filesystem::temp_directory_path() / ("nm_clcache_" + std::to_string(std::random_device{}()))).string();
  setenv("NM_OPENCL_CACHE_DIR", dir.c_str(), 1);
  std::vector<std::string> lines;
  auto make = [&]() -> std::unique_ptr<OpenClDevice> {
    OpenClOptions o;
    o.log = [&lines](const std::string& line) { lines.push_back(line); };
    auto d = OpenClDevice::create("opencl", o);
    return d.ok() ? std::move(d).value() : nullptr;
  };
  auto two_programs = [](OpenClDevice& dev) {
    return dev.kernel("elementwise", "silu_f32", "silu").ok() && dev.kernel("norm", "rms_norm_f32", "rms_norm").ok();
  };
  {
    auto dev = make();
    if (!dev) GTEST_SKIP() << "no OpenCL platform/device on this machine: skipped";
    ASSERT_TRUE(two_programs(*dev));
    EXPECT_EQ(dev->programs_compiled(), 2);
  }
  ASSERT_EQ(lines.size(), 1u) << "one notice for the first compilation, not one per program";
  EXPECT_NE(lines[0].find("compiling the OpenCL kernels"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(dir), std::string::npos) << lines[0];
  {
    auto dev = make();
    ASSERT_TRUE(two_programs(*dev));
    EXPECT_EQ(dev->programs_from_cache(), 2);
  }
  EXPECT_EQ(lines.size(), 1u) << "a run from the cache says nothing";
  // Damage both entries: one truncated, one with a flipped payload byte.
  const auto files = cache_files(dir);
  ASSERT_EQ(files.size(), 2u);
  std::vector<unsigned char> a = read_bytes(files[0]), b = read_bytes(files[1]);
  a.resize(a.size() / 2);
  b[b.size() / 2] ^= 0x55;
  write_bytes(files[0], a);
  write_bytes(files[1], b);
  {
    auto dev = make();
    ASSERT_TRUE(two_programs(*dev));  // rebuilt from source, never handed the damaged bytes
    EXPECT_EQ(dev->programs_compiled(), 2);
    EXPECT_EQ(dev->programs_from_cache(), 0);
  }
  {
    auto dev = make();
    ASSERT_TRUE(two_programs(*dev));  // and the entries were rewritten
    EXPECT_EQ(dev->programs_from_cache(), 2);
  }
  unsetenv("NM_OPENCL_CACHE_DIR");
  std::filesystem::remove_all(dir);
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

TEST(OpenClDevice, ChoiceByEnvironmentAndClearErrors) {
#ifdef NM_HAVE_OPENCL
  {
    NM_NEED_OPENCL(any);
    setenv("NM_OPENCL_DEVICE", "no-such-device-xyz", 1);
    Result<std::unique_ptr<OpenClDevice>> d = OpenClDevice::create();
    unsetenv("NM_OPENCL_DEVICE");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("NM_OPENCL_DEVICE"), std::string::npos);
    setenv("NM_OPENCL_DEVICE", "0:0", 1);
    d = OpenClDevice::create();
    unsetenv("NM_OPENCL_DEVICE");
    ASSERT_TRUE(d.ok());
    // Unknown kernel: the error names the op and the device.
    Result<cl_kernel> k = (*d)->kernel("elementwise", "no_such_kernel", "frobnicate");
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.status().message().find("frobnicate"), std::string::npos);
    EXPECT_NE(k.status().message().find((*d)->info().device_name), std::string::npos);
    // An op the device does not run is refused at prepare() by name.
    std::vector<unsigned char> q6(210 * 2);
    Graph g;
    const NodeId w = g.weight(Tensor::make(DType::Q6_K, {256, 2, 1, 1}, q6.data()));
    g.output(g.matmul(w, g.input(DType::F32, {256, 1, 1, 1})));
    EXPECT_FALSE((*d)->supports(g, g.node(2)));
    auto exe = (*d)->prepare(std::move(g));
    ASSERT_FALSE(exe.ok());
    EXPECT_EQ(exe.status().code(), ErrorCode::unsupported);
    EXPECT_NE(exe.status().message().find("matmul"), std::string::npos);
    EXPECT_NE(exe.status().message().find("q6_k"), std::string::npos) << exe.status().message();
    // Out-of-range token ids are reported, not read out of bounds.
    std::vector<float> table(16 * 4, 1.0f);
    Graph g2;
    const NodeId t = g2.weight(Tensor::make(DType::F32, {16, 4, 1, 1}, table.data()));
    const NodeId ids = g2.input(DType::I32, {2, 1, 1, 1});
    g2.output(g2.get_rows(t, ids));
    auto exe2 = (*d)->prepare(std::move(g2));
    ASSERT_TRUE(exe2.ok()) << exe2.status().to_string();
    int32_t* idp = static_cast<int32_t*>((*exe2)->tensor(ids).data);
    idp[0] = 1;
    idp[1] = 4;
    const Status st = (*d)->run(**exe2);
    EXPECT_EQ(st.code(), ErrorCode::out_of_range);
    EXPECT_NE(st.message().find("get_rows"), std::string::npos);
  }
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

TEST(OpenClDevice, EventsAndImport) {
#ifdef NM_HAVE_OPENCL
  NM_NEED_OPENCL(dev);
  auto ev = dev->record_event();
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE((*ev)->wait().ok());
  EXPECT_TRUE((*ev)->done());
  auto buf = dev->allocate(10000);
  ASSERT_TRUE(buf.ok());
  EXPECT_EQ((uintptr_t)(*buf)->host_ptr() % 4096, 0u);
  std::vector<char> host(8192 + 4096);
  char* aligned = reinterpret_cast<char*>(((uintptr_t)host.data() + 4095) / 4096 * 4096);
  auto imp = dev->import_host(aligned, 8192);
  ASSERT_TRUE(imp.ok());
  EXPECT_EQ((*imp)->host_ptr(), aligned);
  EXPECT_EQ((*imp)->zero_copy(), dev->memory().unified);
  EXPECT_TRUE(dev->synchronize().ok());
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

// The half-arithmetic kernels (NM_HAS_FP16) run only on devices with cl_khr_fp16, which
// PoCL on x86 lacks: compile every weight-reading program in each arithmetic with clang's
// OpenCL front end (cl_khr_fp16 enabled, SPIR target) so that path at least compiles
// here. (Its numerics are checked by BackendOps.OpenClMatmulInEachArithmetic through the
// f32 emulation of the same code, NM_FP16_EMULATE.) Skipped without clang.
TEST(OpenClDevice, HalfArithmeticKernelsCompileWithClang) {
#ifdef NM_HAVE_OPENCL
  if (std::system("clang --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no clang on PATH: skipped";
  auto source = [](const char* name) {
    for (const EmbeddedKernel& k : opencl_embedded_kernels()) {
      if (std::string(k.name) == name) return std::string(k.source);
    }
    return std::string();
  };
  const std::string dir = (std::filesystem::temp_directory_path() / ("nm_clsyntax_" + std::to_string(std::random_device{}()))).string();
  std::filesystem::create_directories(dir);
  for (const char* program : {"matmul", "matmul_tiled", "get_rows", "attention"}) {
    const std::string path = dir + "/" + program + ".cl";
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = source("quant") + source(program);
    ASSERT_GT(text.size(), source("quant").size()) << program;
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    for (const char* def : {"-DNM_HAS_FP16=1", "-DNM_FP16_EMULATE=1", ""}) {
      const std::string cmd = std::string("clang -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -Xclang ") +
                              "-cl-ext=+cl_khr_fp16 -target spir64 -DNM_WG=64 " + def + " -Werror -fsyntax-only " + path +
                              " > " + path + ".log 2>&1";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << " (see " << path << ".log)";
    }
  }
  std::filesystem::remove_all(dir);
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

}  // namespace
}  // namespace nm

#include "kernels/cpu_features.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace nm {

namespace {

CpuFeatures probe_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__)
  // cpuid for what the CPU has, xgetbv for what the OS saves on context switches.
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  const bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  uint64_t xcr0 = 0;
  if (osxsave) {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((uint64_t)hi << 32) | lo;
  }
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  unsigned b7 = 0, c7 = 0, d7 = 0, a7 = 0;
  if (__get_cpuid_max(0, nullptr) >= 7) __cpuid_count(7, 0, a7, b7, c7, d7);
  f.avx2 = os_avx && ((b7 >> 5) & 1);
  f.fma = os_avx && fma;
  f.f16c = os_avx && f16c;
  f.avx512f = os_avx512 && ((b7 >> 16) & 1);
  f.avx512dq = os_avx512 && ((b7 >> 17) & 1);
  f.avx512bw = os_avx512 && ((b7 >> 30) & 1);
  f.avx512vl = os_avx512 && ((b7 >> 31) & 1);
  f.avx512vnni = os_avx512 && ((c7 >> 11) & 1);
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP);
  f.dotprod = (hw & HWCAP_ASIMDDP) != 0;
  f.fp16_arith = (hw & HWCAP_ASIMDHP) != 0;
#endif
#endif
  return f;
}

}  // namespace

// Probed once: cpuid traps to the hypervisor in a VM, and matmul asks on every call.
CpuFeatures detect_cpu_features() {
  static const CpuFeatures features = probe_cpu_features();
  return features;
}

bool isa_supported(Isa isa, const CpuFeatures& f) {
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::avx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case Isa::avx512_vnni: return isa_supported(Isa::avx512, f) && f.avx512vnni;
    case Isa::neon: return f.neon;
    case Isa::neon_dotprod: return f.neon && f.dotprod;
  }
  return false;
}

bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
#if defined(__x86_64__)
    case Isa::avx2:
    case Isa::avx512:
    case Isa::avx512_vnni: return true;
#endif
#if defined(__aarch64__)
    case Isa::neon:
    case Isa::neon_dotprod: return true;
#endif
    default: return false;
  }
}

namespace {

// The ISAs the CPU and build allow, cut after the one NM_ISA names (if any), in order.
std::vector<Isa> probe_usable_isas() {
  const CpuFeatures f = detect_cpu_features();
  std::vector<Isa> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni, Isa::neon, Isa::neon_dotprod}) {
    if (isa_compiled(isa) && isa_supported(isa, f)) out.push_back(isa);
  }
  const char* cap = std::getenv("NM_ISA");
  if (!cap || !*cap) return out;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::strcmp(cap, isa_name(out[i])) == 0) {
      out.resize(i + 1);
      return out;
    }
  }
  std::string names;
  for (Isa isa : out) names += std::string(" ") + isa_name(isa);
  std::fprintf(stderr, "nanomind: NM_ISA=%s is not usable on this CPU (usable:%s); using %s\n", cap, names.c_str(),
               isa_name(out.back()));
  return out;
}

}  // namespace

// NM_ISA caps the kernels at a path the CPU would not pick by itself (e.g. NM_ISA=avx2 on an
// AVX-512 machine, NM_ISA=scalar for the reference path), for tests, benchmarks and bug
// reports. Read once per process.
std::vector<Isa> usable_isas() {
  static const std::vector<Isa> isas = probe_usable_isas();
  return isas;
}

Isa best_isa() { return usable_isas().back(); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512_vnni: return "avx512_vnni";
    case Isa::neon: return "neon";
    case Isa::neon_dotprod: return "neon_dotprod";
  }
  return "?";
}

}  // namespace nm

#include "kernels/cpu_features.h"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace nm {

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = __builtin_cpu_supports("f16c");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
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

std::vector<Isa> usable_isas() {
  const CpuFeatures f = detect_cpu_features();
  std::vector<Isa> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni, Isa::neon, Isa::neon_dotprod}) {
    if (isa_compiled(isa) && isa_supported(isa, f)) out.push_back(isa);
  }
  return out;
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

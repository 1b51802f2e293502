// What the CPU can run, detected at run time, and the instruction-set levels kernels are
// compiled for. Every kernel keeps a scalar path; faster paths are chosen per call from
// an Isa value (the CPU device picks the best one; tests force each in turn).
#pragma once

#include <vector>

namespace nm {

enum class Isa {
  scalar = 0,   // portable reference, every machine
  avx2,         // x86: AVX2 + FMA + F16C
  avx512,       // x86: AVX-512 F/BW/VL/DQ
  avx512_vnni,  // x86: AVX-512 + VNNI (vpdpbusd)
  neon,         // aarch64: NEON
  neon_dotprod, // aarch64: NEON + sdot
};

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
  bool neon = false, dotprod = false, fp16_arith = false;
};

CpuFeatures detect_cpu_features();
bool isa_supported(Isa isa, const CpuFeatures& f);
// Whether the kernels for `isa` were compiled into this build.
bool isa_compiled(Isa isa);
// Best Isa that is both compiled and supported by this CPU.
Isa best_isa();
// Every Isa usable here, scalar first (tests compare each against scalar); the environment
// variable NM_ISA=<isa_name> drops those after the one it names.
std::vector<Isa> usable_isas();
const char* isa_name(Isa isa);

}  // namespace nm

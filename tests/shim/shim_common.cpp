#include "kernels/cpu_features.h"
#include "tests/shim/shim.h"

// The nm::Isa values usable on this machine (scalar first); returns their count.
NM_SHIM int nm_shim_usable_isas(int* out, int cap) {
  int n = 0;
  for (nm::Isa isa : nm::usable_isas())
    if (n < cap) out[n++] = static_cast<int>(isa);
  return n;
}

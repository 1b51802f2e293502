// split_rows: the one way ops divide rows among threads (contiguous, balanced, fixed).
#include <algorithm>

#include "kernels/ops.h"

namespace nm::kernels {

RowRange split_rows(int64_t n_rows, int ith, int nth) {
  assert(nth >= 1 && ith >= 0 && ith < nth);
  const int64_t per = n_rows / nth, extra = n_rows % nth;
  const int64_t begin = ith * per + (ith < extra ? ith : extra);
  return {begin, begin + per + (ith < extra ? 1 : 0)};
}

RowRange split_elems(int64_t n, int ith, int nth) {
  constexpr int64_t kChunk = 64;
  const RowRange c = split_rows((n + kChunk - 1) / kChunk, ith, nth);
  return {std::min(c.begin * kChunk, n), std::min(c.end * kChunk, n)};
}

}  // namespace nm::kernels

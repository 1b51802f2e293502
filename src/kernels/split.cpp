// split_rows: the one way ops divide rows among threads (contiguous, balanced, fixed).
#include "kernels/ops.h"

namespace nm {

RowRange split_rows(int64_t n_rows, int ith, int nth) {
  assert(nth >= 1 && ith >= 0 && ith < nth);
  const int64_t per = n_rows / nth, extra = n_rows % nth;
  const int64_t begin = ith * per + (ith < extra ? ith : extra);
  return {begin, begin + per + (ith < extra ? 1 : 0)};
}

}  // namespace nm

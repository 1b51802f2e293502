// CPU kernels for the graph's pure data-movement ops (cpy/cont, concat, get_rows).
// Each is called by every pool thread with its (ith, nth) and writes a disjoint part
// of the destination; none allocates. Shapes were validated by the graph builder.
#pragma once

#include "core/status.h"
#include "core/tensor.h"

namespace nm {

// Copies src into dst element by element in flattened (ne0-fastest) order, converting
// between F32/F16/BF16, quantising F32 rows into block types (Q8_0 KV cache); same-type
// copies of any dtype (quantised: whole contiguous rows).
// Returns unsupported when the dtype/layout combination has no copy path.
Status cpu_copy(const Tensor& src, const Tensor& dst, int ith, int nth);
// Whether cpu_copy handles this pair (checked once, before running).
bool cpu_copy_supported(const Tensor& src, const Tensor& dst);

// dst (contiguous) = a and b joined along `dim`; any non-quantised dtype, strided inputs.
void cpu_concat(const Tensor& a, const Tensor& b, int dim, const Tensor& dst, int ith, int nth);

// dst F32 [ne0, n] row r = dequantised table row ids[r]. Returns out_of_range naming
// the bad id when one is outside the table.
Status cpu_get_rows(const Tensor& table, const Tensor& ids, const Tensor& dst, int ith, int nth);

}  // namespace nm

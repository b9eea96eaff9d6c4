// h = l·z for the exact MLP's hidden chunk (block_laws.cc): an m×m matrix times an m×cols block,
// m small (tokens), cols up to kHiddenChunk. Each entry is Σ_k l(i,k)·z(k,c) summed in k order,
// every product rounded before its add (no fused multiply-add), so the portable implementation
// and the AVX2 one, chosen at run time (cpu_features.h), give the same bits.
#ifndef SIGPROP_COMMON_FINITE_MIX_ROWS_H_
#define SIGPROP_COMMON_FINITE_MIX_ROWS_H_

#include "common/linalg.h"

namespace sigprop {

// Writes the first `cols` columns of h (already sized m × ≥cols).
void MixRows(const Matrix& l, const Matrix& z, int cols, Matrix* h);

// The two implementations behind MixRows, for tests.
void MixRowsPortable(const Matrix& l, const Matrix& z, int cols, Matrix* h);
void MixRowsAvx2(const Matrix& l, const Matrix& z, int cols, Matrix* h);  // Only with AVX2.

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_MIX_ROWS_H_

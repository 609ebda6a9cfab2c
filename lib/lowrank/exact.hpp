#pragma once
// The LAPACK paths of the truncated SVD (registry rows "exact" and "exact-gesdd") and the checks
// shared by all rows.
#include "common/matrix.hpp"
#include "lowrank/svd.hpp"

namespace loft::lowrank {

// Throws unless 1 <= rank <= min(m, n) and every entry is finite.
void check_svd_input(ConstMatrixRef a, int rank);

// The top `rank` triplets by sgesvdx (range 'I'): the same bidiagonalisation as sgesdd, then
// bisection and inverse iteration for the selected values and vectors of the bidiagonal only, and
// back-transformation of those `rank` vectors alone. No all_values. Inputs checked by the caller.
TruncatedSvd exact_svd(ConstMatrixRef a, int rank);

// The reference: the full thin SVD by sgesdd (all min(m, n) vectors), truncated to rank; fills
// all_values. Inputs checked by the caller.
TruncatedSvd exact_svd_gesdd(ConstMatrixRef a, int rank);

}  // namespace loft::lowrank

#pragma once
// The LAPACK path of the truncated SVD (registry row "exact") and the checks shared by all rows.
#include "common/matrix.hpp"
#include "lowrank/svd.hpp"

namespace loft::lowrank {

// Throws unless 1 <= rank <= min(m, n) and every entry is finite.
void check_svd_input(ConstMatrixRef a, int rank);

// Thin SVD by sgesdd, truncated to rank; fills all_values. Inputs checked by the caller.
TruncatedSvd exact_svd(ConstMatrixRef a, int rank);

}  // namespace loft::lowrank

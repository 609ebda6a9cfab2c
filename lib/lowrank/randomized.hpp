#pragma once
// The randomized path of the truncated SVD (registry row "randomized").
#include <cstdint>

#include "common/matrix.hpp"
#include "lowrank/products.hpp"
#include "lowrank/svd.hpp"

namespace loft::lowrank {

// Halko, Martinsson & Tropp (2011), Alg. 4.4 + 5.1: sketch l = min(rank + oversample, min(m, n))
// columns with a Gaussian test matrix drawn from derive_seed(seed, "randomized-svd"), run
// power_iters rounds of A^T, A products with a QR after every product (plain power iteration
// loses the small directions to round-off), then SVD the l x n projection Q^T A exactly.
//
// Warm start (row "randomized-warm"): with a start of n x l orthonormal columns (a previous
// result's basis), the sketch is A start instead of A Omega and warm_iters power iterations
// follow; with keep_basis the result carries the orthonormal row-space basis for the next call.
TruncatedSvd randomized_svd(ConstMatrixRef a, int rank, int oversample, int power_iters,
                            uint64_t seed, int warm_iters = 0,
                            const Eigen::MatrixXf* start = nullptr, bool keep_basis = false);

// Replace the columns of y by an orthonormal basis of their span (Householder QR, thin Q).
void orthonormalise_columns(ColMatrix& y);

}  // namespace loft::lowrank

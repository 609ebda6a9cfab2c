#include "lowrank/randomized.hpp"

#include <random>
#include <vector>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "lowrank/exact.hpp"
#include "lowrank/lapack.hpp"
#include "lowrank/products.hpp"

namespace loft::lowrank {

void orthonormalise_columns(ColMatrix& y) {
  SerialBlas serial;  // O(m l^2): cheap, and thread-count independent this way
  const lapack_int m = static_cast<lapack_int>(y.rows()), l = static_cast<lapack_int>(y.cols());
  std::vector<float> tau(l);
  lapack_int info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, m, l, y.data(), m, tau.data());
  if (info == 0) info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, m, l, l, y.data(), m, tau.data());
  if (info != 0) fail("LAPACK QR of a {}x{} sketch failed (info = {})", m, l, info);
}

namespace {

// The seeded Gaussian test matrix, drawn serially in a fixed order: the sketch does not depend
// on the thread count.
ColMatrix gaussian_sketch(Eigen::Index n, int l, uint64_t seed) {
  Rng rng = make_rng(seed, "randomized-svd");
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ColMatrix omega(n, l);
  for (Eigen::Index j = 0; j < l; ++j)
    for (Eigen::Index i = 0; i < n; ++i) omega(i, j) = normal(rng);
  return omega;
}

}  // namespace

TruncatedSvd randomized_svd(ConstMatrixRef a, int rank, int oversample, int power_iters,
                            uint64_t seed, int warm_iters, const Eigen::MatrixXf* start,
                            bool keep_basis) {
  const Eigen::Index m = a.rows(), n = a.cols();
  const int l = static_cast<int>(std::min<Eigen::Index>(rank + oversample, std::min(m, n)));
  const bool warm = start && start->rows() == n && start->cols() == l;

  ColMatrix y, z;
  a_times(a, warm ? *start : gaussian_sketch(n, l, seed), y);
  orthonormalise_columns(y);
  for (int it = 0, iters = warm ? warm_iters : power_iters; it < iters; ++it) {
    at_times(a, y, z);
    orthonormalise_columns(z);
    a_times(a, z, y);
    orthonormalise_columns(y);
  }
  // B = Q^T A is l x n; its transpose A^T Q, column-major n x l, is B in row-major order.
  at_times(a, y, z);
  Matrix b = Eigen::Map<const Matrix>(z.data(), l, n);
  TruncatedSvd small;
  {
    SerialBlas serial;  // small, and threaded LAPACK would round differently per thread count
    small = exact_svd_gesdd(b, rank);  // l x n with l close to rank: all vectors are wanted
  }
  TruncatedSvd out;
  {
    SerialBlas serial;    // Eigen's product too: m l r is small
    out.U = y * small.U;  // m x rank, orthonormal: Q and the small U both are
  }
  out.S = std::move(small.S);
  out.V = std::move(small.V);
  normalise_signs(out.U, out.V);
  if (keep_basis) {
    orthonormalise_columns(z);  // A^T Q spans the row space found
    out.basis = std::move(z);
  }
  return out;
}

}  // namespace loft::lowrank

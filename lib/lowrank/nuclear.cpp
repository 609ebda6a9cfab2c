#include "lowrank/nuclear.hpp"

#include <cmath>
#include <optional>
#include <vector>

#include "common/error.hpp"
#include "common/finite.hpp"
#include "lowrank/lapack.hpp"
#include "lowrank/products.hpp"
#include "lowrank/svd.hpp"

namespace loft::lowrank {

GramNuclear nuclear_norm_gram(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  if (!all_finite(a))
    fail("nuclear norm of a {}x{} matrix with NaN or Inf entries", a.rows(), a.cols());
  // The row-major m x n buffer is the column-major n x m matrix X = A^T (leading dimension
  // n): A A^T = X^T X ('T'), A^T A = X X^T ('N').
  const int m = static_cast<int>(a.rows()), n = static_cast<int>(a.cols());
  const int ld = static_cast<int>(a.outerStride());
  const bool rows_short = m <= n;
  const int side = rows_short ? m : n, depth = rows_short ? n : m;
  std::vector<float> gram(static_cast<size_t>(side) * side);
  // Small problems run serially, as the SVD drivers' do: threaded BLAS rounds differently per
  // thread count and gains little there.
  std::optional<SerialBlas> serial;
  if (double(side) * side * depth < 5e7) serial.emplace();
  cblas_ssyrk(CblasColMajor, CblasLower, rows_short ? CblasTrans : CblasNoTrans, side, depth, 1.0f,
              a.data(), ld, 0.0f, gram.data(), side);
  std::vector<float> lambda(static_cast<size_t>(side));
  const lapack_int info =
      LAPACKE_ssyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', side, gram.data(), side, lambda.data());
  if (info != 0)
    fail("LAPACK ssyevd_2stage failed on the {}x{} Gram matrix of a {}x{} matrix (info = {})", side,
         side, m, n, info);
  double lambda_max = 0;
  for (float l : lambda) lambda_max = std::max(lambda_max, double(l));
  const double delta = 0x1p-24 * std::sqrt(double(depth)) * lambda_max;
  GramNuclear out;
  for (float l : lambda) {
    const double lp = std::max(double(l), 0.0);
    const double sigma = std::sqrt(lp);
    out.value += sigma;
    out.error_bound += lp > delta ? delta / (2 * sigma) : std::sqrt(delta);
  }
  return out;
}

double nuclear_norm_gesdd(ConstMatrixRef a) {
  double s = 0;
  for (float v : singular_values(a)) s += v;
  return s;
}

double nuclear_norm(ConstMatrixRef a) {
  const GramNuclear g = nuclear_norm_gram(a);
  if (g.error_bound <= kGramTolerance * g.value) return g.value;
  return nuclear_norm_gesdd(a);
}

}  // namespace loft::lowrank

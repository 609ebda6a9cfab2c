#include "lowrank/nuclear.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "common/error.hpp"
#include "common/finite.hpp"
#include "lowrank/lapack.hpp"
#include "lowrank/products.hpp"
#include "lowrank/svd.hpp"

namespace loft::lowrank {

namespace {

void check_finite(ConstMatrixRef a) {
  if (!all_finite(a))
    fail("nuclear norm of a {}x{} matrix with NaN or Inf entries", a.rows(), a.cols());
}

// The Gram's shape: the row-major m x n buffer is the column-major n x m matrix X = A^T (leading
// dimension n), so A A^T = X^T X ('T') and A^T A = X X^T ('N').
struct GramShape {
  int side, depth, ld;
  bool rows_short;
  explicit GramShape(ConstMatrixRef a)
      : side(static_cast<int>(std::min(a.rows(), a.cols()))),
        depth(static_cast<int>(std::max(a.rows(), a.cols()))),
        ld(static_cast<int>(a.outerStride())),
        rows_short(a.rows() <= a.cols()) {}
  // Small problems run serially, as the SVD drivers' do, the eigensolver included: threaded BLAS
  // rounds differently per thread count and gains little there.
  bool small() const { return double(side) * side * depth < 5e7; }
};

// The eigenvalues of the Gram (overwritten) without vectors, and the sum of sqrt(max(lambda, 0))
// with its bound for eigenvalues computed with T's unit roundoff.
template <typename T>
GramNuclear sum_roots(std::vector<T>& gram, const GramShape& g, ConstMatrixRef a) {
  std::vector<T> lambda(static_cast<size_t>(g.side));
  constexpr bool single = std::is_same_v<T, float>;
  lapack_int info;
  if constexpr (single)
    info = LAPACKE_ssyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', g.side, gram.data(), g.side,
                                 lambda.data());
  else
    info = LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', g.side, gram.data(), g.side,
                                 lambda.data());
  if (info != 0)
    fail("LAPACK {}syevd_2stage failed on the {}x{} Gram matrix of a {}x{} matrix (info = {})",
         single ? 's' : 'd', g.side, g.side, a.rows(), a.cols(), info);
  double lambda_max = 0;
  for (T l : lambda) lambda_max = std::max(lambda_max, double(l));
  const double eps = std::numeric_limits<T>::epsilon() / 2;
  const double delta = eps * std::sqrt(double(g.depth)) * lambda_max;
  GramNuclear out;
  for (T l : lambda) {
    const double lp = std::max(double(l), 0.0);
    const double sigma = std::sqrt(lp);
    out.value += sigma;
    out.error_bound += lp > delta ? delta / (2 * sigma) : std::sqrt(delta);
  }
  return out;
}

// A A^T (or A^T A) in double, accumulated over panels of the long side widened one at a time, so
// the extra memory is the double Gram plus one panel, not a double copy of A.
std::vector<double> gram_f64(ConstMatrixRef a, const GramShape& g) {
  constexpr Eigen::Index kPanel = 256;
  std::vector<double> gram(static_cast<size_t>(g.side) * g.side, 0.0);
  std::vector<double> panel(static_cast<size_t>(g.side) * kPanel);
  for (Eigen::Index p0 = 0; p0 < g.depth; p0 += kPanel) {
    const Eigen::Index k = std::min(kPanel, Eigen::Index(g.depth) - p0);
    // Rows short: columns p0..p0+k of A, row-major side x k, are the column-major k x side
    // X = A_p^T, and A_p A_p^T = X^T X. Rows long: rows p0..p0+k, row-major k x side, are the
    // column-major side x k X = A_p^T, and A_p^T A_p = X X^T.
    const Eigen::Index ld = g.rows_short ? k : Eigen::Index(g.side);
    if (g.rows_short)
      Eigen::Map<MatrixD>(panel.data(), g.side, k) = a.middleCols(p0, k).cast<double>();
    else
      Eigen::Map<MatrixD>(panel.data(), k, g.side) = a.middleRows(p0, k).cast<double>();
    cblas_dsyrk(CblasColMajor, CblasLower, g.rows_short ? CblasTrans : CblasNoTrans, g.side,
                static_cast<int>(k), 1.0, panel.data(), static_cast<int>(ld), 1.0, gram.data(),
                g.side);
  }
  return gram;
}

}  // namespace

GramNuclear nuclear_norm_gram(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  check_finite(a);
  const GramShape g(a);
  std::optional<SerialBlas> serial;
  if (g.small()) serial.emplace();
  std::vector<float> gram(static_cast<size_t>(g.side) * g.side);
  cblas_ssyrk(CblasColMajor, CblasLower, g.rows_short ? CblasTrans : CblasNoTrans, g.side, g.depth,
              1.0f, a.data(), g.ld, 0.0f, gram.data(), g.side);
  return sum_roots(gram, g, a);
}

GramNuclear nuclear_norm_gram_f64(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  check_finite(a);
  const GramShape g(a);
  std::optional<SerialBlas> serial;
  if (g.small()) serial.emplace();
  std::vector<double> gram = gram_f64(a, g);
  return sum_roots(gram, g, a);
}

double nuclear_norm_gesdd(ConstMatrixRef a) {
  double s = 0;
  for (float v : singular_values(a)) s += v;
  return s;
}

RoutedNuclear nuclear_norm_routed(ConstMatrixRef a, double tolerance) {
  const GramNuclear f = nuclear_norm_gram(a);
  if (f.error_bound <= tolerance * f.value) return {f.value, NuclearRoute::gram_f32};
  const GramNuclear d = nuclear_norm_gram_f64(a);
  if (d.error_bound <= tolerance * d.value) return {d.value, NuclearRoute::gram_f64};
  return {nuclear_norm_gesdd(a), NuclearRoute::gesdd};
}

double nuclear_norm(ConstMatrixRef a) {
  return nuclear_norm_routed(a).value;
}

}  // namespace loft::lowrank

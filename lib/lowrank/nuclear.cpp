#include "lowrank/nuclear.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>

#include <Eigen/QR>
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

template <typename T>
void check_info(lapack_int info, const char* routine, int n) {
  if (info != 0)
    fail("LAPACK {}{} failed on a {}x{} symmetric matrix (info = {})",
         std::is_same_v<T, float> ? 's' : 'd', routine, n, n, info);
}

// ?syevd_2stage with jobz 'N' and its band width picked by the caller: ?sytrd_sy2sb, ?sytrd_sb2st,
// then ?sterf.
template <typename T>
std::vector<T> eigenvalues_banded(std::span<T> a, int n, int band) {
  constexpr bool single = std::is_same_v<T, float>;
  const lapack_int ldab = band + 1;
  std::vector<T> ab(static_cast<size_t>(ldab) * n), tau(static_cast<size_t>(n)), d(tau), e(tau);
  lapack_int info = 0, query = -1;
  T size = 0;
  auto sy2sb = [&](T* work, lapack_int lwork) {
    if constexpr (single)
      ssytrd_sy2sb_("L", &n, &band, a.data(), &n, ab.data(), &ldab, tau.data(), work, &lwork, &info,
                    1);
    else
      dsytrd_sy2sb_("L", &n, &band, a.data(), &n, ab.data(), &ldab, tau.data(), work, &lwork, &info,
                    1);
  };
  sy2sb(&size, query);
  std::vector<T> work(static_cast<size_t>(size) + 1);
  sy2sb(work.data(), static_cast<lapack_int>(work.size()));
  check_info<T>(info, "sytrd_sy2sb", n);
  auto sb2st = [&](T* hous, lapack_int lhous, T* w, lapack_int lwork) {
    if constexpr (single)
      ssytrd_sb2st_("Y", "N", "L", &n, &band, ab.data(), &ldab, d.data(), e.data(), hous, &lhous, w,
                    &lwork, &info, 1, 1, 1);
    else
      dsytrd_sb2st_("Y", "N", "L", &n, &band, ab.data(), &ldab, d.data(), e.data(), hous, &lhous, w,
                    &lwork, &info, 1, 1, 1);
  };
  T hous_size = 0;
  sb2st(&hous_size, query, &size, query);
  std::vector<T> hous(static_cast<size_t>(hous_size) + 1);
  work.assign(static_cast<size_t>(size) + 1, T(0));
  sb2st(hous.data(), static_cast<lapack_int>(hous.size()), work.data(),
        static_cast<lapack_int>(work.size()));
  check_info<T>(info, "sytrd_sb2st", n);
  if constexpr (single)
    info = LAPACKE_ssterf(n, d.data(), e.data());
  else
    info = LAPACKE_dsterf(n, d.data(), e.data());
  check_info<T>(info, "sterf", n);
  return d;
}

// The eigenvalues of the Gram (overwritten) without vectors, and the sum of sqrt(max(lambda, 0))
// with its bound for eigenvalues computed with T's unit roundoff.
template <typename T>
GramNuclear sum_roots(std::vector<T>& gram, const GramShape& g, SmallValues known) {
  const bool wide = std::is_same_v<T, float> && g.side >= kWideBandFrom;
  const std::vector<T> lambda =
      symmetric_eigenvalues(std::span<T>(gram), g.side, wide ? kWideBand : 0);
  double lambda_max = 0;
  for (T l : lambda) lambda_max = std::max(lambda_max, double(l));
  const double eps = std::numeric_limits<T>::epsilon() / 2;
  const double delta = eps * std::sqrt(double(g.depth)) * lambda_max;
  GramNuclear out;
  // Weyl pairs the ascending computed values with the ascending true ones, each within delta.
  for (size_t i = 0; i < lambda.size(); ++i) {
    const double lp = std::max(double(lambda[i]), 0.0);
    const double sigma = std::sqrt(lp);
    const double error = lp > delta ? delta / (2 * sigma) : std::sqrt(delta);
    if (i < size_t(known.count) && known.at_most < error) {
      out.value += std::min(sigma, known.at_most);  // both in [0, at_most]
      out.error_bound += known.at_most;
    } else {
      out.value += sigma;
      out.error_bound += error;
    }
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

template <typename T>
std::vector<T> symmetric_eigenvalues_impl(std::span<T> a, int n, int band) {
  if (static_cast<size_t>(n) * n != a.size())
    fail("symmetric_eigenvalues: {} entries for a {}x{} matrix", a.size(), n, n);
  if (band > 0) return eigenvalues_banded(a, n, band);
  std::vector<T> lambda(static_cast<size_t>(n));
  lapack_int info;
  if constexpr (std::is_same_v<T, float>)
    info = LAPACKE_ssyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', n, a.data(), n, lambda.data());
  else
    info = LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', n, a.data(), n, lambda.data());
  check_info<T>(info, "syevd_2stage", n);
  return lambda;
}

std::vector<float> symmetric_eigenvalues(std::span<float> a, int n, int band) {
  return symmetric_eigenvalues_impl(a, n, band);
}
std::vector<double> symmetric_eigenvalues(std::span<double> a, int n, int band) {
  return symmetric_eigenvalues_impl(a, n, band);
}

GramNuclear nuclear_norm_gram(ConstMatrixRef a, SmallValues known) {
  if (a.size() == 0) return {};
  check_finite(a);
  const GramShape g(a);
  std::optional<SerialBlas> serial;
  if (g.small()) serial.emplace();
  std::vector<float> gram(static_cast<size_t>(g.side) * g.side);
  cblas_ssyrk(CblasColMajor, CblasLower, g.rows_short ? CblasTrans : CblasNoTrans, g.side, g.depth,
              1.0f, a.data(), g.ld, 0.0f, gram.data(), g.side);
  return sum_roots(gram, g, known);
}

GramNuclear nuclear_norm_gram_f64(ConstMatrixRef a, SmallValues known) {
  if (a.size() == 0) return {};
  check_finite(a);
  const GramShape g(a);
  std::optional<SerialBlas> serial;
  if (g.small()) serial.emplace();
  std::vector<double> gram = gram_f64(a, g);
  return sum_roots(gram, g, known);
}

double nuclear_norm_gesdd(ConstMatrixRef a) {
  double s = 0;
  for (float v : singular_values(a)) s += v;
  return s;
}

RoutedNuclear nuclear_norm_routed(ConstMatrixRef a, double tolerance, SmallValues known) {
  const GramNuclear f = nuclear_norm_gram(a, known);
  if (f.error_bound <= tolerance * f.value) return {f.value, NuclearRoute::gram_f32};
  const GramNuclear d = nuclear_norm_gram_f64(a, known);
  if (d.error_bound <= tolerance * d.value) return {d.value, NuclearRoute::gram_f64};
  return {nuclear_norm_gesdd(a), NuclearRoute::gesdd};
}

double nuclear_norm(ConstMatrixRef a) {
  return nuclear_norm_routed(a).value;
}

SmallValues left_null_bound(ConstMatrixRef a, ConstMatrixRef left) {
  const Eigen::Index m = a.rows(), n = a.cols(), r = std::min(left.cols(), m);
  if (left.rows() != m)
    fail("left_null_bound: {} directions of length {} for a {}x{} matrix", left.cols(), left.rows(),
         m, n);
  const Eigen::Index k = std::min(m, n) - (m - r);
  if (r == 0 || k <= 0) return {};
  if (!all_finite(left)) fail("left_null_bound: NaN or Inf in the directions");
  check_finite(a);
  // Serial: O(m n r) next to the Gram's O(m n min(m, n)), and the same bits at any thread count.
  SerialBlas serial;
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(left.cast<double>());
  const MatrixD u = qr.householderQ() * Eigen::MatrixXd::Identity(m, r);
  // U^T A over panels of A's rows cast to double: float products are exact in double, so the
  // only rounding is the double accumulation's.
  constexpr Eigen::Index kPanel = 256;
  MatrixD c = MatrixD::Zero(r, n);
  MatrixD panel;
  double a_squares = 0;
  for (Eigen::Index p0 = 0; p0 < m; p0 += kPanel) {
    const Eigen::Index h = std::min(kPanel, m - p0);
    panel = a.middleRows(p0, h).cast<double>();
    a_squares += panel.squaredNorm();
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(r), static_cast<int>(n),
                static_cast<int>(h), 1.0, u.data() + p0 * r, static_cast<int>(r), panel.data(),
                static_cast<int>(n), 1.0, c.data(), static_cast<int>(n));
  }
  // sigma_1(C) <= ||C||_F, plus the accumulation's error, entrywise at most gamma_m (|U|^T |A|)_ij
  // (gamma_m = m 2^-53 / (1 - m 2^-53)), in Frobenius norm at most gamma_m ||U||_F ||A||_F; the
  // factor covers U's departure from orthonormality (double Householder: about 1e-15).
  const double gamma = double(m) * 0x1p-53 / (1 - double(m) * 0x1p-53);
  const double at_most = c.norm() + gamma * std::sqrt(double(r)) * std::sqrt(a_squares);
  return {static_cast<int>(k), at_most * (1 + 1e-12)};
}

double nuclear_norm(ConstMatrixRef a, ConstMatrixRef left) {
  return nuclear_norm_routed(a, kGramTolerance, left_null_bound(a, left)).value;
}

}  // namespace loft::lowrank

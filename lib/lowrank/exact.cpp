// The LAPACK paths of the truncated SVD. Both run on the row-major buffer without transposing:
// the row-major m x n buffer of A is the column-major n x m matrix A^T = V S U^T, so LAPACK's "U"
// of it is our V (arriving as row-major V^T) and its "VT" is our U^T (arriving as row-major U).
// No copies beyond the one LAPACK destroys.
#include "lowrank/exact.hpp"

#include <cmath>
#include <optional>
#include <vector>

#include "common/error.hpp"
#include "lowrank/lapack.hpp"
#include "lowrank/products.hpp"

namespace loft::lowrank {

namespace {

// Small factorisations run serially: OpenBLAS would fork and join a team for each of hundreds of
// small BLAS-2 calls, which gains little and, on a loaded machine, waits on descheduled threads.
// Serial runs are also identical for every thread count.
bool serial_size(lapack_int m, lapack_int n) {
  return double(m) * n * std::min(m, n) < 5e7;
}

}  // namespace

TruncatedSvd exact_svd(ConstMatrixRef a, int rank) {
  const lapack_int m = static_cast<lapack_int>(a.rows()), n = static_cast<lapack_int>(a.cols());
  const lapack_int k = std::min(m, n), r = rank;
  Matrix work = a;
  Eigen::VectorXf s(k);  // sgesvdx writes up to min(m, n) values while it works
  Matrix vt(r, n);       // row-major V^T: LAPACK's column-major n x r "U" of A^T
  Matrix u(m, r);        // row-major U: LAPACK's column-major r x m "VT" of A^T
  std::vector<lapack_int> superb(12 * static_cast<size_t>(k));
  lapack_int found = 0;
  std::optional<SerialBlas> serial;
  if (serial_size(m, n)) serial.emplace();
  // range 'I', il = 1, iu = r: the r largest triplets. LAPACK numbers the values ascending from
  // il = 1 = the largest (sgesvdx documents IL/IU as indices of the values in descending order).
  const lapack_int info =
      LAPACKE_sgesvdx(LAPACK_COL_MAJOR, 'V', 'V', 'I', n, m, work.data(), n, 0.0f, 0.0f, 1, r,
                      &found, s.data(), vt.data(), n, u.data(), r, superb.data());
  if (info != 0 || found != r)
    fail(
        "LAPACK sgesvdx failed on a {}x{} matrix for the top {} triplets (info = {}, found {}; "
        "info > 0 means inverse iteration did not converge)",
        m, n, r, info, found);
  TruncatedSvd out;
  out.U = std::move(u);
  out.V = vt.transpose();
  out.S = s.head(r);
  normalise_signs(out.U, out.V);
  return out;
}

TruncatedSvd exact_svd_gesdd(ConstMatrixRef a, int rank) {
  const lapack_int m = static_cast<lapack_int>(a.rows()), n = static_cast<lapack_int>(a.cols());
  const lapack_int k = std::min(m, n);
  Matrix work = a;
  Eigen::VectorXf s(k);
  Matrix u(m, k);   // row-major U
  Matrix vt(k, n);  // row-major V^T
  std::optional<SerialBlas> serial;
  if (serial_size(m, n)) serial.emplace();
  const lapack_int info = LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'S', n, m, work.data(), n, s.data(),
                                         vt.data(), n, u.data(), k);
  if (info != 0)
    fail("LAPACK sgesdd failed on a {}x{} matrix (info = {}; > 0 means no convergence)", m, n,
         info);
  TruncatedSvd out;
  out.U = u.leftCols(rank);
  out.V = vt.topRows(rank).transpose();
  out.S = s.head(rank);
  out.all_values = std::move(s);
  normalise_signs(out.U, out.V);
  return out;
}

namespace {

void check_values_input(ConstMatrixRef a) {
  if (!a.allFinite())
    fail("singular values of a {}x{} matrix with NaN or Inf entries", a.rows(), a.cols());
}

}  // namespace

// Why the Gram matrix: its values-only eigensolver (dsyevr_2stage) reduces to tridiagonal form in
// two stages, the first one BLAS-3, while sgesdd's bidiagonalisation reads the whole trailing
// matrix twice per column (BLAS-2, bound by memory). In double, the Gram matrix loses nothing
// that matters: each eigenvalue has an absolute error of about eps_double * k * sigma_1^2, so
// sigma_i = sqrt(lambda_i) is off by at most about sqrt(eps_double * k) * sigma_1 (1e-6 sigma_1
// at k = 4096, and only for values near 0; large values are relatively accurate to ~1e-15), the
// same order as float32 sgesdd's own eps_float * sigma_1 * O(1). Tests hold it to the reference.
Eigen::VectorXf singular_values(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  check_values_input(a);
  const lapack_int m = static_cast<lapack_int>(a.rows()), n = static_cast<lapack_int>(a.cols());
  const lapack_int k = std::min(m, n);
  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajorD ad = a.cast<double>();  // column-major, this is A^T: n x m, leading dim n
  Eigen::MatrixXd gram(k, k);             // lower triangle of A^T A (m >= n) or A A^T (m < n)
  std::optional<SerialBlas> serial;
  if (serial_size(m, n)) serial.emplace();
  if (m >= n)
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, n, m, 1.0, ad.data(), n, 0.0, gram.data(),
                k);
  else
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, m, n, 1.0, ad.data(), n, 0.0, gram.data(),
                k);
  Eigen::VectorXd lambda(k);
  std::vector<lapack_int> support(2 * static_cast<size_t>(k));
  lapack_int found = 0;
  double dummy = 0;
  const lapack_int info =
      LAPACKE_dsyevr_2stage(LAPACK_COL_MAJOR, 'N', 'A', 'L', k, gram.data(), k, 0.0, 0.0, 0, 0, 0.0,
                            &found, lambda.data(), &dummy, 1, support.data());
  if (info != 0 || found != k)
    fail(
        "LAPACK dsyevr_2stage (values of the {}x{} Gram matrix of a {}x{} matrix) failed "
        "(info = {}, found {})",
        k, k, m, n, info, found);
  Eigen::VectorXf s(k);  // lambda ascending; rounding can leave values near 0 slightly negative
  for (lapack_int i = 0; i < k; ++i) s(i) = float(std::sqrt(std::max(lambda(k - 1 - i), 0.0)));
  return s;
}

Eigen::VectorXf singular_values_gesdd(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  check_values_input(a);
  const lapack_int m = static_cast<lapack_int>(a.rows()), n = static_cast<lapack_int>(a.cols());
  Matrix work = a;
  Eigen::VectorXf s(std::min(m, n));
  float dummy = 0;
  std::optional<SerialBlas> serial;
  if (serial_size(m, n)) serial.emplace();
  const lapack_int info =
      LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'N', n, m, work.data(), n, s.data(), &dummy, 1, &dummy, 1);
  if (info != 0)
    fail("LAPACK sgesdd (values only) failed on a {}x{} matrix (info = {})", m, n, info);
  return s;
}

}  // namespace loft::lowrank

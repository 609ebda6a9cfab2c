// The LAPACK paths of the truncated SVD. Both run on the row-major buffer without transposing:
// the row-major m x n buffer of A is the column-major n x m matrix A^T = V S U^T, so LAPACK's "U"
// of it is our V (arriving as row-major V^T) and its "VT" is our U^T (arriving as row-major U).
// No copies beyond the one LAPACK destroys.
#include "common/finite.hpp"
#include "lowrank/exact.hpp"

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

// Measured against the double Gram matrix + dsyevr_2stage (values only): on this machine that
// route was 2x slower at 1024 and 2048 (bench/README.md, LoftQ), so sgesdd without vectors stays.
Eigen::VectorXf singular_values(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  if (!all_finite(a))
    fail("singular values of a {}x{} matrix with NaN or Inf entries", a.rows(), a.cols());
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

// sgesdd on a row-major matrix without transposing: the row-major m x n buffer of A is the
// column-major n x m matrix A^T = V S U^T, so LAPACK's "U" of it is our V (arriving as row-major
// V^T) and its "VT" is our U^T (arriving as row-major U). No copies beyond the one sgesdd
// destroys.
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

Eigen::VectorXf singular_values(ConstMatrixRef a) {
  if (a.size() == 0) return {};
  if (!a.allFinite())
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

// The LAPACK paths of the truncated SVD. Both run on the row-major buffer without transposing:
// the row-major m x n buffer of A is the column-major n x m matrix A^T = V S U^T, so LAPACK's "U"
// of it is our V (arriving as row-major V^T) and its "VT" is our U^T (arriving as row-major U).
// No copies beyond the one LAPACK destroys.
#include "lowrank/exact.hpp"
#include "common/finite.hpp"

#include <limits>
#include <memory>
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

// Whether the r pairs sgesvdx returned can be trusted (see exact_svd): r values found, finite,
// the r-th above the threshold where sbdsvdx's search interval reaches zero, and both factors
// orthonormal. An orthonormality error of 1e-3 is far above what sgesvdx leaves (1e-5 to 2e-5
// measured on Gaussian matrices up to 2048 x 2048) and far below what a corrupted vector shows
// (order 1).
bool trusted(lapack_int info, lapack_int found, lapack_int r, const Eigen::VectorXf& s,
             const Matrix& u, const Matrix& vt, double zero_threshold) {
  if (info != 0 || found != r || !s.head(r).allFinite() || !(s(r - 1) > zero_threshold))
    return false;
  if (!u.allFinite() || !vt.allFinite()) return false;
  const Eigen::MatrixXf I = Eigen::MatrixXf::Identity(r, r);
  return (u.transpose() * u - I).cwiseAbs().maxCoeff() < 1e-3f &&
         (vt * vt.transpose() - I).cwiseAbs().maxCoeff() < 1e-3f;
}

}  // namespace

// Range 'I' in sgesvdx is not what it looks like: sbdsvdx turns the indices il..iu into an
// interval of eigenvalues of the 2k x 2k Golub-Kahan tridiagonal (k = min(m, n)), widened by
// 2 smax ulp k, and runs bisection plus inverse iteration on that interval. When the r-th singular
// value is (numerically) zero, the interval reaches 0 and holds the zero eigenvalues of both
// signs, up to 2k of them: LAPACK 3.11 (OpenBLAS 0.3.21) then writes up to 2k values into S,
// documented as min(m, n) long, and up to 2k eigenvectors of length 2k into its k(2k + 1)-float
// slice of the workspace, past the size the workspace query returns and over its own copy of the
// bidiagonal. That was the heap corruption on zero, constant and low-rank matrices.
//
// So S and the workspace are sized for those writes (the extra workspace stays untouched, hence
// unbacked by memory, unless the case arises), and sgesvdx's result is used only where the
// interval cannot have reached zero and the pairs check out (trusted()). Otherwise the matrix has
// rank below r or a zero r-th value, and the full thin SVD by sgesdd is truncated instead: its
// zero values come with U and V columns that complete the orthonormal bases, so the result is a
// valid rank-r factorisation (the zero pairs add nothing to U S V^T).
TruncatedSvd exact_svd(ConstMatrixRef a, int rank) {
  const lapack_int m = static_cast<lapack_int>(a.rows()), n = static_cast<lapack_int>(a.cols());
  const lapack_int k = std::min(m, n), r = rank;
  // The zero threshold of sbdsvdx's interval (2 smax ulp k, ulp = 2^-23, smax <= ||A||_2 <=
  // ||A||_F), with a factor 2 to spare.
  const double zero_threshold = 4.0 * 0x1p-23 * k * static_cast<double>(a.norm());
  Matrix work = a;
  Eigen::VectorXf s(2 * k + 1);  // 2k values may be written, see above
  Matrix vt(r, n);               // row-major V^T: LAPACK's column-major n x r "U" of A^T
  Matrix u(m, r);                // row-major U: LAPACK's column-major r x m "VT" of A^T
  std::vector<lapack_int> iwork(12 * static_cast<size_t>(k));
  lapack_int found = 0;
  lapack_int info = 0;
  {
    std::optional<SerialBlas> serial;
    if (serial_size(m, n)) serial.emplace();
    // range 'I', il = 1, iu = r: the r largest triplets (IL/IU index the values in descending
    // order). The A^T layout of the header comment: LAPACK's M x N is our n x m.
    float query = 0;
    info = LAPACKE_sgesvdx_work(LAPACK_COL_MAJOR, 'V', 'V', 'I', n, m, work.data(), n, 0.0f, 0.0f,
                                1, r, &found, s.data(), vt.data(), n, u.data(), r, &query, -1,
                                iwork.data());
    // Up to 2k x 2k eigenvector floats from the start of the k(2k + 1) slice: 2k^2 more, plus
    // sbdsvdx's own 14k that follow the slice.
    const double lwork = static_cast<double>(query) + 2.0 * k * k + 32.0 * k;
    if (info != 0 || lwork > std::numeric_limits<lapack_int>::max())
      fail("LAPACK sgesvdx: no workspace for a {}x{} matrix (info = {}, {} floats)", m, n, info,
           lwork);
    // new[] without (): the pages beyond what LAPACK touches are never backed by memory.
    std::unique_ptr<float[]> wk(new float[static_cast<size_t>(lwork)]);
    info = LAPACKE_sgesvdx_work(LAPACK_COL_MAJOR, 'V', 'V', 'I', n, m, work.data(), n, 0.0f, 0.0f,
                                1, r, &found, s.data(), vt.data(), n, u.data(), r, wk.get(),
                                static_cast<lapack_int>(lwork), iwork.data());
  }
  if (info < 0) fail("LAPACK sgesvdx: argument {} is invalid ({}x{}, rank {})", -info, m, n, r);
  if (!trusted(info, found, r, s, u, vt, zero_threshold)) {
    TruncatedSvd full = exact_svd_gesdd(a, rank);
    full.all_values.resize(0);  // the "exact" row reports no tail, whichever driver ran
    return full;
  }
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

#include "lowrank/products.hpp"

#include <omp.h>

#include <algorithm>

#include "lowrank/lapack.hpp"

namespace loft::lowrank {

namespace {

constexpr int kBlockRows = 128;
// Below this many multiply-adds a product runs on one thread: waking a team costs more.
constexpr double kParallelWork = 4e6;

}  // namespace

// Runs body(first_row, rows) over fixed blocks of [0, total): the same blocks for any team size,
// and every BLAS call in body single-threaded. A small product runs on this thread alone, under
// SerialBlas: outside a parallel region OpenBLAS would otherwise split the block over its own
// threads, and its edge-tile kernels round differently per split (Haswell kernels: LoftQ at
// 512x384 differed between 1 and 2 threads in the 10th digit).
template <typename Body>
void for_row_blocks(int total, double work, Body body) {
  const int blocks = (total + kBlockRows - 1) / kBlockRows;
  if (work <= kParallelWork) {
    SerialBlas serial;
    for (int b = 0; b < blocks; ++b)
      body(b * kBlockRows, std::min(kBlockRows, total - b * kBlockRows));
    return;
  }
#pragma omp parallel for schedule(static)
  for (int b = 0; b < blocks; ++b) {
    const int first = b * kBlockRows;
    body(first, std::min(kBlockRows, total - first));
  }
}

void a_times(ConstMatrixRef a, const ColMatrix& x, ColMatrix& out) {
  const int m = static_cast<int>(a.rows()), n = static_cast<int>(a.cols());
  const int l = static_cast<int>(x.cols()), lda = static_cast<int>(a.outerStride());
  out.resize(m, l);
  // The row-major buffer of A is column-major A^T, hence CblasTrans.
  for_row_blocks(m, double(m) * n * l, [&](int i0, int rows) {
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows, l, n, 1.0f, a.data() + i0 * lda, lda,
                x.data(), n, 0.0f, out.data() + i0, m);
  });
}

void at_times(ConstMatrixRef a, const ColMatrix& y, ColMatrix& out) {
  const int m = static_cast<int>(a.rows()), n = static_cast<int>(a.cols());
  const int l = static_cast<int>(y.cols()), lda = static_cast<int>(a.outerStride());
  out.resize(n, l);
  for_row_blocks(n, double(m) * n * l, [&](int j0, int cols) {
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, cols, l, m, 1.0f, a.data() + j0, lda,
                y.data(), m, 0.0f, out.data() + j0, n);
  });
}

void subtract_product(ConstMatrixRef w, float s, ConstMatrixRef b, ConstMatrixRef a, Matrix& out) {
  const int m = static_cast<int>(w.rows()), n = static_cast<int>(w.cols());
  const int r = static_cast<int>(b.cols());
  out.resize(m, n);
  const int ldw = static_cast<int>(w.outerStride()), ldb = static_cast<int>(b.outerStride());
  const int lda = static_cast<int>(a.outerStride());
  for_row_blocks(m, double(m) * n * std::max(r, 1), [&](int i0, int rows) {
    for (int i = i0; i < i0 + rows; ++i)
      std::copy_n(w.data() + std::ptrdiff_t(i) * ldw, n, out.data() + std::ptrdiff_t(i) * n);
    if (r > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, r, -s,
                  b.data() + std::ptrdiff_t(i0) * ldb, ldb, a.data(), lda, 1.0f,
                  out.data() + std::ptrdiff_t(i0) * n, n);
  });
}

SerialBlas::SerialBlas() : saved_(omp_get_max_threads()) {
  omp_set_num_threads(1);
}
SerialBlas::~SerialBlas() {
  omp_set_num_threads(saved_);
}

}  // namespace loft::lowrank

#pragma once
// Matrix products over the (batch*seq) rows of activations, split into fixed chunks of rows that
// OpenMP threads take whole. Each chunk is one single-threaded Eigen product: no thread waits on
// another inside a product (Eigen's own parallel gemm busy-waits between threads, which collapses
// when the machine has more runnable threads than cores). Reductions over rows (weight
// gradients) sum per-chunk partials in chunk order, so the result does not depend on the thread
// count.
#include <omp.h>

#include <vector>

#include "model/llama.hpp"

namespace loft::model::rows {

constexpr Eigen::Index kChunk = 256;

inline Eigen::Index chunks(Eigen::Index n) {
  return (n + kChunk - 1) / kChunk;
}

// out (=|+=) a * b, a: N x k, b: k x m (a matrix or an expression such as a transpose).
template <typename T, typename B>
void mul(Mat<T>& out, const Mat<T>& a, const B& b, bool accumulate = false) {
  const Eigen::Index n = a.rows();
  if (!accumulate) out.resize(n, b.cols());
#pragma omp parallel for schedule(static) if (n > kChunk)
  for (Eigen::Index c = 0; c < chunks(n); ++c) {
    const Eigen::Index r = c * kChunk, len = std::min(kChunk, n - r);
    if (accumulate)
      out.middleRows(r, len).noalias() += a.middleRows(r, len) * b;
    else
      out.middleRows(r, len).noalias() = a.middleRows(r, len) * b;
  }
}

// out (=|+=) a * b^T, a: N x k, b: m x k.
template <typename T, typename B>
void mul_bt(Mat<T>& out, const Mat<T>& a, const B& b, bool accumulate = false) {
  mul(out, a, b.transpose(), accumulate);
}

// out += s * a^T b, a: N x p, b: N x q (a reduction over the N rows).
template <typename T>
void add_at_b(Mat<T>& out, const Mat<T>& a, const Mat<T>& b, T s = T(1)) {
  const Eigen::Index n = a.rows(), nc = chunks(n);
  if (nc == 1) {
    out.noalias() += s * (a.transpose() * b);
    return;
  }
  // The calling thread's buffers (a sweep may train several models at once), shared with the
  // team through this reference.
  static thread_local std::vector<Mat<T>> buffers;
  std::vector<Mat<T>>& partial = buffers;
  if (static_cast<Eigen::Index>(partial.size()) < nc) partial.resize(nc);
#pragma omp parallel for schedule(static)
  for (Eigen::Index c = 0; c < nc; ++c) {
    const Eigen::Index r = c * kChunk, len = std::min(kChunk, n - r);
    partial[c].noalias() = a.middleRows(r, len).transpose() * b.middleRows(r, len);
  }
  for (Eigen::Index c = 0; c < nc; ++c) out.noalias() += s * partial[c];
}

}  // namespace loft::model::rows

#pragma once
// The building blocks the batched forward and backward share (internal to lib/model): RMSNorm,
// RoPE, linear layers with adapters, SiLU, and the parallelism thresholds.
#include <cmath>

#include "model/llama.hpp"
#include "model/row_products.hpp"

namespace loft::model::ops {

// Below this many rows a parallel region costs more than it saves (tests, generation): on a
// loaded machine every barrier can wait a whole time slice for a descheduled thread.
inline constexpr int kParallelRows = 512;
// Query rows per causal attention block.
inline constexpr int kAttBlock = 64;

// ---- RMSNorm ----

template <typename T>
inline void rmsnorm(const Mat<T>& x, const Mat<T>& w, T eps, Mat<T>& y, Vec<T>& rinv) {
  const Eigen::Index n = x.rows(), d = x.cols();
  y.resize(n, d);
  rinv.resize(n);
#pragma omp parallel for schedule(static) if (n >= kParallelRows)
  for (Eigen::Index i = 0; i < n; ++i) {
    T ms = x.row(i).squaredNorm() / T(d);
    T r = T(1) / std::sqrt(ms + eps);
    rinv(i) = r;
    y.row(i) = (x.row(i) * r).cwiseProduct(w.row(0));
  }
}

// dx (+)= d/dx of y = w * x * r(x); gw += sum over rows of dy * x * r.
template <typename T>
inline void rmsnorm_backward(const Mat<T>& x, const Param<T>& w, const Vec<T>& rinv,
                             const Mat<T>& dy, Mat<T>& dx, Mat<T>* gw) {
  const Eigen::Index n = x.rows(), d = x.cols();
#pragma omp parallel for schedule(static) if (n >= kParallelRows)
  for (Eigen::Index i = 0; i < n; ++i) {
    const T r = rinv(i);
    auto wdy = dy.row(i).cwiseProduct(w.value.row(0));
    const T dot = wdy.dot(x.row(i));
    dx.row(i) += wdy * r - x.row(i) * (r * r * r * dot / T(d));
  }
  if (gw) {
    for (Eigen::Index i = 0; i < n; ++i) gw->row(0) += dy.row(i).cwiseProduct(x.row(i)) * rinv(i);
  }
}

// ---- RoPE: rotate pairs within each head; adjacent (2i, 2i+1) or half-split (i, i + hs/2) ----

template <typename T>
inline void rope_tables(const LlamaConfig& cfg, int hs, int seq, Mat<T>& cos, Mat<T>& sin) {
  if (cos.rows() == seq && cos.cols() == hs / 2) return;
  cos.resize(seq, hs / 2);
  sin.resize(seq, hs / 2);
  for (int p = 0; p < seq; ++p)
    for (int i = 0; i < hs / 2; ++i) {
      // float as llama2.c and Hugging Face compute it, so logits match theirs closely.
      float freq = 1.0f / std::pow(cfg.rope_theta, float(2 * i) / float(hs));
      float a = float(p) * freq;
      cos(p, i) = T(std::cos(a));
      sin(p, i) = T(std::sin(a));
    }
}

// inverse = true rotates by -angle (the transpose), which is the backward of the rotation.
template <typename T>
inline void rope_apply(Mat<T>& x, int hs, int seq, bool half_split, const Mat<T>& cos,
                       const Mat<T>& sin, bool inverse) {
  const Eigen::Index n = x.rows();
  const int heads = static_cast<int>(x.cols()) / hs, half = hs / 2;
#pragma omp parallel for schedule(static) if (n >= kParallelRows)
  for (Eigen::Index r = 0; r < n; ++r) {
    const int p = static_cast<int>(r % seq);
    T* row = x.data() + r * x.cols();
    for (int h = 0; h < heads; ++h) {
      T* v = row + h * hs;
      for (int i = 0; i < half; ++i) {
        const int a = half_split ? i : 2 * i, b = half_split ? i + half : 2 * i + 1;
        const T c = cos(p, i), s = inverse ? -sin(p, i) : sin(p, i);
        const T xa = v[a], xb = v[b];
        v[a] = xa * c - xb * s;
        v[b] = xa * s + xb * c;
      }
    }
  }
}

// ---- linear layers ----

template <typename T>
inline void merge_weight(const Linear<T>& l, Mat<T>& w) {
  if (l.has_adapter())
    w.noalias() = l.weight.value + l.scale * (l.B.value * l.A.value);
  else
    w = l.weight.value;
}

// dx (+)= dy W_eff; weight and adapter gradients when trainable.
template <typename T>
inline void linear_backward(Linear<T>& l, const Mat<T>& w_eff, const Mat<T>& x, const Mat<T>& u,
                            const Mat<T>& dy, Mat<T>& dx, bool accumulate, Mat<T>& tmp) {
  rows::mul(dx, dy, w_eff, accumulate);
  if (l.weight.trainable) rows::add_at_b(l.weight.grad, dy, x);
  if (l.has_adapter() && (l.A.trainable || l.B.trainable)) {
    if (l.B.trainable) rows::add_at_b(l.B.grad, dy, u, l.scale);
    if (l.A.trainable) {
      rows::mul(tmp, dy, l.B.value);  // N x r
      rows::add_at_b(l.A.grad, tmp, x, l.scale);
    }
  }
}

template <typename T>
inline T silu(T g) {
  return g / (T(1) + std::exp(-g));
}

}  // namespace loft::model::ops

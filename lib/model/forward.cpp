// Batched forward, cross-entropy and backward of the Llama; plus the per-token reference.
#include "model/forward.hpp"
#include "model/row_products.hpp"

#include <omp.h>

#include <cmath>
#include <limits>

#include "common/error.hpp"

namespace loft::model {

namespace {

constexpr int kLinears = 7;  // q, k, v, o, gate, up, down
// Below this many rows a parallel region costs more than it saves (tests, generation): on a
// loaded machine every barrier can wait a whole time slice for a descheduled thread.
constexpr int kParallelRows = 512;
// Query rows per causal attention block.
constexpr int kAttBlock = 64;

// ---- RMSNorm ----

template <typename T>
void rmsnorm(const Mat<T>& x, const Mat<T>& w, T eps, Mat<T>& y, Vec<T>& rinv) {
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
void rmsnorm_backward(const Mat<T>& x, const Param<T>& w, const Vec<T>& rinv, const Mat<T>& dy,
                      Mat<T>& dx, Mat<T>* gw) {
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
void rope_tables(const LlamaConfig& cfg, int hs, int seq, Mat<T>& cos, Mat<T>& sin) {
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
void rope_apply(Mat<T>& x, int hs, int seq, bool half_split, const Mat<T>& cos, const Mat<T>& sin,
                bool inverse) {
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
void merge_weight(const Linear<T>& l, Mat<T>& w) {
  if (l.has_adapter())
    w.noalias() = l.weight.value + l.scale * (l.B.value * l.A.value);
  else
    w = l.weight.value;
}

// dx (+)= dy W_eff; weight and adapter gradients when trainable.
template <typename T>
void linear_backward(Linear<T>& l, const Mat<T>& w_eff, const Mat<T>& x, const Mat<T>& u,
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
T silu(T g) {
  return g / (T(1) + std::exp(-g));
}

}  // namespace

template <typename T>
T forward(Llama<T>& m, Workspace<T>& ws, std::span<const int32_t> inputs,
          std::span<const int32_t> targets, int batch, int seq) {
  const LlamaConfig& c = m.cfg;
  const int N = batch * seq, D = c.dim, H = c.n_heads, KVH = c.n_kv_heads, hs = m.head_size();
  const int group = H / KVH;
  if (batch <= 0 || seq <= 0 || static_cast<int>(inputs.size()) != N)
    fail("forward: {} input tokens for batch {} x seq {} (need batch*seq)", inputs.size(), batch,
         seq);
  if (!targets.empty() && targets.size() != inputs.size())
    fail("forward: {} targets for {} inputs (need the same count)", targets.size(), inputs.size());
  for (int32_t t : inputs)
    if (t < 0 || t >= c.vocab_size)
      fail("forward: token id {} out of range (vocab_size {})", t, c.vocab_size);
  ws.batch = batch;
  ws.seq = seq;
  ws.inputs.assign(inputs.begin(), inputs.end());
  ws.targets.assign(targets.begin(), targets.end());
  ws.layers.resize(c.n_layers);
  ws.w_eff.resize(static_cast<size_t>(c.n_layers) * kLinears);
  rope_tables(c, hs, seq, ws.rope_cos, ws.rope_sin);
  const T att_scale = T(1) / std::sqrt(T(hs));

  Mat<T> x(N, D);
  for (int n = 0; n < N; ++n) x.row(n) = m.embed.value.row(inputs[n]);

  for (int li = 0; li < c.n_layers; ++li) {
    Block<T>& b = m.layers[li];
    LayerCache<T>& cc = ws.layers[li];
    auto lin = b.linears();
    for (int j = 0; j < kLinears; ++j) merge_weight(*lin[j], ws.w_eff[li * kLinears + j]);
    const Mat<T>* W = &ws.w_eff[li * kLinears];
    auto keep_u = [&](int j, const Mat<T>& in) {
      if (lin[j]->has_adapter()) rows::mul_bt(cc.lora_u[j], in, lin[j]->A.value);
    };

    cc.x = std::move(x);
    rmsnorm(cc.x, b.attn_norm.value, T(c.norm_eps), cc.xn1, cc.rinv1);
    rows::mul_bt(cc.q, cc.xn1, W[0]);
    rows::mul_bt(cc.k, cc.xn1, W[1]);
    rows::mul_bt(cc.v, cc.xn1, W[2]);
    for (int j = 0; j < 3; ++j) keep_u(j, cc.xn1);
    rope_apply(cc.q, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, false);
    rope_apply(cc.k, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, false);

    cc.probs.resize(static_cast<Eigen::Index>(batch) * H * seq, seq);
    cc.att.resize(N, D);
#pragma omp parallel for schedule(dynamic) if (N >= kParallelRows)
    for (int bh = 0; bh < batch * H; ++bh) {
      const int bi = bh / H, h = bh % H, kh = h / group;
      auto P = cc.probs.block(static_cast<Eigen::Index>(bh) * seq, 0, seq, seq);
      auto Q = cc.q.block(bi * seq, h * hs, seq, hs);
      auto K = cc.k.block(bi * seq, kh * hs, seq, hs);
      auto V = cc.v.block(bi * seq, kh * hs, seq, hs);
      auto O = cc.att.block(bi * seq, h * hs, seq, hs);
      // Causal: query rows [r0, r0 + rl) see keys [0, r0 + rl) only, so blocks of rows skip
      // most of the masked upper triangle. Entries of P beyond a block's keys are never read.
      for (int r0 = 0; r0 < seq; r0 += kAttBlock) {
        const int rl = std::min(kAttBlock, seq - r0), kl = r0 + rl;
        P.block(r0, 0, rl, kl).noalias() =
            (Q.middleRows(r0, rl) * K.topRows(kl).transpose()) * att_scale;
        for (int i = r0; i < kl; ++i) {
          auto row = P.row(i).head(i + 1);
          const T mx = row.maxCoeff();
          row = (row.array() - mx).exp().matrix();
          row /= row.sum();
          P.row(i).segment(i + 1, kl - i - 1).setZero();
        }
        O.middleRows(r0, rl).noalias() = P.block(r0, 0, rl, kl) * V.topRows(kl);
      }
    }
    keep_u(3, cc.att);
    cc.xmid = cc.x;
    rows::mul_bt(cc.xmid, cc.att, W[3], true);

    rmsnorm(cc.xmid, b.ffn_norm.value, T(c.norm_eps), cc.xn2, cc.rinv2);
    rows::mul_bt(cc.g, cc.xn2, W[4]);
    rows::mul_bt(cc.u, cc.xn2, W[5]);
    keep_u(4, cc.xn2);
    keep_u(5, cc.xn2);
    cc.h.resize(N, c.hidden_dim);
#pragma omp parallel for schedule(static) if (N >= kParallelRows)
    for (int n = 0; n < N; ++n) {
      auto g = cc.g.row(n).array();
      cc.h.row(n).array() = g / (T(1) + (-g).exp()) * cc.u.row(n).array();
    }
    keep_u(6, cc.h);
    x = cc.xmid;
    rows::mul_bt(x, cc.h, W[6], true);
  }

  ws.xf = std::move(x);
  rmsnorm(ws.xf, m.norm.value, T(c.norm_eps), ws.xnf, ws.rinvf);
  const Mat<T>& head = m.lm_head.value.size() > 0 ? m.lm_head.value : m.embed.value;
  rows::mul_bt(ws.logits, ws.xnf, head);
  ws.counted = 0;
  if (targets.empty()) return T(0);

  double loss = 0;
  int counted = 0;
#pragma omp parallel for schedule(static) if (N >= kParallelRows) reduction(+ : loss, counted)
  for (int n = 0; n < N; ++n) {
    auto row = ws.logits.row(n);
    const int32_t t = targets[n];
    if (t < 0) {
      row.setZero();
      continue;
    }
    if (t >= c.vocab_size) continue;  // reported below
    const T mx = row.maxCoeff();
    row = (row.array() - mx).exp();
    const T sum = row.sum();
    row /= sum;
    loss -= std::log(double(row(t)));
    ++counted;
  }
  for (int32_t t : targets)
    if (t >= c.vocab_size)
      fail("forward: target id {} out of range (vocab_size {})", t, c.vocab_size);
  if (counted == 0) fail("forward: no target to predict (every target is < 0)");
  ws.counted = counted;
  return T(loss / counted);
}

template <typename T>
void zero_grads(Llama<T>& m) {
  for (auto* p : m.params())
    if (p->trainable) p->grad = Mat<T>::Zero(p->value.rows(), p->value.cols());
}

template <typename T>
void backward(Llama<T>& m, Workspace<T>& ws) {
  const LlamaConfig& c = m.cfg;
  const int batch = ws.batch, seq = ws.seq, N = batch * seq;
  const int H = c.n_heads, KVH = c.n_kv_heads, hs = m.head_size(), group = H / KVH;
  if (ws.counted == 0) fail("backward: the last forward had no targets");
  for (auto* p : m.params())
    if (p->trainable && (p->grad.rows() != p->value.rows() || p->grad.cols() != p->value.cols()))
      p->grad = Mat<T>::Zero(p->value.rows(), p->value.cols());
  const T att_scale = T(1) / std::sqrt(T(hs));

  // d loss / d logits = (softmax - onehot) / counted; rows without a target are already zero.
  Mat<T>& dlog = ws.logits;
  const T inv = T(1) / T(ws.counted);
  for (int n = 0; n < N; ++n)
    if (ws.targets[n] >= 0) dlog(n, ws.targets[n]) -= T(1);
  dlog *= inv;
  Param<T>& head = m.lm_head.value.size() > 0 ? m.lm_head : m.embed;
  rows::mul(ws.dxn, dlog, head.value);
  if (head.trainable) rows::add_at_b(head.grad, dlog, ws.xnf);
  ws.dx = Mat<T>::Zero(N, c.dim);
  rmsnorm_backward(ws.xf, m.norm, ws.rinvf, ws.dxn, ws.dx,
                   m.norm.trainable ? &m.norm.grad : nullptr);

  const int nthreads = omp_get_max_threads();
  ws.thread_scratch.resize(nthreads);

  for (int li = c.n_layers - 1; li >= 0; --li) {
    Block<T>& b = m.layers[li];
    LayerCache<T>& cc = ws.layers[li];
    auto lin = b.linears();
    const Mat<T>* W = &ws.w_eff[li * kLinears];

    // FFN: x_out = xmid + down(h), h = silu(g) * u
    linear_backward(*lin[6], W[6], cc.h, cc.lora_u[6], ws.dx, ws.dh, false, ws.dtmp);
    ws.dg.resize(N, c.hidden_dim);
    ws.du.resize(N, c.hidden_dim);
#pragma omp parallel for schedule(static) if (N >= kParallelRows)
    for (int n = 0; n < N; ++n) {
      auto g = cc.g.row(n).array();
      auto dh = ws.dh.row(n).array();
      const auto sg = (T(1) / (T(1) + (-g).exp())).eval();
      ws.du.row(n).array() = dh * g * sg;
      ws.dg.row(n).array() = dh * cc.u.row(n).array() * sg * (T(1) + g * (T(1) - sg));
    }
    linear_backward(*lin[4], W[4], cc.xn2, cc.lora_u[4], ws.dg, ws.dxn, false, ws.dtmp);
    linear_backward(*lin[5], W[5], cc.xn2, cc.lora_u[5], ws.du, ws.dxn, true, ws.dtmp);
    // ws.dx now plays d/dxmid: the residual path plus the norm's contribution.
    rmsnorm_backward(cc.xmid, b.ffn_norm, cc.rinv2, ws.dxn, ws.dx,
                     b.ffn_norm.trainable ? &b.ffn_norm.grad : nullptr);

    // attention output projection
    linear_backward(*lin[3], W[3], cc.att, cc.lora_u[3], ws.dx, ws.datt, false, ws.dtmp);
    ws.dq.resize(N, c.dim);
    ws.dk.setZero(N, KVH * hs);
    ws.dv.setZero(N, KVH * hs);
    // One task per (sequence, kv head) so the dK/dV blocks each task writes are its own.
#pragma omp parallel for schedule(dynamic) if (N >= kParallelRows)
    for (int bk = 0; bk < batch * KVH; ++bk) {
      const int bi = bk / KVH, kh = bk % KVH;
      Mat<T>& dP = ws.thread_scratch[omp_get_thread_num()];
      dP.resize(std::min(kAttBlock, seq), seq);
      auto K = cc.k.block(bi * seq, kh * hs, seq, hs);
      auto V = cc.v.block(bi * seq, kh * hs, seq, hs);
      auto dK = ws.dk.block(bi * seq, kh * hs, seq, hs);
      auto dV = ws.dv.block(bi * seq, kh * hs, seq, hs);
      for (int h = kh * group; h < (kh + 1) * group; ++h) {
        auto P = cc.probs.block(static_cast<Eigen::Index>(bi * H + h) * seq, 0, seq, seq);
        auto Q = cc.q.block(bi * seq, h * hs, seq, hs);
        auto dO = ws.datt.block(bi * seq, h * hs, seq, hs);
        auto dQ = ws.dq.block(bi * seq, h * hs, seq, hs);
        for (int r0 = 0; r0 < seq; r0 += kAttBlock) {
          const int rl = std::min(kAttBlock, seq - r0), kl = r0 + rl;
          auto Pb = P.block(r0, 0, rl, kl);
          auto dOb = dO.middleRows(r0, rl);
          auto dS = dP.topLeftCorner(rl, kl);
          dS.noalias() = dOb * V.topRows(kl).transpose();
          dV.topRows(kl).noalias() += Pb.transpose() * dOb;
          for (int i = 0; i < rl; ++i) {
            const int n = r0 + i + 1;  // keys row r0 + i sees
            auto p = Pb.row(i).head(n);
            auto d = dS.row(i).head(n);
            const T dot = d.dot(p);
            d = p.cwiseProduct((d.array() - dot).matrix());
            dS.row(i).segment(n, kl - n).setZero();
          }
          dS *= att_scale;
          dQ.middleRows(r0, rl).noalias() = dS * K.topRows(kl);
          dK.topRows(kl).noalias() += dS.transpose() * Q.middleRows(r0, rl);
        }
      }
    }
    rope_apply(ws.dq, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, true);
    rope_apply(ws.dk, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, true);
    linear_backward(*lin[0], W[0], cc.xn1, cc.lora_u[0], ws.dq, ws.dxn, false, ws.dtmp);
    linear_backward(*lin[1], W[1], cc.xn1, cc.lora_u[1], ws.dk, ws.dxn, true, ws.dtmp);
    linear_backward(*lin[2], W[2], cc.xn1, cc.lora_u[2], ws.dv, ws.dxn, true, ws.dtmp);
    rmsnorm_backward(cc.x, b.attn_norm, cc.rinv1, ws.dxn, ws.dx,
                     b.attn_norm.trainable ? &b.attn_norm.grad : nullptr);
  }
  if (m.embed.trainable)
    for (int n = 0; n < N; ++n) m.embed.grad.row(ws.inputs[n]) += ws.dx.row(n);
}

template <typename T>
Mat<T> reference_logits(const Llama<T>& m, std::span<const int32_t> tokens) {
  const LlamaConfig& c = m.cfg;
  const int S = static_cast<int>(tokens.size()), D = c.dim, hs = D / c.n_heads;
  const int group = c.n_heads / c.n_kv_heads, half = hs / 2;
  auto matvec = [](const Linear<T>& l, const std::vector<T>& x) {
    const auto& W = l.weight.value;
    std::vector<T> y(W.rows(), T(0)), ax(l.has_adapter() ? l.rank() : 0, T(0));
    for (int k = 0; k < static_cast<int>(ax.size()); ++k)
      for (int j = 0; j < W.cols(); ++j) ax[k] += l.A.value(k, j) * x[j];
    for (int i = 0; i < W.rows(); ++i) {
      T s = 0, t = 0;
      for (int j = 0; j < W.cols(); ++j) s += W(i, j) * x[j];
      for (int k = 0; k < static_cast<int>(ax.size()); ++k) t += l.B.value(i, k) * ax[k];
      y[i] = s + l.scale * t;
    }
    return y;
  };
  auto norm = [&](const std::vector<T>& x, const Param<T>& w) {
    T ss = 0;
    for (T v : x) ss += v * v;
    const T r = T(1) / std::sqrt(ss / T(x.size()) + T(c.norm_eps));
    std::vector<T> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = w.value(0, i) * (x[i] * r);
    return y;
  };
  auto rope = [&](std::vector<T>& v, int pos) {
    for (size_t h = 0; h < v.size() / hs; ++h)
      for (int i = 0; i < half; ++i) {
        const float freq = 1.0f / std::pow(c.rope_theta, float(2 * i) / float(hs));
        const float ang = float(pos) * freq;
        const T co = T(std::cos(ang)), si = T(std::sin(ang));
        const size_t a = h * hs + (c.rope_half_split ? i : 2 * i);
        const size_t b = h * hs + (c.rope_half_split ? i + half : 2 * i + 1);
        const T xa = v[a], xb = v[b];
        v[a] = xa * co - xb * si;
        v[b] = xa * si + xb * co;
      }
  };
  std::vector<std::vector<std::vector<T>>> kcache(c.n_layers), vcache(c.n_layers);
  const Mat<T>& head = m.lm_head.value.size() > 0 ? m.lm_head.value : m.embed.value;
  Mat<T> logits(S, c.vocab_size);
  for (int p = 0; p < S; ++p) {
    std::vector<T> x(D);
    for (int i = 0; i < D; ++i) x[i] = m.embed.value(tokens[p], i);
    for (int li = 0; li < c.n_layers; ++li) {
      const Block<T>& b = m.layers[li];
      auto xn = norm(x, b.attn_norm);
      auto q = matvec(b.q, xn), k = matvec(b.k, xn), v = matvec(b.v, xn);
      rope(q, p);
      rope(k, p);
      kcache[li].push_back(k);
      vcache[li].push_back(v);
      std::vector<T> att(D, T(0));
      for (int h = 0; h < c.n_heads; ++h) {
        const int kh = h / group;
        std::vector<T> w(p + 1);
        T mx = -std::numeric_limits<T>::infinity();
        for (int t = 0; t <= p; ++t) {
          T s = 0;
          for (int i = 0; i < hs; ++i) s += q[h * hs + i] * kcache[li][t][kh * hs + i];
          w[t] = s / std::sqrt(T(hs));
          mx = std::max(mx, w[t]);
        }
        T sum = 0;
        for (auto& e : w) sum += (e = std::exp(e - mx));
        for (int t = 0; t <= p; ++t)
          for (int i = 0; i < hs; ++i) att[h * hs + i] += w[t] / sum * vcache[li][t][kh * hs + i];
      }
      auto o = matvec(b.o, att);
      for (int i = 0; i < D; ++i) x[i] += o[i];
      auto xn2 = norm(x, b.ffn_norm);
      auto g = matvec(b.gate, xn2), u = matvec(b.up, xn2);
      for (size_t j = 0; j < g.size(); ++j) g[j] = silu(g[j]) * u[j];
      auto dn = matvec(b.down, g);
      for (int i = 0; i < D; ++i) x[i] += dn[i];
    }
    auto xf = norm(x, m.norm);
    for (int v = 0; v < c.vocab_size; ++v) {
      T s = 0;
      for (int i = 0; i < D; ++i) s += head(v, i) * xf[i];
      logits(p, v) = s;
    }
  }
  return logits;
}

template float forward<float>(Llama<float>&, Workspace<float>&, std::span<const int32_t>,
                              std::span<const int32_t>, int, int);
template double forward<double>(Llama<double>&, Workspace<double>&, std::span<const int32_t>,
                                std::span<const int32_t>, int, int);
template void backward<float>(Llama<float>&, Workspace<float>&);
template void backward<double>(Llama<double>&, Workspace<double>&);
template void zero_grads<float>(Llama<float>&);
template void zero_grads<double>(Llama<double>&);
template Mat<float> reference_logits<float>(const Llama<float>&, std::span<const int32_t>);
template Mat<double> reference_logits<double>(const Llama<double>&, std::span<const int32_t>);

}  // namespace loft::model

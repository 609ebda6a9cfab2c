// The per-token reference forward (the oracle the batched forward is tested against).
#include <cmath>
#include <limits>

#include "model/forward.hpp"
#include "model/layer_ops.hpp"

namespace loft::model {

using ops::silu;

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

template Mat<float> reference_logits<float>(const Llama<float>&, std::span<const int32_t>);
template Mat<double> reference_logits<double>(const Llama<double>&, std::span<const int32_t>);

}  // namespace loft::model

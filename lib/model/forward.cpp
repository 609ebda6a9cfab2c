// Batched forward, cross-entropy and backward of the Llama, layer by layer.
#include "model/forward.hpp"

#include "model/attention.hpp"
#include "model/layer_ops.hpp"
#include "model/row_products.hpp"

#include <cmath>

#include "common/error.hpp"

namespace loft::model {

using namespace ops;

template <typename T>
void forward_hidden(Llama<T>& m, Workspace<T>& ws, std::span<const int32_t> inputs, int batch,
                    int seq) {
  const LlamaConfig& c = m.cfg;
  const int N = batch * seq, D = c.dim, H = c.n_heads, KVH = c.n_kv_heads, hs = m.head_size();
  if (batch <= 0 || seq <= 0 || static_cast<int>(inputs.size()) != N)
    fail("forward: {} input tokens for batch {} x seq {} (need batch*seq)", inputs.size(), batch,
         seq);
  for (int32_t t : inputs)
    if (t < 0 || t >= c.vocab_size)
      fail("forward: token id {} out of range (vocab_size {})", t, c.vocab_size);
  ws.batch = batch;
  ws.seq = seq;
  ws.inputs.assign(inputs.begin(), inputs.end());
  ws.layers.resize(c.n_layers);
  ws.w_eff.resize(static_cast<size_t>(c.n_layers) * kLinearsPerBlock);
  rope_tables(c, hs, seq, ws.rope_cos, ws.rope_sin);

  Mat<T> x(N, D);
  for (int n = 0; n < N; ++n) x.row(n) = m.embed.value.row(inputs[n]);

  for (int li = 0; li < c.n_layers; ++li) {
    Block<T>& b = m.layers[li];
    LayerCache<T>& cc = ws.layers[li];
    auto lin = b.linears();
    for (int j = 0; j < kLinearsPerBlock; ++j)
      merge_weight(*lin[j], ws.w_eff[li * kLinearsPerBlock + j]);
    const Mat<T>* W = &ws.w_eff[li * kLinearsPerBlock];
    auto keep_u = [&](int j, const Mat<T>& in) {
      if (lin[j]->has_adapter()) rows::mul_bt(cc.lora_u[j], in, lin[j]->A.value);
    };

    cc.x = std::move(x);
    rmsnorm(cc.x, b.attn_norm.value, T(c.norm_eps), cc.xn1, cc.rinv1);
    rows::mul_bt(cc.q, cc.xn1, W[kQ]);
    rows::mul_bt(cc.k, cc.xn1, W[kK]);
    rows::mul_bt(cc.v, cc.xn1, W[kV]);
    for (int j : {kQ, kK, kV}) keep_u(j, cc.xn1);
    rope_apply(cc.q, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, false);
    rope_apply(cc.k, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, false);

    attention_forward(cc, batch, seq, H, KVH, hs);
    keep_u(kO, cc.att);
    cc.xmid = cc.x;
    rows::mul_bt(cc.xmid, cc.att, W[kO], true);

    rmsnorm(cc.xmid, b.ffn_norm.value, T(c.norm_eps), cc.xn2, cc.rinv2);
    rows::mul_bt(cc.g, cc.xn2, W[kGate]);
    rows::mul_bt(cc.u, cc.xn2, W[kUp]);
    keep_u(kGate, cc.xn2);
    keep_u(kUp, cc.xn2);
    cc.h.resize(N, c.hidden_dim);
#pragma omp parallel for schedule(static) if (N >= kParallelRows)
    for (int n = 0; n < N; ++n) {
      auto g = cc.g.row(n).array();
      cc.h.row(n).array() = g / (T(1) + (-g).exp()) * cc.u.row(n).array();
    }
    keep_u(kDown, cc.h);
    x = cc.xmid;
    rows::mul_bt(x, cc.h, W[kDown], true);
  }

  ws.xf = std::move(x);
  rmsnorm(ws.xf, m.norm.value, T(c.norm_eps), ws.xnf, ws.rinvf);
}

template <typename T>
T forward(Llama<T>& m, Workspace<T>& ws, std::span<const int32_t> inputs,
          std::span<const int32_t> targets, int batch, int seq) {
  const LlamaConfig& c = m.cfg;
  const int N = batch * seq;
  if (!targets.empty() && targets.size() != inputs.size())
    fail("forward: {} targets for {} inputs (need the same count)", targets.size(), inputs.size());
  forward_hidden(m, ws, inputs, batch, seq);
  ws.targets.assign(targets.begin(), targets.end());
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
  const int N = ws.batch * ws.seq;
  if (ws.counted == 0) fail("backward: the last forward had no targets");
  for (auto* p : m.params())
    if (p->trainable && (p->grad.rows() != p->value.rows() || p->grad.cols() != p->value.cols()))
      p->grad = Mat<T>::Zero(p->value.rows(), p->value.cols());

  // d loss / d logits = (softmax - onehot) / counted; rows without a target are already zero.
  Mat<T>& dlog = ws.logits;
  const T inv = T(1) / T(ws.counted);
  for (int n = 0; n < N; ++n)
    if (ws.targets[n] >= 0) dlog(n, ws.targets[n]) -= T(1);
  dlog *= inv;
  Param<T>& head = m.lm_head.value.size() > 0 ? m.lm_head : m.embed;
  rows::mul(ws.dxn, dlog, head.value);
  if (head.trainable) rows::add_at_b(head.grad, dlog, ws.xnf);
  backward_hidden(m, ws);
}

template <typename T>
void backward_hidden(Llama<T>& m, Workspace<T>& ws) {
  const LlamaConfig& c = m.cfg;
  const int batch = ws.batch, seq = ws.seq, N = batch * seq;
  const int H = c.n_heads, KVH = c.n_kv_heads, hs = m.head_size();
  if (ws.dxn.rows() != N || ws.dxn.cols() != c.dim)
    fail("backward: d/dxnf is {} x {}, the last forward had {} x {}", ws.dxn.rows(), ws.dxn.cols(),
         N, c.dim);
  for (auto* p : m.params())
    if (p->trainable && (p->grad.rows() != p->value.rows() || p->grad.cols() != p->value.cols()))
      p->grad = Mat<T>::Zero(p->value.rows(), p->value.cols());
  ws.dx = Mat<T>::Zero(N, c.dim);
  rmsnorm_backward(ws.xf, m.norm, ws.rinvf, ws.dxn, ws.dx,
                   m.norm.trainable ? &m.norm.grad : nullptr);

  for (int li = c.n_layers - 1; li >= 0; --li) {
    Block<T>& b = m.layers[li];
    LayerCache<T>& cc = ws.layers[li];
    auto lin = b.linears();
    const Mat<T>* W = &ws.w_eff[li * kLinearsPerBlock];

    // FFN: x_out = xmid + down(h), h = silu(g) * u
    linear_backward(*lin[kDown], W[kDown], cc.h, cc.lora_u[kDown], ws.dx, ws.dh, false, ws.dtmp);
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
    linear_backward(*lin[kGate], W[kGate], cc.xn2, cc.lora_u[kGate], ws.dg, ws.dxn, false, ws.dtmp);
    linear_backward(*lin[kUp], W[kUp], cc.xn2, cc.lora_u[kUp], ws.du, ws.dxn, true, ws.dtmp);
    // ws.dx now plays d/dxmid: the residual path plus the norm's contribution.
    rmsnorm_backward(cc.xmid, b.ffn_norm, cc.rinv2, ws.dxn, ws.dx,
                     b.ffn_norm.trainable ? &b.ffn_norm.grad : nullptr);

    // attention output projection
    linear_backward(*lin[kO], W[kO], cc.att, cc.lora_u[kO], ws.dx, ws.datt, false, ws.dtmp);
    attention_backward(cc, ws, H, KVH, hs);
    rope_apply(ws.dq, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, true);
    rope_apply(ws.dk, hs, seq, c.rope_half_split, ws.rope_cos, ws.rope_sin, true);
    linear_backward(*lin[kQ], W[kQ], cc.xn1, cc.lora_u[kQ], ws.dq, ws.dxn, false, ws.dtmp);
    linear_backward(*lin[kK], W[kK], cc.xn1, cc.lora_u[kK], ws.dk, ws.dxn, true, ws.dtmp);
    linear_backward(*lin[kV], W[kV], cc.xn1, cc.lora_u[kV], ws.dv, ws.dxn, true, ws.dtmp);
    rmsnorm_backward(cc.x, b.attn_norm, cc.rinv1, ws.dxn, ws.dx,
                     b.attn_norm.trainable ? &b.attn_norm.grad : nullptr);
  }
  if (m.embed.trainable)
    for (int n = 0; n < N; ++n) m.embed.grad.row(ws.inputs[n]) += ws.dx.row(n);
}

template float forward<float>(Llama<float>&, Workspace<float>&, std::span<const int32_t>,
                              std::span<const int32_t>, int, int);
template double forward<double>(Llama<double>&, Workspace<double>&, std::span<const int32_t>,
                                std::span<const int32_t>, int, int);
template void forward_hidden<float>(Llama<float>&, Workspace<float>&, std::span<const int32_t>, int,
                                    int);
template void forward_hidden<double>(Llama<double>&, Workspace<double>&, std::span<const int32_t>,
                                     int, int);
template void backward_hidden<float>(Llama<float>&, Workspace<float>&);
template void backward_hidden<double>(Llama<double>&, Workspace<double>&);
template void backward<float>(Llama<float>&, Workspace<float>&);
template void backward<double>(Llama<double>&, Workspace<double>&);
template void zero_grads<float>(Llama<float>&);
template void zero_grads<double>(Llama<double>&);

}  // namespace loft::model

#pragma once
// Batched causal forward over token sequences, cross-entropy, and the hand-written backward.
//
// A batch is B sequences of T tokens laid out as one (B*T) x dim block, so every linear layer is
// one matrix product over the whole batch; attention runs per (sequence, head) in parallel. The
// workspace keeps the activations backward needs and is reused across steps (no allocation once
// the shapes are fixed).
#include <span>
#include <vector>

#include "model/llama.hpp"

namespace loft::model {

template <typename T>
struct LayerCache {
  Mat<T> x;        // residual stream entering the layer (N x dim)
  Mat<T> xn1;      // attention input after RMSNorm
  Vec<T> rinv1;    // 1 / rms per row
  Mat<T> q, k, v;  // projections, q and k after RoPE
  Mat<T> probs;    // softmax(QK^T) per (sequence, head): (B*H*T) x T, zero above the diagonal
  Mat<T> att;      // attention output before o_proj (N x dim)
  Mat<T> xmid;     // residual after attention
  Mat<T> xn2;      // FFN input after RMSNorm
  Vec<T> rinv2;
  Mat<T> g, u, h;  // gate and up projections, h = silu(g) * u
  // x A^T of each adapted linear (q, k, v, o, gate, up, down), kept for dA/dB.
  Mat<T> lora_u[kLinearsPerBlock];
};

template <typename T>
struct Workspace {
  int batch = 0, seq = 0;
  std::vector<int32_t> inputs, targets;  // B*T each; target < 0 = not predicted
  std::vector<LayerCache<T>> layers;
  Mat<T> xf, xnf;  // final residual and its norm
  Vec<T> rinvf;
  Mat<T> logits;    // N x vocab; after a forward with targets, row-wise softmax for backward
  int counted = 0;  // targets that contribute to the mean loss
  // Effective weights W + s B A per linear (merged once per forward).
  std::vector<Mat<T>> w_eff;
  Mat<T> rope_cos, rope_sin;  // T x head_size/2
  // backward scratch
  Mat<T> dx, dxn, dq, dk, dv, datt, dg, du, dh, dtmp;
  std::vector<Mat<T>> thread_scratch;
};

// Forward of B sequences of T tokens (inputs row-major B x T). With targets (same layout, < 0 to
// skip a position) it returns the mean cross-entropy over counted positions and prepares
// backward; with an empty targets span it returns 0 and leaves the raw logits in ws.logits.
template <typename T>
T forward(Llama<T>& m, Workspace<T>& ws, std::span<const int32_t> inputs,
          std::span<const int32_t> targets, int batch, int seq);

// The model up to the final RMSNorm: ws.xnf (N x dim) is the state a task head reads. forward
// is this followed by the language-model head.
template <typename T>
void forward_hidden(Llama<T>& m, Workspace<T>& ws, std::span<const int32_t> inputs, int batch,
                    int seq);

// Backward from d loss / d xnf, given in ws.dxn (N x dim), after forward_hidden: accumulates into
// every trainable Param::grad. backward is the language-model head followed by this.
template <typename T>
void backward_hidden(Llama<T>& m, Workspace<T>& ws);

// Gradients of the last forward's mean loss, accumulated (+=) into every trainable Param::grad
// (zero them with zero_grads first).
template <typename T>
void backward(Llama<T>& m, Workspace<T>& ws);

template <typename T>
void zero_grads(Llama<T>& m);

// Plain per-token reference forward of one sequence (llama2.c style loops, no batching, no
// matrix products): the logits (T x vocab). Tests require the batched forward to match it.
template <typename T>
Mat<T> reference_logits(const Llama<T>& m, std::span<const int32_t> tokens);

}  // namespace loft::model

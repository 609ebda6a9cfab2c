#pragma once
// Causal grouped-query attention over a batch, forward and backward (internal to lib/model).
#include "model/forward.hpp"

namespace loft::model {

// cc.att = softmax(Q K^T / sqrt(hs)) V per (sequence, head) from cc.q, cc.k, cc.v (after RoPE);
// keeps the probabilities in cc.probs for the backward.
template <typename T>
void attention_forward(LayerCache<T>& cc, int batch, int seq, int heads, int kv_heads, int hs);

// ws.dq, ws.dk, ws.dv (before the inverse RoPE) from ws.datt, the gradient of cc.att.
template <typename T>
void attention_backward(const LayerCache<T>& cc, Workspace<T>& ws, int heads, int kv_heads, int hs);

}  // namespace loft::model

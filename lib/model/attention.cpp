// Causal attention, blocked by query rows so the masked upper triangle is mostly skipped.
#include "model/attention.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "model/layer_ops.hpp"

namespace loft::model {

using ops::kAttBlock;
using ops::kParallelRows;

template <typename T>
void attention_forward(LayerCache<T>& cc, int batch, int seq, int H, int KVH, int hs) {
  const int N = batch * seq, D = H * hs, group = H / KVH;
  const T att_scale = T(1) / std::sqrt(T(hs));
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
}

template <typename T>
void attention_backward(const LayerCache<T>& cc, Workspace<T>& ws, int H, int KVH, int hs) {
  const int batch = ws.batch, seq = ws.seq, N = batch * seq, group = H / KVH;
  const T att_scale = T(1) / std::sqrt(T(hs));
  ws.thread_scratch.resize(omp_get_max_threads());
  ws.dq.resize(N, H * hs);
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
}

template void attention_forward<float>(LayerCache<float>&, int, int, int, int, int);
template void attention_forward<double>(LayerCache<double>&, int, int, int, int, int);
template void attention_backward<float>(const LayerCache<float>&, Workspace<float>&, int, int, int);
template void attention_backward<double>(const LayerCache<double>&, Workspace<double>&, int, int,
                                         int);

}  // namespace loft::model

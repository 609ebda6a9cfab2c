// Greedy decoding over the batched forward.
#include "model/generate.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "model/forward.hpp"

namespace loft::model {

std::vector<int32_t> greedy(Llama<float>& m, const std::vector<int32_t>& prompt, int steps,
                            int32_t stop) {
  if (prompt.empty()) fail("generate: the prompt has no token (start from BOS at least)");
  if (steps < 0) fail("generate: steps = {} must be >= 0", steps);
  std::vector<int32_t> ctx = prompt, out;
  const int window = m.cfg.seq_len > 0 ? m.cfg.seq_len : 1 << 30;
  Workspace<float> ws;
  for (int s = 0; s < steps; ++s) {
    const int n = std::min<int>(static_cast<int>(ctx.size()), window);
    std::span<const int32_t> in(ctx.data() + ctx.size() - n, n);
    forward<float>(m, ws, in, {}, 1, n);
    Eigen::Index best;
    ws.logits.row(n - 1).maxCoeff(&best);
    ctx.push_back(static_cast<int32_t>(best));
    out.push_back(static_cast<int32_t>(best));
    if (best == stop) break;
  }
  return out;
}

}  // namespace loft::model

#pragma once
// Greedy decoding: the argmax continuation of a prompt.
#include <vector>

#include "model/llama.hpp"

namespace loft::model {

// Appends `steps` argmax tokens to `prompt` (ids, usually starting with BOS) and returns only the
// new ones; stops early after emitting `stop` (when >= 0). Each step re-runs the batched forward
// over the last cfg.seq_len tokens (no KV cache: these models are small and this keeps one
// forward path to test).
std::vector<int32_t> greedy(Llama<float>& m, const std::vector<int32_t>& prompt, int steps,
                            int32_t stop = -1);

}  // namespace loft::model

#pragma once
// The training loop: seeded random windows of a token stream, AdamW, periodic evaluation on a
// validation stream, and the curves a sweep point records.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/optim.hpp"

namespace loft::model {

struct TrainConfig {
  int steps = 100;
  int batch = 8;
  int seq_len = 64;
  AdamWConfig opt;  // opt.total_steps is set to steps by train()
  uint64_t seed = 0;
  int eval_every = 0;   // steps between evaluations (0: only at the end)
  int eval_tokens = 0;  // validation tokens predicted per evaluation (0: all)
};

struct TrainCurves {
  std::vector<double> loss, lr, grad_norm;   // one entry per step taken
  std::vector<double> eval_step, eval_loss;  // eval_step = steps taken when evaluated
  bool diverged = false;                     // a loss or gradient became NaN/Inf
  double seconds = 0;                        // wall time of the training steps (not evals)
  double tokens_per_s = 0;                   // trained tokens per second of that time
};

// Window starts for step `step`: drawn from derive_seed(seed, "data/step<k>") so the data order
// is fixed by the seed and a resumed run sees exactly the batches it would have seen.
// Fills inputs/targets (batch x seq_len each, targets shifted by one).
void sample_batch(const std::vector<int32_t>& tokens, int batch, int seq_len, uint64_t seed,
                  int step, std::vector<int32_t>& inputs, std::vector<int32_t>& targets);

// Mean next-token NLL over consecutive non-overlapping windows of seq_len + 1 tokens, up to
// max_tokens predictions (0: the whole stream). exp() of it is the perplexity.
double evaluate(Llama<float>& m, const std::vector<int32_t>& tokens, int seq_len, int batch,
                int max_tokens = 0);

struct TrainHooks {
  std::function<void(int step, double loss)> on_step;  // after each step
  std::function<void(int step)> checkpoint;            // after each step, may save
};

// Trains the model's trainable parameters from optimiser state `opt` (its t = steps already
// taken, so a resumed run continues the schedule) until cfg.steps. Stops early on divergence.
TrainCurves train(Llama<float>& m, AdamW& opt, const std::vector<int32_t>& train_tokens,
                  const std::vector<int32_t>& val_tokens, const TrainConfig& cfg,
                  const TrainHooks& hooks = {});

}  // namespace loft::model

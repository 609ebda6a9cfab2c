// The training loop and evaluation.
#include "model/train.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "model/forward.hpp"

namespace loft::model {

void sample_batch(const std::vector<int32_t>& tokens, int batch, int seq_len, uint64_t seed,
                  int step, std::vector<int32_t>& inputs, std::vector<int32_t>& targets) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < seq_len + 1)
    fail(
        "training text has {} tokens, fewer than seq_len + 1 = {}; use a larger corpus or a "
        "smaller seq_len",
        n, seq_len + 1);
  Rng rng = make_rng(seed, fmt::format("data/step{}", step));
  std::uniform_int_distribution<int64_t> start(0, n - seq_len - 1);
  inputs.resize(static_cast<size_t>(batch) * seq_len);
  targets.resize(inputs.size());
  for (int b = 0; b < batch; ++b) {
    const int64_t s = start(rng);
    for (int i = 0; i < seq_len; ++i) {
      inputs[b * seq_len + i] = tokens[s + i];
      targets[b * seq_len + i] = tokens[s + i + 1];
    }
  }
}

double evaluate(Llama<float>& m, const std::vector<int32_t>& tokens, int seq_len, int batch,
                int max_tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  int64_t windows = (n - 1) / seq_len;
  if (max_tokens > 0) windows = std::min<int64_t>(windows, (max_tokens + seq_len - 1) / seq_len);
  if (windows < 1)
    fail("evaluation text has {} tokens, fewer than seq_len + 1 = {}", n, seq_len + 1);
  Workspace<float> ws;
  std::vector<int32_t> in, tg;
  double total = 0;
  int64_t counted = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    const int nb = static_cast<int>(std::min<int64_t>(batch, windows - w0));
    in.resize(static_cast<size_t>(nb) * seq_len);
    tg.resize(in.size());
    for (int b = 0; b < nb; ++b)
      for (int i = 0; i < seq_len; ++i) {
        const int64_t s = (w0 + b) * seq_len + i;
        in[b * seq_len + i] = tokens[s];
        tg[b * seq_len + i] = tokens[s + 1];
      }
    const double loss = forward<float>(m, ws, in, tg, nb, seq_len);
    total += loss * ws.counted;
    counted += ws.counted;
  }
  return total / static_cast<double>(counted);
}

TrainCurves train(Llama<float>& m, AdamW& opt, const std::vector<int32_t>& train_tokens,
                  const std::vector<int32_t>& val_tokens, const TrainConfig& cfg,
                  const TrainHooks& hooks) {
  if (cfg.batch < 1 || cfg.seq_len < 1 || cfg.steps < 0)
    fail("train: batch = {}, seq_len = {}, steps = {} (need batch, seq_len >= 1, steps >= 0)",
         cfg.batch, cfg.seq_len, cfg.steps);
  if (m.cfg.seq_len > 0 && cfg.seq_len > m.cfg.seq_len)
    fail("train: seq_len = {} exceeds the model's context {}", cfg.seq_len, m.cfg.seq_len);
  opt.cfg.total_steps = cfg.steps;
  TrainCurves c;
  Workspace<float> ws;
  std::vector<int32_t> in, tg;
  using clock = std::chrono::steady_clock;
  double train_seconds = 0;
  int64_t trained_tokens = 0;
  auto eval_now = [&](int step) {
    c.eval_step.push_back(step);
    c.eval_loss.push_back(evaluate(m, val_tokens, cfg.seq_len, cfg.batch, cfg.eval_tokens));
  };
  while (opt.t < cfg.steps) {
    const int step = opt.t;
    const auto t0 = clock::now();
    sample_batch(train_tokens, cfg.batch, cfg.seq_len, cfg.seed, step, in, tg);
    zero_grads(m);
    const float loss = forward<float>(m, ws, in, tg, cfg.batch, cfg.seq_len);
    if (!std::isfinite(loss)) {
      c.diverged = true;
      c.loss.push_back(loss);
      break;
    }
    backward(m, ws);
    c.lr.push_back(schedule_lr(opt.cfg, step));
    const double gnorm = opt.step();
    train_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    trained_tokens += static_cast<int64_t>(cfg.batch) * cfg.seq_len;
    c.loss.push_back(loss);
    c.grad_norm.push_back(gnorm);
    if (!std::isfinite(gnorm)) {
      c.diverged = true;
      break;
    }
    if (hooks.on_step) hooks.on_step(opt.t, loss);
    if (cfg.eval_every > 0 && opt.t % cfg.eval_every == 0 && opt.t < cfg.steps) eval_now(opt.t);
    if (hooks.checkpoint) hooks.checkpoint(opt.t);
  }
  if (!c.diverged && !val_tokens.empty()) eval_now(opt.t);
  c.seconds = train_seconds;
  c.tokens_per_s = train_seconds > 0 ? trained_tokens / train_seconds : 0;
  return c;
}

}  // namespace loft::model

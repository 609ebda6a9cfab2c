#pragma once
// AdamW (Loshchilov & Hutter: bias-corrected moments, weight decay decoupled from the gradient),
// global-norm gradient clipping, and a linear-warmup + cosine learning-rate schedule.
#include <vector>

#include "model/llama.hpp"

namespace loft::model {

struct AdamWConfig {
  double lr = 1e-3;  // peak learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // applied to matrices only (not to norms), as lr * wd * p
  double clip = 1.0;          // max global gradient norm; <= 0 disables clipping
  int warmup = 0;             // steps of linear warmup from lr / warmup
  int total_steps = 1;        // cosine decays from lr (after warmup) to min_lr_ratio * lr
  double min_lr_ratio = 0.1;
};

// The learning rate of step t (0-based).
double schedule_lr(const AdamWConfig& c, int t);

// State (first and second moments) for each trainable parameter of a model.
struct AdamW {
  AdamWConfig cfg;
  std::vector<Param<float>*> params;
  std::vector<Mat<float>> m, v;
  int t = 0;  // steps taken

  AdamW(Llama<float>& model, const AdamWConfig& c);
  // Over the trainable ones of an explicit list (a model's and a task head's parameters).
  AdamW(const std::vector<Param<float>*>& params, const AdamWConfig& c);
  // Clips the gradients, applies one update at schedule_lr(cfg, t) and returns the gradient
  // norm before clipping.
  double step();
};

}  // namespace loft::model

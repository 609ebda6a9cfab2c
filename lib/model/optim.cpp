// AdamW, clipping and the schedule.
#include "model/optim.hpp"

#include <cmath>

#include "common/error.hpp"

namespace loft::model {

double schedule_lr(const AdamWConfig& c, int t) {
  if (c.warmup > 0 && t < c.warmup) return c.lr * (t + 1) / c.warmup;
  const int span = std::max(1, c.total_steps - c.warmup - 1);
  const double progress = std::min(1.0, static_cast<double>(t - c.warmup) / span);
  const double floor = c.min_lr_ratio * c.lr;
  return floor + 0.5 * (c.lr - floor) * (1.0 + std::cos(M_PI * progress));
}

AdamW::AdamW(Llama<float>& model, const AdamWConfig& c) : AdamW(model.params(), c) {}

AdamW::AdamW(const std::vector<Param<float>*>& all, const AdamWConfig& c) : cfg(c) {
  if (!(c.lr > 0) || !std::isfinite(c.lr)) fail("lr = {} must be a positive number", c.lr);
  if (c.beta1 < 0 || c.beta1 >= 1 || c.beta2 < 0 || c.beta2 >= 1)
    fail("AdamW betas ({}, {}) must lie in [0, 1)", c.beta1, c.beta2);
  for (auto* p : all)
    if (p->trainable) {
      params.push_back(p);
      m.push_back(Mat<float>::Zero(p->value.rows(), p->value.cols()));
      v.push_back(Mat<float>::Zero(p->value.rows(), p->value.cols()));
    }
  if (params.empty()) fail("AdamW: the model has no trainable parameter");
}

double AdamW::step() {
  double sq = 0;
  for (auto* p : params) sq += p->grad.cast<double>().squaredNorm();
  const double norm = std::sqrt(sq);
  const float gscale = (cfg.clip > 0 && norm > cfg.clip) ? float(cfg.clip / norm) : 1.0f;
  const double lr = schedule_lr(cfg, t);
  ++t;
  const float b1 = float(cfg.beta1), b2 = float(cfg.beta2);
  const float c1 = float(1.0 / (1.0 - std::pow(cfg.beta1, t)));
  const float c2 = float(1.0 / (1.0 - std::pow(cfg.beta2, t)));
  const float flr = float(lr), eps = float(cfg.eps);
  for (size_t i = 0; i < params.size(); ++i) {
    Param<float>& p = *params[i];
    const float decay = p.value.rows() > 1 ? float(1.0 - lr * cfg.weight_decay) : 1.0f;
    float* w = p.value.data();
    const float* g = p.grad.data();
    float* mi = m[i].data();
    float* vi = v[i].data();
    const Eigen::Index n = p.value.size();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (Eigen::Index j = 0; j < n; ++j) {
      const float gj = g[j] * gscale;
      mi[j] = b1 * mi[j] + (1 - b1) * gj;
      vi[j] = b2 * vi[j] + (1 - b2) * gj * gj;
      w[j] = w[j] * decay - flr * (mi[j] * c1) / (std::sqrt(vi[j] * c2) + eps);
    }
  }
  return norm;
}

}  // namespace loft::model

// The classification training loop, its evaluation and metrics.
#include "model/class_train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace loft::model {
namespace {

// The batch of the given example indices, right-padded with token 0 to the longest.
ClassBatch make_batch(const LabelledTokens& d, const std::vector<size_t>& idx) {
  ClassBatch b;
  b.batch = static_cast<int>(idx.size());
  for (size_t i : idx) b.seq = std::max(b.seq, static_cast<int>(d.seqs[i].size()));
  b.tokens.assign(static_cast<size_t>(b.batch) * b.seq, 0);
  for (int r = 0; r < b.batch; ++r) {
    const auto& s = d.seqs[idx[r]];
    std::copy(s.begin(), s.end(), b.tokens.begin() + static_cast<size_t>(r) * b.seq);
    b.lengths.push_back(static_cast<int>(s.size()));
    b.labels.push_back(d.labels[idx[r]]);
  }
  return b;
}

std::vector<Param<float>*> trainable(Llama<float>& m, ClassHead<float>& head) {
  std::vector<Param<float>*> out;
  for (auto* p : m.params())
    if (p->trainable) out.push_back(p);
  for (auto* p : head.params())
    if (p->trainable) out.push_back(p);
  return out;
}

}  // namespace

ClassMetrics score(const std::vector<int>& pred, const std::vector<int>& labels, int classes) {
  ClassMetrics r;
  if (labels.empty()) return r;
  std::vector<int> tp(classes, 0), npred(classes, 0), ntrue(classes, 0);
  int correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    ++npred[pred[i]];
    ++ntrue[labels[i]];
    if (pred[i] == labels[i]) ++tp[labels[i]], ++correct;
  }
  double f1 = 0;
  int counted = 0;
  for (int c = 0; c < classes; ++c) {
    if (npred[c] + ntrue[c] == 0) continue;
    f1 += 2.0 * tp[c] / (npred[c] + ntrue[c]);
    ++counted;
  }
  r.acc = static_cast<double>(correct) / labels.size();
  r.macro_f1 = counted ? f1 / counted : 0;
  return r;
}

ClassMetrics evaluate_classifier(Llama<float>& m, ClassHead<float>& head,
                                 const LabelledTokens& data, int batch) {
  ClassWorkspace<float> cw;
  std::vector<int> pred;
  double loss = 0;
  for (size_t i0 = 0; i0 < data.seqs.size(); i0 += batch) {
    std::vector<size_t> idx;
    for (size_t i = i0; i < std::min(data.seqs.size(), i0 + batch); ++i) idx.push_back(i);
    const double l = classify_forward(m, head, cw, make_batch(data, idx));
    loss += l * idx.size();
    for (Eigen::Index r = 0; r < cw.logits.rows(); ++r) {
      Eigen::Index best = 0;
      cw.logits.row(r).maxCoeff(&best);
      pred.push_back(static_cast<int>(best));
    }
  }
  ClassMetrics r = score(pred, data.labels, head.classes());
  r.loss = data.seqs.empty() ? 0 : loss / data.seqs.size();
  return r;
}

ClassCurves train_classifier(Llama<float>& m, ClassHead<float>& head, const LabelledTokens& train,
                             const LabelledTokens& validation, const TrainConfig& cfg,
                             const TrainHooks& hooks) {
  if (cfg.batch < 1 || cfg.steps < 0)
    fail("train: batch = {}, steps = {} (need batch >= 1, steps >= 0)", cfg.batch, cfg.steps);
  if (train.seqs.empty() || validation.seqs.empty())
    fail("classify: {} training and {} validation examples (need both)", train.seqs.size(),
         validation.seqs.size());
  AdamW opt(trainable(m, head), cfg.opt);
  opt.cfg.total_steps = cfg.steps;
  ClassCurves c;
  TrainCurves& tc = c.train;
  std::vector<Mat<float>> best;
  auto eval_now = [&](int step) {
    const ClassMetrics v = evaluate_classifier(m, head, validation, cfg.batch);
    tc.eval_step.push_back(step);
    tc.eval_loss.push_back(v.loss);
    c.eval_acc.push_back(v.acc);
    c.eval_f1.push_back(v.macro_f1);
    if (best.empty() || v.acc > c.best_acc) {
      c.best_acc = v.acc;
      c.best_step = step;
      best.clear();
      for (auto* p : opt.params) best.push_back(p->value);
    }
  };
  eval_now(0);
  ClassWorkspace<float> cw;
  using clock = std::chrono::steady_clock;
  double seconds = 0;
  int64_t tokens = 0;
  std::uniform_int_distribution<size_t> pick(0, train.seqs.size() - 1);
  while (opt.t < cfg.steps) {
    const int step = opt.t;
    const auto t0 = clock::now();
    Rng rng = make_rng(cfg.seed, fmt::format("class/step{}", step));
    std::vector<size_t> idx(cfg.batch);
    for (auto& i : idx) i = pick(rng);
    const ClassBatch b = make_batch(train, idx);
    for (auto* p : opt.params) p->grad.setZero(p->value.rows(), p->value.cols());
    const float loss = classify_forward(m, head, cw, b);
    tc.loss.push_back(loss);
    if (!std::isfinite(loss)) {
      tc.diverged = true;
      break;
    }
    classify_backward(m, head, cw);
    tc.lr.push_back(schedule_lr(opt.cfg, step));
    const double gnorm = opt.step();
    seconds += std::chrono::duration<double>(clock::now() - t0).count();
    for (int len : b.lengths) tokens += len;
    tc.grad_norm.push_back(gnorm);
    if (!std::isfinite(gnorm)) {
      tc.diverged = true;
      break;
    }
    if (hooks.on_step) hooks.on_step(opt.t, loss);
    if ((cfg.eval_every > 0 && opt.t % cfg.eval_every == 0) || opt.t == cfg.steps) eval_now(opt.t);
  }
  for (size_t i = 0; i < best.size(); ++i) opt.params[i]->value = best[i];
  tc.seconds = seconds;
  tc.tokens_per_s = seconds > 0 ? tokens / seconds : 0;
  return c;
}

}  // namespace loft::model

#pragma once
// Training a classification head (and the model's trainable parameters) on labelled token
// sequences: seeded random batches, AdamW with the schedule of train(), accuracy and macro-F1 on
// validation every eval_every steps, and the parameters of the best validation accuracy restored
// at the end (the checkpoint chosen on validation). Peak memory: the model, one batch's
// workspace, and one copy of the trainable parameters (the best so far).
#include <cstdint>
#include <vector>

#include "model/classifier.hpp"
#include "model/train.hpp"

namespace loft::model {

struct LabelledTokens {
  std::vector<std::vector<int32_t>> seqs;  // each 1..seq_len tokens
  std::vector<int> labels;
};

struct ClassMetrics {
  double loss = 0, acc = 0, macro_f1 = 0;
};

struct ClassCurves {
  TrainCurves train;  // loss, lr, grad_norm per step; eval_step, eval_loss (validation)
  std::vector<double> eval_acc, eval_f1;
  int best_step = 0;  // steps taken at the chosen checkpoint (0: before training)
  double best_acc = 0;
};

// Accuracy and macro-F1 (mean over classes of F1; a class never predicted nor present scores
// nothing and is left out) of predictions against labels.
ClassMetrics score(const std::vector<int>& predicted, const std::vector<int>& labels, int classes);

// Predictions and metrics over a whole split, in batches of `batch`.
ClassMetrics evaluate_classifier(Llama<float>& m, ClassHead<float>& head,
                                 const LabelledTokens& data, int batch);

// Trains for cfg.steps (cfg.seq_len is the truncation already applied to the data); evaluates at
// step 0, every cfg.eval_every steps and at the end; restores the best. Stops on divergence.
ClassCurves train_classifier(Llama<float>& m, ClassHead<float>& head, const LabelledTokens& train,
                             const LabelledTokens& validation, const TrainConfig& cfg,
                             const TrainHooks& hooks = {});

}  // namespace loft::model

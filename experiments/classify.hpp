#pragma once
// classify: one point = one model (llama2c:, hf:, pretrained:NAME) whose target linear layers are
// initialised by `method` with `quant` and `rank` (as finetune), plus a classification head on the
// final hidden state (`pooling`: last token or mean), trained on a labelled `task`
// (text/tasks.hpp) with AdamW and finetune's schedule for `train_steps`; texts are truncated to
// seq_len tokens. Only A, B and the head train (`full`: every weight of the unquantised model).
// Metrics:
//   acc, macro_f1       on test, with the parameters of the best validation accuracy
//   val_acc, val_f1     that best validation point; best_step the steps it had taken
//   majority_acc        test accuracy of always answering the most frequent training class
//   majority_val_acc    the largest class share of validation (the best constant answer there)
//   head_acc            test accuracy of the frozen full-precision model with a trained head
//                       (same steps, lr and seed; computed once per process and task)
//   diverged            1 when the loss became NaN/Inf or val_acc never rose above
//                       majority_val_acc (a model that collapsed to one answer)
//   tokens_per_s, loss_final, bits_per_weight, residual_rel, classes, seconds
// Curves under train/: loss, lr, grad_norm (per step), eval_step, eval_loss, eval_acc, eval_f1
// (validation, from step 0). The label set and the examples of each label per split are under
// layers/<label>/split_counts = {train, validation, test}.
#include "experiments/experiment.hpp"

namespace loft::exp {

Experiment classify_experiment();

}  // namespace loft::exp

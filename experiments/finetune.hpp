#pragma once
// Downstream experiments on the Llama of lib/model.
//
// finetune: one point = one model (llama2c:, hf:, pretrained:NAME) whose target linear layers
// are initialised by `method` with `quant` and `rank` (lib/init), then fine-tuned on `corpus`
// with AdamW for `train_steps` (only A and B train; method `full` trains every weight of the
// unquantised model instead). Metrics (perplexities on the corpus' validation split, the first
// eval_tokens tokens):
//   ppl_fp        the full-precision model before training
//   ppl_init      after quantisation and initialisation, before training
//   ppl_final     after training
//   diverged      1 when the loss became NaN/Inf or ppl_final is no better than ppl_init
//   tokens_per_s  training throughput (forward + backward + AdamW)
//   bits_per_weight, residual_rel (mean ||W - Q - sBA|| / ||W|| of the targets), seconds
// Curves under train/: loss, lr, grad_norm (per step), eval_step, eval_loss.
// Data-aware methods (qera; loftq/qpissa with weight = act or fisher) calibrate the model on
// calib_corpus (default: the fine-tuning corpus' training split; experiments/calibration.hpp) and
// record mean_residual_act and err_reduction_act, the output error on the calibration inputs at
// init and its reduction against QLoRA's; only their points take the calibration key.
// Normalisation: full drops quant, rank, steps and lora_alpha; lora drops quant and steps;
// qlora drops steps; loftq with steps = 0 is qlora. `bits` is added from a single quantizer.
// adapter = FOLDER (a PEFT LoRA adapter, e.g. DIR/loftq_init of `loftlab init-model`): the model
// is used as stored and A, B, r, alpha come from the adapter (model::load_peft_adapter); the
// init keys are dropped, and bits_per_weight and residual_rel are NaN (not known from it).
//
// pretrain: trains a byte-level Llama from scratch on `corpus` and saves it, named by `model`, as a
// llama2.c checkpoint at results/models/NAME/model.bin (or $LOFTLAB_MODELS/NAME), usable as
// pretrained:NAME. The training state is saved every checkpoint_every steps next to it
// (resume.state), so an interrupted run resumes there; a model already saved with the same
// config is evaluated, not retrained. Metrics: loss_final, ppl_val, tokens_per_s, params,
// resumed_from (the step it started at).
#include <cstdint>

#include "experiments/experiment.hpp"
#include "model/llama.hpp"
#include "model/train.hpp"

namespace loft::exp {

Experiment finetune_experiment();
Experiment pretrain_experiment();

// What finetune and classify share (classify.cpp): the keys, their normalisation, the trainer's
// config from a point's params, and the model turned into the one that trains (adapters attached
// by `method`, or every weight trainable for `full`), recording bits_per_weight and residual_rel.
std::vector<Key> training_keys();  // model, tokenizer, train_steps, batch, ... seed
std::vector<Key> adapter_keys();   // lora_alpha, targets, method, quant, rank, steps
// in: the calling experiment's keys (training_keys() and adapter_keys() among them).
Params normalise_training(const KeyValues& in);
// calib_corpus: the corpus data-aware methods calibrate on (as the experiment resolves it).
void normalise_adapters(const KeyValues& in, Params& p, const std::string& calib_corpus);
model::TrainConfig train_config(const Params& p);
void prepare_model(model::Llama<float>& m, const Params& p, const Context& ctx, Record& rec,
                   const std::function<void(double, const std::string&)>& say);

// The training curves under /points/<id>/train/: loss, lr, grad_norm, eval_step, eval_loss.
void record_curves(Record& rec, const model::TrainCurves& c);

// Upper bounds of config values (far above any real run, far below what exhausts memory or
// overflows the int the trainer counts in).
inline constexpr int64_t kMaxSteps = 100'000'000;  // train_steps, warmup, eval_every, ...
inline constexpr int64_t kMaxBatch = 4096;
inline constexpr int64_t kMaxSeqLen = 1 << 20;

}  // namespace loft::exp

#pragma once
// The residual experiment: how close an initialisation gets to the full-precision weights.
// Per point, every selected tensor W of the source runs the init method and records the trace of
// ||W - Q_t - s B_t A_t|| over the steps (results/README.md lists the datasets), and the point's
// metrics aggregate over the tensors, each tensor counting equally:
//
//   mean_residual_rel      mean over tensors of the final ||W - Q - sBA||_F / ||W||_F
//   err_reduction_fro      mean over tensors of 1 - final ||W - Q - sBA||_F / ||W - q(W)||_F
//   err_reduction_nuclear  the same in nuclear norm (the PiSSA paper's error reduction ratio)
//   bits_per_weight        storage of the quantised base, scales included, weighted by size
//   seconds                wall seconds of the point;  tensors: how many were selected
//
// ||W - q(W)|| is the QLoRA error (B = 0), computed here from the quantizer itself, so qlora
// points have reductions of exactly 0 and the other methods are measured against the same
// reference.
//
// Normalisation (what makes two grid combinations the same point):
//   - quant and svd are written canonically (nf4:b64 -> nf4), `bits` is added from quant;
//   - loftq with steps = 0 IS qlora (LoftQ's Algorithm 1 with no step) and becomes method qlora;
//   - qlora drops rank, steps, svd, stop, seed and alpha: its residual is ||W - q(W)||;
//   - alpha is dropped for every method: the returned factors satisfy W ~ Q + s B A for any
//     s = alpha / rank, so the residual does not depend on it (the key exists so that configs
//     shared with finetune sweeps read);
//   - seed is kept only with a randomized SVD: everything else here is deterministic;
//   - stop = rise is kept only when steps >= 2 (with one step there is nothing to stop).
// The source is opened and the layer globs are checked while normalising, so a missing file or a
// glob matching nothing is reported by --dry-run, before anything runs.
#include "experiments/experiment.hpp"

namespace loft::exp {

Experiment residual_experiment();

}  // namespace loft::exp

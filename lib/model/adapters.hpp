#pragma once
// Turning a loaded model into the model a LoRA fine-tune starts from: each target linear layer's
// W is replaced by the init method's (dequantised) Q and gets the method's A, B and scale.
#include <functional>
#include <limits>
#include <string>

#include "init/weighting.hpp"
#include "model/llama.hpp"

namespace loft::model {

struct CalibKey;
struct CalibStats;

struct AdapterSpec {
  std::string method = "qlora";  // an init method: lora, qlora, loftq, qpissa, qera
  std::string quant = "nf4";     // per-tensor rules (init/patterns.hpp), e.g. "nf4" or "*=nf2"
  std::string rank = "8";        // per-tensor rank rules: "8", "energy:0.5", ...
  int steps = 1;                 // alternating steps (loftq, qpissa)
  uint64_t seed = 0;
  double lora_alpha = 0;      // <= 0: alpha = rank (s = 1)
  std::string targets = "*";  // globs over the linear layers' Hugging Face weight names
  // Data-aware methods (qera; loftq/qpissa with weight = act or fisher): the weighting and the
  // calibration statistics of the model's layers (not owned; null: none).
  init::Weight weight = init::Weight::none;
  init::Scale scale = init::Scale::exact;
  double damping = 0.01;
  const CalibStats* stats = nullptr;
  int layer = -1;  // >= 0: only the targets in this transformer block (the rest untouched)
};

struct AdapterSummary {
  int tensors = 0;
  double bits_per_weight = 0;  // storage of the target layers' Q, weighted by size
  double residual_rel = 0;     // mean over tensors of ||W - Q - s B A||_F / ||W||_F at init
  // With calibration statistics: the means over tensors of ||(W - Q - s B A) S||_F (S S^T = H)
  // and of 1 - its ratio to QLoRA's; NaN without.
  double residual_act = std::numeric_limits<double>::quiet_NaN();
  double err_reduction_act = std::numeric_limits<double>::quiet_NaN();
};

// Every glob of spec.targets must match at least one linear layer (the error lists the names).
// Layers outside targets keep their full-precision W and no adapter. progress(i, n) after each.
AdapterSummary attach_adapters(Llama<float>& m, const AdapterSpec& spec,
                               const std::function<void(int, int)>& progress = {});

// ApiQ's variant of a data-aware init (arXiv 2402.05147): block by block, the statistics of block
// l's inputs come from the model whose blocks < l already hold their initialisation (Q and
// s B A, as the forward then computes), and block l is initialised with them; `stats` receives
// every block's statistics (the Fisher, when key.fisher, from the unquantised model). spec.stats
// and spec.layer are set here. Costs one forward pass over the calibration tokens per block.
AdapterSummary attach_adapters_on_quantized_inputs(
    Llama<float>& m, AdapterSpec spec, const std::vector<int32_t>& tokens, const CalibKey& key,
    CalibStats& stats, const std::function<void(int, int)>& progress = {});

// Attaches a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors, as
// PEFT saves one and `loftlab init-model` writes DIR/loftq_init): each module's weight stays as
// loaded (the base is used as stored), A and B come from base_model.model.<module>.lora_A/B.weight,
// r and lora_alpha from the config (rank_pattern / alpha_pattern matched as PEFT does:
// re.match("(.*\.)?(KEY)$", module)), s = lora_alpha / r. Errors name the folder and the key:
// a key for no linear layer, a shape that does not fit, r disagreeing with A's rows, use_dora or
// use_rslora (a different forward). bits_per_weight and residual_rel are NaN (not known here).
AdapterSummary load_peft_adapter(Llama<float>& m, const std::string& folder);

// The linear layers matching comma-separated globs, each glob required to match one at least.
std::vector<Linear<float>*> select_linears(Llama<float>& m, const std::string& targets);

}  // namespace loft::model

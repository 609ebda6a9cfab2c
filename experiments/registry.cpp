// The experiment table: one row per experiment kind.
#include <fmt/format.h>

#include "common/error.hpp"
#include "common/text.hpp"
#include "experiments/classify.hpp"
#include "experiments/experiment.hpp"
#include "experiments/finetune.hpp"
#include "experiments/residual.hpp"

namespace loft::exp {

namespace {

Experiment with_headline(Experiment e, std::vector<std::string> metrics) {
  e.headline = std::move(metrics);
  return e;
}

}  // namespace

const std::vector<Experiment>& experiments() {
  // One row per experiment kind; add a row (and its file) to add a kind.
  static const std::vector<Experiment> table = {
      with_headline(residual_experiment(),
                    {"mean_residual_rel", "err_reduction_fro", "bits_per_weight"}),
      with_headline(finetune_experiment(),
                    {"ppl_init", "ppl_final", "diverged", "bits_per_weight"}),
      with_headline(pretrain_experiment(), {"ppl_val", "loss_final", "tokens_per_s"}),
      with_headline(classify_experiment(),
                    {"acc", "macro_f1", "majority_acc", "head_acc", "diverged"}),
  };
  return table;
}

const Experiment& find_experiment(const std::string& name) {
  for (const auto& e : experiments())
    if (e.name == name) return e;
  const std::string valid = join(experiments(), ", ", [](const Experiment& e) { return e.name; });
  fail("unknown experiment '{}' (valid: {})", name, valid);
}

}  // namespace loft::exp

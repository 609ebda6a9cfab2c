// The experiment table: one row per experiment kind.
#include <fmt/format.h>

#include "common/error.hpp"
#include "common/text.hpp"
#include "experiments/classify.hpp"
#include "experiments/experiment.hpp"
#include "experiments/finetune.hpp"
#include "experiments/residual.hpp"

namespace loft::exp {

const std::vector<Experiment>& experiments() {
  // One row per experiment kind; add a row (and its file) to add a kind.
  static const std::vector<Experiment> table = {
      residual_experiment(),
      finetune_experiment(),
      pretrain_experiment(),
      classify_experiment(),
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

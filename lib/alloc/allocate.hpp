#pragma once
// From a cost table and a budget to one quantizer per tensor: the knapsack over the table
// (knapsack.hpp), solved once with the residual costs and once with the proxy costs, so the
// report can say how often the cheap proxy would have chosen differently.
#include <string>
#include <vector>

#include "alloc/budget.hpp"
#include "alloc/costs.hpp"
#include "init/patterns.hpp"

namespace loft::alloc {

struct Allocation {
  std::vector<int> pick;               // candidate index per tensor
  init::PerTensor<quant::Spec> rules;  // one rule per tensor, its exact name as the glob
  double bits_per_weight = 0;          // of the quantised bases, scales included
  double adapter_bits_per_weight = 0;  // the adapters' r (m + n) 16-bit values, per base weight
  double budget_bits = 0;              // what the budget counted (base, plus adapters if :adapter)
  double objective = 0;                // total cost (sum of squared residuals)
  double lower_bound = 0;              // Lagrangian bound; gap = objective - lower_bound
  double multiplier = 0;
  int proxy_disagreements = 0;   // tensors where the proxy's own optimum picks another candidate
  double proxy_choice_cost = 0;  // the residual cost of the proxy's allocation
};

Allocation allocate(const CostTable& table, const BudgetSpec& budget);

// "tensor: spec  (bits, cost)" lines and the totals, for commands.
std::string describe(const CostTable& table, const Allocation& a);

}  // namespace loft::alloc

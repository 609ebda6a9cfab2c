#include "alloc/allocate.hpp"

#include <fmt/format.h>

#include <cmath>

#include "alloc/knapsack.hpp"
#include "common/error.hpp"

namespace loft::alloc {

namespace {

// The knapsack over the applicable candidates; map[t][k] is item k's candidate index.
Problem make_problem(const CostTable& t, const BudgetSpec& b, bool proxy,
                     std::vector<std::vector<int>>& map) {
  Problem p;
  p.weights = static_cast<double>(t.weights());
  // The budget in whole bits; a hair of slack so that "budget:4.5" admits exactly 4.5 bits.
  p.capacity = static_cast<int64_t>(std::floor(b.bits * p.weights * (1 + 1e-12)));
  map.assign(t.tensors.size(), {});
  for (size_t i = 0; i < t.tensors.size(); ++i) {
    std::vector<Item> group;
    for (size_t c = 0; c < t.candidates.size(); ++c) {
      const Entry& e = t.entries[i][c];
      if (!e.applicable) continue;
      group.push_back({e.storage + (b.adapter ? e.adapter : 0), proxy ? e.proxy : e.cost});
      map[i].push_back(static_cast<int>(c));
    }
    if (group.empty())
      fail(
          "tensor '{}' ({} x {}): no candidate can store it (its size is not a multiple of "
          "any candidate's block); add a block size that divides {}",
          t.tensors[i].name, t.tensors[i].rows, t.tensors[i].cols,
          t.tensors[i].rows * t.tensors[i].cols);
    p.groups.push_back(std::move(group));
  }
  return p;
}

}  // namespace

Allocation allocate(const CostTable& t, const BudgetSpec& b) {
  std::vector<std::vector<int>> map, proxy_map;
  const Problem p = make_problem(t, b, false, map);
  const Solution s = solve(p);
  const Solution sp = solve(make_problem(t, b, true, proxy_map));
  Allocation a;
  a.objective = s.objective;
  a.lower_bound = s.lower_bound;
  a.multiplier = s.multiplier;
  double base = 0, adapter = 0;
  for (size_t i = 0; i < t.tensors.size(); ++i) {
    const int c = map[i][s.pick[i]];
    const int cp = proxy_map[i][sp.pick[i]];
    a.pick.push_back(c);
    a.rules.rules.push_back({t.tensors[i].name, t.candidates[c]});
    base += static_cast<double>(t.entries[i][c].storage);
    adapter += static_cast<double>(t.entries[i][c].adapter);
    a.proxy_disagreements += c != cp;
    a.proxy_choice_cost += t.entries[i][cp].cost;
  }
  a.bits_per_weight = base / p.weights;
  a.adapter_bits_per_weight = adapter / p.weights;
  a.budget_bits = static_cast<double>(s.storage) / p.weights;
  return a;
}

std::string describe(const CostTable& t, const Allocation& a) {
  std::string out;
  const double n = static_cast<double>(t.weights());
  for (size_t i = 0; i < t.tensors.size(); ++i) {
    const Entry& e = t.entries[i][a.pick[i]];
    const double count = static_cast<double>(t.tensors[i].rows * t.tensors[i].cols);
    out += fmt::format("  {:<40} {:<12} {:>7.4f} bits  cost {:.6g}\n", t.tensors[i].name,
                       quant::format(t.candidates[a.pick[i]]),
                       static_cast<double>(e.storage) / count, e.cost);
  }
  out += fmt::format(
      "bits per weight: {:.4f} (base) + {:.4f} (adapters) over {} weights\n"
      "objective (sum of squared residuals): {:.6g}\n"
      "Lagrangian lower bound: {:.6g} (gap {:.3g}, {:.3g}% of the objective)\n"
      "proxy ||W - q(W)||^2 would choose differently for {} of {} tensors (its allocation's "
      "objective: {:.6g})\n",
      a.bits_per_weight, a.adapter_bits_per_weight, static_cast<int64_t>(n), a.objective,
      a.lower_bound, a.objective - a.lower_bound,
      a.objective > 0 ? 100 * (a.objective - a.lower_bound) / a.objective : 0.0,
      a.proxy_disagreements, t.tensors.size(), a.proxy_choice_cost);
  return out;
}

}  // namespace loft::alloc

#pragma once
// A storage budget as a quantizer spec: "budget:B[:candidates=nf2,nf3,nf4][:blocks=64,128]
// [:dq=both|yes|no][:adapter]" means "for every tensor, the candidate quantizer that minimises
// the total error while the whole selection stores at most B bits per weight".
//
//   B           bits per weight, a positive number (of the quantised base; with :adapter, of
//               the base plus the adapters' r (m + n) 16-bit values)
//   candidates  registry rows to choose from (default nf2, nf3, nf4, nf8)
//   blocks      block sizes to combine them with (default 32, 64, 128)
//   dq          with and without bitsandbytes' double quantisation of the scales (both, the
//               default), only with it (yes) or only without (no)
//   adapter     count the adapters' storage against the budget (off: reported only)
// List items are separated by ',' or '+' ('+' is the form to use inside a sweep's [grid],
// where commas separate grid values). Options appear at most once, in any order.
#include <string>
#include <string_view>
#include <vector>

#include "quant/quantizer.hpp"

namespace loft::alloc {

struct BudgetSpec {
  double bits = 0;
  std::vector<std::string> candidates = {"nf2", "nf3", "nf4", "nf8"};
  std::vector<int> blocks = {32, 64, 128};
  std::string dq = "both";  // both | yes | no
  bool adapter = false;
};

// True when text (trimmed) starts with "budget:" or is "budget": the cue for parse_budget.
bool is_budget(std::string_view text);

// Throws loft::Error quoting the spec as written and saying what is valid.
BudgetSpec parse_budget(std::string_view text);
// Canonical text; parse_budget(format(b)) == b. Defaults are left out, lists use '+'.
std::string format(const BudgetSpec& budget);

// The candidate quantizer specs, in the order the allocation's tie rule uses: candidates in
// the order given, then blocks, then without :dq before with it.
std::vector<quant::Spec> candidate_specs(const BudgetSpec& budget);

}  // namespace loft::alloc

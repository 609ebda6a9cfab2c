#pragma once
// `quant = budget:B[...]` in the experiments: the allocation (lib/alloc) turned into the
// per-tensor quantizer rules the rest of a point uses, and what a point records of it.
#include <functional>
#include <string>
#include <vector>

#include "alloc/allocate.hpp"
#include "experiments/experiment.hpp"

namespace loft::exp {

struct BudgetSettings {
  std::string budget;  // the spec as written, "budget:3.0..."
  std::string method;  // the point's init method
  init::PerTensor<init::RankSpec> rank;
  init::Options options;
  std::string source_id;  // the source's identity, for the cost cache
  // Data-aware methods: each tensor's calibration statistics and their identity (alloc/costs.hpp).
  std::function<init::LayerStats(const std::string&)> stats;
  std::string stats_id;
  int threads = 0;
  std::function<void(double, const std::string&)> progress;
};

struct BudgetResult {
  alloc::CostTable table;
  alloc::Allocation allocation;
};

// The canonical `quant` of a point: {"quant": text} for a budget (its canonical spec), or the
// canonical rules plus {"bits": code bits} when one quantizer serves every tensor. Throws
// "quant: '<as written>': ...".
Params normalised_quant(const std::string& text);

// A source spec ("llama2c:PATH", "hf:DIR", ...) and, when its path exists, the size and
// modification time of that file, so a cache entry of a changed file is not reused.
std::string source_identity(const std::string& source);

// The cost table (through the on-disk cost cache when $LOFTLAB_COST_CACHE names a folder) and
// the allocation over it.
BudgetResult allocate_budget(const BudgetSettings& s, const std::vector<alloc::TensorInfo>& tensors,
                             const std::function<Matrix(const std::string&)>& load);

// Into the record: per tensor the chosen storage as the dataset `alloc_bits`, the totals as
// metrics (results/README.md). The rule list itself is not a point attribute: the store checks
// that a point's attributes are exactly the parameters its id hashes; `loftlab allocate` with
// the point's settings prints it (from the cost cache, instantly).
void record_allocation(Record& rec, const BudgetResult& r);

}  // namespace loft::exp

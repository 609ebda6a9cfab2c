#include "experiments/allocation.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "alloc/budget.hpp"
#include "common/error.hpp"
#include "experiments/cost_cache.hpp"

namespace loft::exp {

Params normalised_quant(const std::string& text) {
  Params p;
  try {
    if (alloc::is_budget(text)) {
      p["quant"] = alloc::format(alloc::parse_budget(text));
      return p;
    }
    const auto quant = init::parse_quant_rules(text);
    p["quant"] = init::format(quant);
    if (const auto* q = quant.single()) p["bits"] = int64_t{q->bits};
  } catch (const Error& e) {
    fail("quant: '{}': {}", text, e.what());
  }
  return p;
}

std::string source_identity(const std::string& source) {
  const auto colon = source.find(':');
  const std::filesystem::path path = colon == std::string::npos ? source : source.substr(colon + 1);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return source;
  const auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
  return fmt::format("{}@{}:{}", source, size, mtime);
}

BudgetResult allocate_budget(const BudgetSettings& s, const std::vector<alloc::TensorInfo>& tensors,
                             const std::function<Matrix(const std::string&)>& load) {
  const alloc::BudgetSpec budget = alloc::parse_budget(s.budget);
  alloc::CostSettings cs;
  cs.method = s.method;
  cs.rank = s.rank;
  cs.options = s.options;
  cs.threads = s.threads;
  cs.progress = s.progress;
  cs.source_id = s.source_id;
  cs.stats = s.stats;
  cs.stats_id = s.stats_id;
  auto cache = open_cost_cache_from_env();
  cs.cache = cache.get();
  BudgetResult r;
  r.table = alloc::compute_costs(tensors, load, alloc::candidate_specs(budget), cs);
  if (cache) cache->save();
  r.allocation = alloc::allocate(r.table, budget);
  return r;
}

void record_allocation(Record& rec, const BudgetResult& r) {
  const auto& a = r.allocation;
  for (size_t i = 0; i < r.table.tensors.size(); ++i) {
    const auto& t = r.table.tensors[i];
    const auto& e = r.table.entries[i][a.pick[i]];
    rec.layers[t.name]["alloc_bits"] = {static_cast<double>(e.storage) /
                                        static_cast<double>(t.rows * t.cols)};
    rec.layer_notes[t.name]["alloc_quant"] = quant::format(r.table.candidates[a.pick[i]]);
  }
  // The whole allocation as rules that `quant =` and `--quant` accept verbatim.
  rec.notes["alloc_rules"] = init::format(a.rules);
  // Exact storage of these very tensors; bits_per_weight is the registry's large-matrix limit,
  // which leaves out the per-buffer constants of :dq and the rounding up of its groups.
  rec.metrics["alloc_bits_per_weight"] = a.bits_per_weight;
  rec.metrics["alloc_objective"] = a.objective;
  rec.metrics["alloc_lower_bound"] = a.lower_bound;
  rec.metrics["alloc_gap"] = a.objective - a.lower_bound;
  rec.metrics["alloc_adapter_bits"] = a.adapter_bits_per_weight;
  rec.metrics["alloc_proxy_disagreements"] = a.proxy_disagreements;
}

}  // namespace loft::exp

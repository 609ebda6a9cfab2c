#include "alloc/costs.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <mutex>

#include "alloc/storage.hpp"
#include "common/error.hpp"
#include "init/rank.hpp"
#include "lowrank/svd.hpp"

namespace loft::alloc {

namespace {

// qlora: B = 0, so its residual is the proxy and it has no rank of its own.
bool zero_adapter(const init::Method& m) {
  return !m.uses_steps && m.needs == init::Needs::nothing;
}

Entry run_one(const CostSettings& s, const TensorInfo& t, const Matrix& w, const quant::Spec& q) {
  Entry e;
  const int64_t count = t.rows * t.cols;
  if (count % q.block != 0) return e;  // not applicable
  e.applicable = true;
  e.storage = storage_bits(q, count);
  const auto& method = init::find_method(s.method);
  const int rank = zero_adapter(method) ? 0 : init::resolve_rank(s.rank.at(t.name), w, q);
  e.rank = rank;
  e.adapter = adapter_bits(rank, t.rows, t.cols);
  const double proxy = init::frobenius_distance(w, quant::fake_quantize(q, w));
  e.proxy = proxy * proxy;
  if (zero_adapter(method)) {
    e.cost = e.proxy;
    return e;
  }
  init::Options options = s.options;
  const bool weighted = weighted_cost(method, options);
  if (weighted) {
    if (!s.stats)
      fail("method '{}' weights its residual by calibration statistics, and none were given",
           method.name);
    options.stats = s.stats(t.name);
  }
  const auto res = init::initialize(method.name, w, q, rank, options);
  const double r = weighted ? res.trace.residual_act.back() : res.trace.residual_fro.back();
  e.cost = r * r;
  return e;
}

}  // namespace

bool weighted_cost(const init::Method& method, const init::Options& options) {
  return method.needs != init::Needs::nothing ||
         (method.uses_steps && options.weight != init::Weight::none);
}

int64_t CostTable::weights() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.rows * t.cols;
  return n;
}

std::string cost_key(const CostSettings& s, const std::string& tensor, const quant::Spec& q) {
  const auto& method = init::find_method(s.method);
  std::string key = fmt::format("source={}|tensor={}|quant={}|method={}", s.source_id, tensor,
                                quant::format(q), method.name);
  if (!zero_adapter(method)) {  // the adapter's rank and everything that shapes it
    const auto* r = s.rank.find(tensor);
    key += fmt::format("|rank={}|steps={}|svd={}|seed={}|stop={}", r ? init::format(*r) : "?",
                       s.options.steps, lowrank::format(s.options.svd),
                       s.options.svd.name == "exact" ? 0 : s.options.seed,
                       s.options.stop_on_rise ? "rise" : "none");
  }
  if (weighted_cost(method, s.options))
    key += fmt::format("|weight={}|scale={}|damping={}|stats={}", init::name(s.options.weight),
                       init::name(s.options.scale), s.options.damping, s.stats_id);
  return key;
}

CostTable compute_costs(const std::vector<TensorInfo>& tensors,
                        const std::function<Matrix(const std::string&)>& load,
                        const std::vector<quant::Spec>& candidates, const CostSettings& settings) {
  CostTable table;
  table.tensors = tensors;
  table.candidates = candidates;
  table.entries.assign(tensors.size(), std::vector<Entry>(candidates.size()));
  if (!init::find_method(settings.method).quantizes)
    fail("method '{}' does not quantise: there is nothing to allocate", settings.method);
  std::vector<std::string> errors(tensors.size());
  std::mutex mu;
  size_t done = 0;
  const int n = static_cast<int>(tensors.size());
  const int threads =
      std::min(n, std::max(1, settings.threads > 0 ? settings.threads : omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
  for (int i = 0; i < n; ++i) {
    const auto& t = tensors[static_cast<size_t>(i)];
    auto& row = table.entries[static_cast<size_t>(i)];
    try {
      std::optional<Matrix> w;
      for (size_t c = 0; c < candidates.size(); ++c) {
        const std::string key = cost_key(settings, t.name, candidates[c]);
        if (settings.cache) {
          std::lock_guard lock(mu);
          if (auto hit = settings.cache->find(key)) {
            row[c] = *hit;
            continue;
          }
        }
        if (!w) {
          std::lock_guard lock(mu);
          w = load(t.name);
        }
        row[c] = run_one(settings, t, *w, candidates[c]);
        if (settings.cache) {
          std::lock_guard lock(mu);
          settings.cache->store(key, row[c]);
        }
      }
    } catch (const std::exception& e) {
      errors[static_cast<size_t>(i)] = fmt::format("tensor '{}': {}", t.name, e.what());
    }
    std::lock_guard lock(mu);
    ++done;
    if (settings.progress)
      settings.progress(static_cast<double>(done) / static_cast<double>(n), t.name);
  }
  for (const auto& e : errors)
    if (!e.empty()) throw Error(e);
  return table;
}

}  // namespace loft::alloc

#pragma once
// The cost table of an allocation: for every (tensor, candidate) the squared final residual
// ||W - Q - s B A||_F^2 after the init method (weighted by the calibration inputs for a data-aware
// method), the cheap proxy ||W - q(W)||_F^2 (QLoRA's error,
// no SVD), the exact storage of the quantised base and of the adapter.
//
// Tensors run in parallel, each on one thread with its candidates in order, so the table is the
// same for any thread count and at most `threads` tensors are in memory at once. A Cache, when
// given, is asked before each (tensor, candidate) is computed and told every new entry.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/matrix.hpp"
#include "init/init.hpp"
#include "init/patterns.hpp"
#include "quant/quantizer.hpp"

namespace loft::alloc {

struct TensorInfo {
  std::string name;
  int64_t rows = 0, cols = 0;
};

struct Entry {
  bool applicable = false;  // false: the candidate cannot store this tensor (block size)
  double cost = 0, proxy = 0;
  int64_t storage = 0, adapter = 0, rank = 0;
};

struct Cache {
  virtual ~Cache() = default;
  // key says everything the entry depends on except the tensor's data (see cost_key).
  virtual std::optional<Entry> find(const std::string& key) = 0;
  virtual void store(const std::string& key, const Entry& entry) = 0;
};

struct CostSettings {
  std::string method = "loftq";  // an init method that quantises
  init::PerTensor<init::RankSpec> rank;
  init::Options options;
  int threads = 0;  // 0: all
  std::function<void(double, const std::string&)> progress;
  Cache* cache = nullptr;
  std::string source_id;  // the source's identity, for cache keys
  // A data-aware method (qera; loftq or qpissa with weight = act or fisher) is run with each
  // tensor's calibration statistics, and its cost is the weighted residual
  // ||(W - Q - s B A) S||_F^2 (S S^T = H) that it minimises; the proxy stays QLoRA's plain error.
  std::function<init::LayerStats(const std::string& tensor)> stats;
  std::string stats_id;  // the statistics' identity (their calibration key), for cache keys
};

// True when `method` with these options uses calibration statistics (and its cost is weighted).
bool weighted_cost(const init::Method& method, const init::Options& options);

struct CostTable {
  std::vector<TensorInfo> tensors;
  std::vector<quant::Spec> candidates;
  std::vector<std::vector<Entry>> entries;  // [tensor][candidate]
  int64_t weights() const;
};

// The text a cache entry is keyed by: source, tensor, candidate and every method parameter
// that reaches the residual.
std::string cost_key(const CostSettings& s, const std::string& tensor, const quant::Spec& q);

CostTable compute_costs(const std::vector<TensorInfo>& tensors,
                        const std::function<Matrix(const std::string&)>& load,
                        const std::vector<quant::Spec>& candidates, const CostSettings& settings);

}  // namespace loft::alloc

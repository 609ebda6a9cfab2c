#pragma once
// The on-disk cache of allocation costs, so that sweeps at several budgets (and `loftlab
// allocate`) compute each (tensor, candidate, method parameters, source) cost once. One HDF5
// file, <dir>/alloc_costs.h5 (layout in results/README.md), read whole when opened and written
// whole by save(): built in memory, merged with what is on disk by then (another process may
// have added entries), and renamed into place atomically, so a reader never sees half a file
// and concurrent writers lose at most each other's new entries, never the file.
#include <filesystem>
#include <map>
#include <memory>

#include "alloc/costs.hpp"

namespace loft::exp {

class CostCache : public alloc::Cache {
 public:
  explicit CostCache(std::filesystem::path dir);
  std::optional<alloc::Entry> find(const std::string& key) override;
  void store(const std::string& key, const alloc::Entry& entry) override;
  void save();  // no-op when nothing new was stored
  size_t size() const { return entries_.size(); }

 private:
  std::filesystem::path path_;
  std::map<std::string, alloc::Entry> entries_;
  bool dirty_ = false;
};

// The cache of the folder $LOFTLAB_COST_CACHE, or null when it is unset or empty.
std::unique_ptr<CostCache> open_cost_cache_from_env();

}  // namespace loft::exp

#include "experiments/cost_cache.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "common/error.hpp"
#include "io/results/h5.hpp"

namespace loft::exp {

namespace {

namespace h5 = results::h5;

// Group names are a hash of the key (keys hold '/'); the key itself is the group's attribute,
// checked on reading, so a collision is a miss, never a wrong cost.
std::string group_name(const std::string& key) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

std::map<std::string, alloc::Entry> read_all(const std::filesystem::path& path) {
  std::map<std::string, alloc::Entry> out;
  if (!std::filesystem::exists(path)) return out;
  const std::string where = path.string();
  h5::Handle f = h5::open_file(path, h5::Seal::required);
  h5::Handle costs = h5::open_group(f, "costs", where);
  for (const auto& name : h5::children(costs, where + " /costs")) {
    h5::Handle g = h5::open_group(costs, name, where + " /costs");
    const std::string gw = fmt::format("{} /costs/{}", where, name);
    const auto key = h5::read_text_attr(g, "key", gw);
    const auto v = h5::read_doubles(g, "entry", gw);
    if (v.size() != 6 || group_name(key) != name) fail("{}: not a cost cache entry", gw);
    alloc::Entry e;
    e.applicable = v[0] != 0;
    e.cost = v[1];
    e.proxy = v[2];
    e.storage = static_cast<int64_t>(v[3]);
    e.adapter = static_cast<int64_t>(v[4]);
    e.rank = static_cast<int64_t>(v[5]);
    out[key] = e;
  }
  return out;
}

}  // namespace

CostCache::CostCache(std::filesystem::path dir) : path_(std::move(dir) / "alloc_costs.h5") {
  entries_ = read_all(path_);
}

std::optional<alloc::Entry> CostCache::find(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void CostCache::store(const std::string& key, const alloc::Entry& entry) {
  entries_[key] = entry;
  dirty_ = true;
}

void CostCache::save() {
  if (!dirty_) return;
  for (auto& [k, e] : read_all(path_)) entries_.emplace(k, e);  // keep others' new entries
  std::filesystem::create_directories(path_.parent_path());
  const std::string where = path_.string();
  h5::Handle f = h5::create_in_memory(path_);
  h5::Handle costs = h5::create_group(f, "costs", where);
  for (const auto& [key, e] : entries_) {
    const auto name = group_name(key);
    h5::Handle g = h5::create_group(costs, name, where + " /costs");
    const std::string gw = fmt::format("{} /costs/{}", where, name);
    h5::write_attr(g, "key", key, gw);
    const std::vector<double> v{e.applicable ? 1.0 : 0.0,
                                e.cost,
                                e.proxy,
                                static_cast<double>(e.storage),
                                static_cast<double>(e.adapter),
                                static_cast<double>(e.rank)};
    h5::write_array(g, "entry", v, gw);
  }
  h5::save_image(h5::file_image(f, where), path_);
  dirty_ = false;
}

std::unique_ptr<CostCache> open_cost_cache_from_env() {
  const char* dir = std::getenv("LOFTLAB_COST_CACHE");
  if (!dir || !*dir) return nullptr;
  return std::make_unique<CostCache>(dir);
}

}  // namespace loft::exp

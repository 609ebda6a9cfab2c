#include "sweep/grid.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"

namespace loft::sweep {

// Everything point(i) needs to rebuild a combination's parameters.
struct Expansion::Grid {
  std::string path;
  std::string experiment;
  RawPoint base;
  std::vector<std::string> keys;  // the grid axes, in file order
  std::vector<std::vector<std::string>> axes;
  Normalise normalise;

  // The odometer at `combination`: axis 0 turns fastest.
  RawPoint raw(uint64_t combination) const {
    RawPoint r = base;
    for (size_t a = 0; a < axes.size(); ++a) {
      r[keys[a]] = axes[a][combination % axes[a].size()];
      combination /= axes[a].size();
    }
    return r;
  }

  std::string describe_raw(const RawPoint& raw) const {
    std::string out;
    for (const auto& k : keys) out += fmt::format("{}{}={}", out.empty() ? "" : " ", k, raw.at(k));
    return out;
  }

  Params params(uint64_t combination) const {
    const RawPoint r = raw(combination);
    Params p;
    try {
      p = normalise(r);
    } catch (const Error& e) {
      fail("{}: {}{}", path, e.what(),
           axes.empty() ? "" : fmt::format(" (in grid point {})", describe_raw(r)));
    }
    p["experiment"] = experiment;
    return p;
  }
};

std::string Expansion::id(size_t i) const {
  return fmt::format("{:012x}", entries_.at(i).id);
}

Point Expansion::point(size_t i) const {
  return {id(i), grid_->params(entries_.at(i).combination)};
}

Expansion expand(const Config& config, const std::vector<KeyDefault>& keys,
                 const Normalise& normalise) {
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(k.name);
  check_keys(config, names);

  auto grid = std::make_shared<Expansion::Grid>();
  grid->path = config.path;
  grid->experiment = config.experiment;
  grid->normalise = normalise;
  for (const auto& k : keys)
    if (!k.default_value.empty()) grid->base[k.name] = k.default_value;
  for (const auto& s : config.fixed) grid->base[s.key] = s.value;
  uint64_t total = 1;
  std::string sizes;
  for (const auto& s : config.grid) {
    grid->keys.push_back(s.key);
    grid->axes.push_back(split_values(s));
    grid->base[s.key] = grid->axes.back().front();
    const uint64_t n = grid->axes.back().size();
    sizes += fmt::format("{}{} {}", sizes.empty() ? "" : " x ", n, s.key);
    total = total > kMaxCombinations ? total : total * n;  // saturates: no overflow
  }
  for (const auto& k : keys)
    if (!grid->base.count(k.name))
      fail("{}: required key '{}' is missing (set it at the top level or in [grid])", config.path,
           k.name);
  if (total > kMaxCombinations)
    fail(
        "{}: the grid has more than {} combinations ({}), the most one sweep expands; split it "
        "into several sweeps (e.g. one per value of an axis, with --set grid.KEY=VALUE)",
        config.path, kMaxCombinations, sizes);

  Expansion out;
  out.combinations = total;
  out.entries_.reserve(total);
  for (uint64_t c = 0; c < total; ++c) out.entries_.push_back({point_hash(grid->params(c)), c});
  std::sort(out.entries_.begin(), out.entries_.end(), [](const auto& a, const auto& b) {
    return a.id != b.id ? a.id < b.id : a.combination < b.combination;
  });
  // Collapse: combinations with one id must be one point (the same parameters); two different
  // points with one id would be a hash collision, which must not pass silently.
  auto& e = out.entries_;
  size_t kept = 0;
  for (size_t i = 0; i < e.size();) {
    size_t j = i + 1;
    if (j < e.size() && e[j].id == e[i].id) {
      const Params p = grid->params(e[i].combination);
      for (; j < e.size() && e[j].id == e[i].id; ++j)
        if (const Params q = grid->params(e[j].combination); q != p)
          fail("point id collision: {:012x} for '{}' and '{}' (report this)", e[i].id, describe(p),
               describe(q));
    }
    e[kept++] = e[i];
    i = j;
  }
  e.resize(kept);
  e.shrink_to_fit();
  out.grid_ = std::move(grid);
  return out;
}

}  // namespace loft::sweep

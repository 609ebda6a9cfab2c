#include "sweep/grid.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"

namespace loft::sweep {
namespace {

std::string describe_raw(const RawPoint& raw, const Config& config) {
  std::string out;
  for (const auto& s : config.grid)
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", s.key, raw.at(s.key));
  return out;
}

}  // namespace

Expansion expand(const Config& config, const std::vector<KeyDefault>& keys,
                 const Normalise& normalise) {
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(k.name);
  check_keys(config, names);

  RawPoint base;
  for (const auto& k : keys)
    if (!k.default_value.empty()) base[k.name] = k.default_value;
  for (const auto& s : config.fixed) base[s.key] = s.value;
  std::vector<std::vector<std::string>> axes;
  for (const auto& s : config.grid) {
    axes.push_back(split_values(s));
    base[s.key] = axes.back().front();
  }
  for (const auto& k : keys)
    if (!base.count(k.name))
      fail("{}: required key '{}' is missing (set it at the top level or in [grid])", config.path,
           k.name);

  Expansion out;
  std::map<std::string, Point> by_id;
  std::vector<size_t> at(axes.size(), 0);  // odometer over the axes
  while (true) {
    RawPoint raw = base;
    for (size_t a = 0; a < axes.size(); ++a) raw[config.grid[a].key] = axes[a][at[a]];
    Params p;
    try {
      p = normalise(raw);
    } catch (const Error& e) {
      fail("{}: {}{}", config.path, e.what(),
           axes.empty() ? "" : fmt::format(" (in grid point {})", describe_raw(raw, config)));
    }
    p["experiment"] = config.experiment;
    auto id = point_id(p);
    if (auto [it, fresh] = by_id.try_emplace(id, Point{id, p}); !fresh && it->second.params != p)
      fail("point id collision: {} for '{}' and '{}' (report this)", id, describe(p),
           describe(it->second.params));
    ++out.combinations;
    size_t a = 0;
    while (a < axes.size() && ++at[a] == axes[a].size()) at[a++] = 0;
    if (a == axes.size()) break;
  }
  for (auto& [id, point] : by_id) out.points.push_back(std::move(point));
  return out;
}

}  // namespace loft::sweep

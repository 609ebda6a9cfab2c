#pragma once
// Grid expansion: the cartesian product of the [grid] axes, each combination completed with the
// fixed settings and the experiment's defaults, normalised by the experiment (which parses the
// values and drops parameters that do not apply), then collapsed: points with the same normalised
// parameters are one point. The result is sorted by id, so a point's index (which --shard and MPI
// ranks split on) does not depend on the order of the grid in the file.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sweep/config.hpp"
#include "sweep/point.hpp"

namespace loft::sweep {

// What the sweep needs to know about an experiment's keys.
struct KeyDefault {
  std::string name;
  std::string default_value;  // empty = required
};

using RawPoint = std::map<std::string, std::string>;
using Normalise = std::function<Params(const RawPoint&)>;

// The largest grid a sweep expands, in combinations before collapsing (checked from the axis
// sizes before any work). Expanding normalises every combination once (tens of microseconds
// each) and keeps 16 bytes per distinct point, so this bound keeps a dry run to about a minute
// and 16 MB; a larger study is several sweeps (--set grid.KEY=... per run).
inline constexpr uint64_t kMaxCombinations = 1'000'000;

// The distinct points of a grid, sorted by id. Held compactly (the id and the first grid
// combination that gives it, 16 bytes a point), never as every point's parameters at once:
// point(i) normalises that combination again when asked.
class Expansion {
 public:
  size_t size() const { return entries_.size(); }
  std::string id(size_t i) const;
  Point point(size_t i) const;
  size_t combinations = 0;  // grid combinations before collapsing

 private:
  friend Expansion expand(const Config&, const std::vector<KeyDefault>&, const Normalise&);
  struct Grid;
  struct Entry {
    uint64_t id;           // the 48 bits of the point id
    uint64_t combination;  // odometer position of the first combination giving it
  };
  std::shared_ptr<const Grid> grid_;
  std::vector<Entry> entries_;
};

// Raises loft::Error naming the config for unknown keys, empty grid values, missing required keys,
// a grid of more than kMaxCombinations, and (prefixed with the config's path and the combination)
// for what normalise rejects. The parameter `experiment` is added to every point, so different
// experiments never share an id. normalise must be safe to call from several threads.
Expansion expand(const Config& config, const std::vector<KeyDefault>& keys,
                 const Normalise& normalise);

}  // namespace loft::sweep

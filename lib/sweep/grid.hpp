#pragma once
// Grid expansion: the cartesian product of the [grid] axes, each combination completed with the
// fixed settings and the experiment's defaults, normalised by the experiment (which parses the
// values and drops parameters that do not apply), then collapsed: points with the same normalised
// parameters are one point. The result is sorted by id, so a point's index (which --shard and MPI
// ranks split on) does not depend on the order of the grid in the file.
#include <functional>
#include <map>
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

struct Expansion {
  std::vector<Point> points;  // distinct, sorted by id
  size_t combinations = 0;    // grid combinations before collapsing
};

// Raises loft::Error naming the config for unknown keys, empty grid values, missing required keys,
// and (prefixed with the config's path and the combination) for what normalise rejects. The
// parameter `experiment` is added to every point, so different experiments never share an id.
Expansion expand(const Config& config, const std::vector<KeyDefault>& keys,
                 const Normalise& normalise);

}  // namespace loft::sweep

#pragma once
// An experiment runs one sweep point and returns a Record; the sweep layer stores it. Experiments
// know nothing of scheduling or files; the sweep knows nothing of quantisation. One table row per
// experiment kind (experiments/registry.cpp).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/results/record.hpp"

namespace loft::exp {

using results::Params;
using results::Record;
using results::Value;

// A key an experiment accepts: fixed settings (top level of a config) or grid axes.
struct Key {
  std::string name;
  std::string default_value;  // empty = required
  std::string help;
};

// The most alternating steps (loftq, qpissa) any experiment or command accepts: each is an SVD,
// so more is a run that never ends rather than a study.
inline constexpr int64_t kMaxInitSteps = 10'000;

struct Context {
  // Called with a fraction in [0, 1] and a short status text; may be empty.
  std::function<void(double, const std::string&)> progress;
  int threads = 0;  // 0 = all
  std::string cache_dir;  // where computed inputs (calibration statistics) persist; "" = none
};

struct Experiment {
  std::string name;
  std::string description;
  std::vector<Key> keys;
  // Parse and validate raw config values into typed params, dropping parameters that do not
  // apply to this point (steps for qlora, say), so identical points collapse. Throws loft::Error.
  std::function<Params(const std::map<std::string, std::string>&)> normalise;
  std::function<Record(const Params&, const Context&)> run;
};

const std::vector<Experiment>& experiments();
const Experiment& find_experiment(const std::string& name);  // throws listing valid names

}  // namespace loft::exp

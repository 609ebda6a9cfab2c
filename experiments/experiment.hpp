#pragma once
// An experiment runs one sweep point and returns a Record; the sweep layer stores it. Experiments
// know nothing of scheduling or files; the sweep knows nothing of quantisation. One table row per
// experiment kind (experiments/registry.cpp).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "experiments/keys.hpp"
#include "io/results/record.hpp"

namespace loft::exp {

using results::Params;
using results::Record;
using results::Value;

// The most alternating steps (loftq, qpissa) any experiment or command accepts: each is an SVD,
// so more is a run that never ends rather than a study.
inline constexpr int64_t kMaxInitSteps = 10'000;

struct Context {
  // Called with a fraction in [0, 1] and a short status text; may be empty.
  std::function<void(double, const std::string&)> progress;
  int threads = 0;        // 0 = all
  std::string cache_dir;  // where computed inputs (calibration statistics) persist; "" = none
};

struct Experiment {
  std::string name;
  std::string description;
  std::vector<Key> keys;  // fixed settings (top level of a config) or grid axes, typed
  // Parse and validate raw config values into typed params, dropping parameters that do not
  // apply to this point (steps for qlora, say), so identical points collapse. Throws loft::Error.
  std::function<Params(const std::map<std::string, std::string>&)> normalise;
  std::function<Record(const Params&, const Context&)> run;
  // Optional: points whose chain_key is equal (and not empty) may run together through
  // run_chain, one record per point in the order given, each what run would return for it
  // (seconds aside). The residual experiment shares one alternation among points that differ
  // only in steps.
  std::function<std::string(const Params&)> chain_key;
  std::function<std::vector<Record>(const std::vector<Params>&, const Context&)> run_chain;
  // The metrics `loftlab inspect` shows by default, in this order (the others on request).
  std::vector<std::string> headline;
};

// A normalised parameter of a known type (the normalise step guarantees it).
inline const std::string& text_param(const Params& p, const char* key) {
  return std::get<std::string>(p.at(key));
}
inline int64_t int_param(const Params& p, const char* key) {
  return std::get<int64_t>(p.at(key));
}

const std::vector<Experiment>& experiments();
const Experiment& find_experiment(const std::string& name);  // throws listing valid names

}  // namespace loft::exp

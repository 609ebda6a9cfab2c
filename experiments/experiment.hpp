#pragma once
// An experiment runs one sweep point and returns a Record; the sweep layer stores it. Experiments
// know nothing of scheduling or files; the sweep knows nothing of quantisation. One table row per
// experiment kind (experiments/registry.cpp).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace loft::exp {

// A parameter value as it appears in configs, point ids and HDF5 attributes.
using Value = std::variant<int64_t, double, std::string>;
using Params = std::map<std::string, Value>;

// What one point produced. Layout on disk: results/README.md.
struct Record {
  Params params;                                   // -> attrs of /points/<id>/
  std::map<std::string, double> metrics;           // -> /points/<id>/metrics/<name> (scalars)
  // tensor name -> dataset name -> values, e.g. layers["model.layers.0.mlp.up_proj.weight"]
  // ["residual_fro"] = {after quantisation, after step 1, ...}
  std::map<std::string, std::map<std::string, std::vector<double>>> layers;
  std::map<std::string, std::vector<double>> train;  // -> /points/<id>/train/<name>
  std::string status = "complete";
  double seconds = 0;
};

// A key an experiment accepts: fixed settings (top level of a config) or grid axes.
struct Key {
  std::string name;
  std::string default_value;  // empty = required
  std::string help;
};

struct Context {
  // Called with a fraction in [0, 1] and a short status text; may be empty.
  std::function<void(double, const std::string&)> progress;
  int threads = 0;  // 0 = all
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

#pragma once
// What one sweep point produced, independent of which experiment produced it: the unit the
// results store writes (one point file) and merges. Layout on disk: results/README.md.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace loft::results {

// A parameter value as it appears in configs, point ids and HDF5 attributes.
using Value = std::variant<int64_t, double, std::string>;
using Params = std::map<std::string, Value>;

// What one point produced. Layout on disk: results/README.md.
struct Record {
  Params params;                          // -> attrs of /points/<id>/
  std::map<std::string, double> metrics;  // -> /points/<id>/metrics/<name> (scalars)
  // tensor name -> dataset name -> values, e.g. layers["model.layers.0.mlp.up_proj.weight"]
  // ["residual_fro"] = {after quantisation, after step 1, ...}
  std::map<std::string, std::map<std::string, std::vector<double>>> layers;
  std::map<std::string, std::vector<double>> train;  // -> /points/<id>/train/<name>
  // Text a point records that is not part of its identity (its parameters are): the rules a
  // storage budget chose, say. -> text attrs of /points/<id>/notes
  std::map<std::string, std::string> notes;
  // tensor name -> name -> text, e.g. the quantizer a budget chose for that tensor
  // -> text attrs of /points/<id>/layers/<tensor>
  std::map<std::string, std::map<std::string, std::string>> layer_notes;
  std::string status = "complete";
  std::string error;  // status "failed": what went wrong (the exception's message)
  double seconds = 0;
};

}  // namespace loft::results

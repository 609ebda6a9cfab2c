#pragma once
// Shared helpers for the results-store tests: a scratch folder and sample records.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>

#include "io/results/record.hpp"

namespace loft::test {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("loftlab-results-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// A residual-experiment-like record: `steps` alternating steps over two tensors with dotted
// Hugging Face names; values derived from `salt` so different points differ.
inline results::Record sample_record(const std::string& method, int64_t steps, double salt = 0) {
  results::Record r;
  r.params["experiment"] = std::string("residual");
  r.params["method"] = method;
  r.params["quant"] = std::string("nf4");
  r.params["rank"] = int64_t{8};
  r.params["seed"] = int64_t{0};
  if (method != "qlora") r.params["steps"] = steps;
  for (const char* t :
       {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"}) {
    auto& sets = r.layers[t];
    for (int64_t s = 0; s <= steps; ++s) {
      sets["residual_fro"].push_back(1.0 / (1.0 + s) + salt);
      sets["residual_rel"].push_back(0.1 / (1.0 + s) + salt);
    }
  }
  r.metrics["mean_residual_rel"] = 0.05 + salt;
  r.metrics["bits_per_weight"] = 4.5;
  if (method != "qlora") r.metrics["err_reduction_fro"] = 0.25 + salt;
  r.train["loss"] = {3.0, 2.5, 2.25 + salt};
  r.seconds = 1.5 + salt;
  return r;
}

}  // namespace loft::test

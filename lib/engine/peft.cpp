#include "engine/peft.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace loft::engine {
namespace {

// The value most modules have; the smaller one on a tie.
template <typename T>
T most_common(const std::vector<T>& values) {
  std::map<T, int> count;
  for (const T& v : values) ++count[v];
  T best = values.front();
  int n = 0;
  for (const auto& [v, c] : count)
    if (c > n) best = v, n = c;
  return best;
}

}  // namespace

std::string lora_a_key(const std::string& module) {
  return "base_model.model." + module + ".lora_A.weight";
}
std::string lora_b_key(const std::string& module) {
  return "base_model.model." + module + ".lora_B.weight";
}

std::string adapter_config(const std::vector<AdapterModule>& modules,
                           const std::string& base_model) {
  if (modules.empty()) fail("an adapter needs at least one module");
  std::vector<int> ranks;
  std::vector<double> alphas;
  for (const auto& m : modules) ranks.push_back(m.rank), alphas.push_back(m.alpha);
  const int r = most_common(ranks);
  const double alpha = most_common(alphas);
  nlohmann::ordered_json rank_pattern = nlohmann::ordered_json::object();
  nlohmann::ordered_json alpha_pattern = nlohmann::ordered_json::object();
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  for (const auto& m : modules) {
    targets.push_back(m.module);
    if (m.rank != r) rank_pattern[m.module] = m.rank;
    if (m.alpha != alpha) alpha_pattern[m.module] = m.alpha;
  }
  nlohmann::ordered_json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  j["base_model_name_or_path"] = base_model;
  j["r"] = r;
  j["lora_alpha"] = alpha;
  j["target_modules"] = targets;
  j["rank_pattern"] = rank_pattern;
  j["alpha_pattern"] = alpha_pattern;
  j["lora_dropout"] = 0.0;
  j["bias"] = "none";
  j["use_rslora"] = false;
  j["use_dora"] = false;
  // The factors are the initialisation itself: PEFT must load them, not draw its own.
  j["init_lora_weights"] = true;
  j["fan_in_fan_out"] = false;
  j["modules_to_save"] = nullptr;
  j["inference_mode"] = false;
  j["revision"] = nullptr;
  return j.dump(2) + "\n";
}

}  // namespace loft::engine

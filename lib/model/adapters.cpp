// Attaching quantised bases and LoRA adapters to a model's linear layers via the init methods.
#include "model/adapters.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/files.hpp"

#include "common/error.hpp"
#include "common/glob.hpp"
#include "common/rng.hpp"
#include "common/text.hpp"
#include "init/init.hpp"
#include "init/patterns.hpp"
#include "io/safetensors.hpp"
#include "io/select.hpp"
#include "model/calibrate.hpp"

namespace loft::model {

std::vector<Linear<float>*> select_linears(Llama<float>& m, const std::string& targets) {
  auto all = m.linears();
  std::vector<bool> chosen(all.size(), false);
  // Named, not a temporary: the globs are views into it for the whole loop.
  const std::string list = targets.empty() ? "*" : targets;
  for (const std::string_view g : split_list(list)) {
    bool any = false;
    for (size_t i = 0; i < all.size(); ++i)
      if (glob_match(g, all[i]->weight.name)) chosen[i] = any = true;
    if (!any)
      fail("targets glob '{}' matches no linear layer (names look like '{}', '{}')", g,
           all.front()->weight.name, all.back()->weight.name);
  }
  std::vector<Linear<float>*> out;
  for (size_t i = 0; i < all.size(); ++i)
    if (chosen[i]) out.push_back(all[i]);
  return out;
}

AdapterSummary attach_adapters(Llama<float>& m, const AdapterSpec& spec,
                               const std::function<void(int, int)>& progress) {
  const auto& method = init::find_method(spec.method);
  const auto quant = init::parse_quant_rules(spec.quant);
  const auto ranks = init::parse_rank_rules(spec.rank);
  init::Options opt;
  opt.steps = spec.steps;
  opt.lora_alpha = spec.lora_alpha;
  opt.nuclear = init::Nuclear::none;  // fine-tuning reads no nuclear norm: do not pay for one
  opt.weight = spec.weight;
  opt.scale = spec.scale;
  opt.damping = spec.damping;
  auto targets = select_linears(m, spec.targets);
  if (spec.layer >= 0) {
    std::vector<Linear<float>*> in_layer;
    for (auto* l : m.layers.at(static_cast<size_t>(spec.layer)).linears())
      if (std::find(targets.begin(), targets.end(), l) != targets.end()) in_layer.push_back(l);
    targets = std::move(in_layer);
  }
  AdapterSummary sum;
  double bits = 0, weights = 0, act = 0, act_reduction = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    Linear<float>& l = *targets[i];
    const std::string& name = l.weight.name;
    const init::MaybeSpec q = method.quantizes ? init::MaybeSpec(quant.at(name)) : std::nullopt;
    const int r = init::resolve_rank(ranks.at(name), l.weight.value, q);
    opt.seed = derive_seed(spec.seed, name);  // each layer its own draw, whatever the order
    if (spec.stats) opt.stats = spec.stats->layer(name);
    init::Result res = init::initialize(spec.method, l.weight.value, q, r, opt);
    l.weight.value = std::move(res.Q);
    l.A.name = name + ".lora_A";
    l.B.name = name + ".lora_B";
    l.A.value = std::move(res.A);
    l.B.value = std::move(res.B);
    l.scale = static_cast<float>(res.scale);
    const double n = static_cast<double>(l.weight.value.size());
    bits += res.bits_per_weight * n;
    weights += n;
    if (!res.trace.residual_rel.empty()) sum.residual_rel += res.trace.residual_rel.back();
    if (spec.stats && !res.trace.residual_act.empty()) {
      act += res.trace.residual_act.back();
      act_reduction += 1 - res.trace.residual_act_vs_qlora.back();
    }
    ++sum.tensors;
    if (progress) progress(static_cast<int>(i + 1), static_cast<int>(targets.size()));
  }
  sum.bits_per_weight = weights > 0 ? bits / weights : 0;
  sum.residual_rel /= std::max(1, sum.tensors);
  if (spec.stats && sum.tensors > 0) {
    sum.residual_act = act / sum.tensors;
    sum.err_reduction_act = act_reduction / sum.tensors;
  }
  return sum;
}

AdapterSummary attach_adapters_on_quantized_inputs(Llama<float>& m, AdapterSpec spec,
                                                   const std::vector<int32_t>& tokens,
                                                   const CalibKey& key, CalibStats& stats,
                                                   const std::function<void(int, int)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  stats = CalibStats{};
  stats.key = key;
  spec.stats = &stats;
  AdapterSummary sum;
  double bits = 0, rel = 0, act = 0, reduction = 0;
  const int n = static_cast<int>(m.layers.size());
  for (int l = 0; l < n; ++l) {
    CalibKey k = key;
    k.fisher = key.fisher && l == 0;  // the Fisher of every weight comes with the first pass
    CalibOptions o;
    o.only_layer = l;
    CalibStats s = calibrate_model(m, tokens, k, o);
    stats.tokens_used = s.tokens_used;
    stats.h.merge(s.h);
    stats.fisher.merge(s.fisher);
    spec.layer = l;
    const AdapterSummary b = attach_adapters(m, spec);
    if (b.tensors > 0) {
      // Summaries are means over tensors (bits over weights: a model's blocks are equal in size).
      bits += b.bits_per_weight * b.tensors;
      rel += b.residual_rel * b.tensors;
      act += b.residual_act * b.tensors;
      reduction += b.err_reduction_act * b.tensors;
      sum.tensors += b.tensors;
    }
    if (progress) progress(l + 1, n);
  }
  if (sum.tensors > 0) {
    sum.bits_per_weight = bits / sum.tensors;
    sum.residual_rel = rel / sum.tensors;
    sum.residual_act = act / sum.tensors;
    sum.err_reduction_act = reduction / sum.tensors;
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sum;
}

namespace {

// PEFT's get_pattern_key: the first key k with re.match(rf"(.*\.)?({k})$", module), else none.
const nlohmann::json* pattern_value(const nlohmann::json& patterns, const std::string& module) {
  if (!patterns.is_object()) return nullptr;
  for (const auto& [key, value] : patterns.items())
    if (std::regex_match(module, std::regex("(.*\\.)?(" + key + ")"))) return &value;
  return nullptr;
}

}  // namespace

AdapterSummary load_peft_adapter(Llama<float>& m, const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path dir(folder);
  const fs::path cfg_path = dir / "adapter_config.json";
  if (!fs::exists(cfg_path))
    fail(
        "adapter '{}': no adapter_config.json (a PEFT LoRA adapter folder holds "
        "adapter_config.json and adapter_model.safetensors)",
        folder);
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(read_regular_file(cfg_path, "adapter config", 1 << 26));
    if (cfg.value("peft_type", "LORA") != "LORA")
      fail("peft_type is {}, not LORA", cfg["peft_type"].dump());
    if (cfg.value("use_dora", false) || cfg.value("use_rslora", false))
      fail("use_dora / use_rslora adapters compute another forward; only plain LoRA is supported");
    if (!cfg.at("r").is_number_integer() || !cfg.at("lora_alpha").is_number())
      fail("r must be an integer and lora_alpha a number");
  } catch (const nlohmann::json::exception& e) {
    fail("adapter '{}': {}: {}", folder, cfg_path.string(), e.what());
  } catch (const Error& e) {
    fail("adapter '{}': {}: {}", folder, cfg_path.string(), e.what());
  }
  const io::SafetensorsFile file(dir / "adapter_model.safetensors");
  std::map<std::string, Linear<float>*> by_module;
  for (auto* l : m.linears()) {
    const std::string& n = l->weight.name;
    by_module[n.substr(0, n.size() - std::string_view(".weight").size())] = l;
  }
  const std::string prefix = "base_model.model.", a_suffix = ".lora_A.weight",
                    b_suffix = ".lora_B.weight";
  AdapterSummary sum;
  for (const auto& t : file.tensors()) {
    if (t.name.ends_with(b_suffix)) continue;  // read with its A
    if (!t.name.starts_with(prefix) || !t.name.ends_with(a_suffix))
      fail("adapter '{}': key '{}' is not base_model.model.<module>.lora_A/B.weight", folder,
           t.name);
    const std::string module =
        t.name.substr(prefix.size(), t.name.size() - prefix.size() - a_suffix.size());
    const auto it = by_module.find(module);
    if (it == by_module.end())
      fail("adapter '{}': module '{}' is not a linear layer of the model (they look like '{}')",
           folder, module, by_module.begin()->first);
    Linear<float>& l = *it->second;
    Matrix a = file.load(t.name), b = file.load(prefix + module + b_suffix);
    const auto* rp = pattern_value(cfg.value("rank_pattern", nlohmann::json()), module);
    const auto* ap = pattern_value(cfg.value("alpha_pattern", nlohmann::json()), module);
    const int r = rp ? rp->get<int>() : cfg["r"].get<int>();
    const double alpha = ap ? ap->get<double>() : cfg["lora_alpha"].get<double>();
    if (a.rows() != r || a.cols() != l.weight.value.cols() || b.rows() != l.weight.value.rows() ||
        b.cols() != r)
      fail("adapter '{}': module '{}' has A {}x{} and B {}x{}, but its weight is {}x{} and r = {}",
           folder, module, a.rows(), a.cols(), b.rows(), b.cols(), l.weight.value.rows(),
           l.weight.value.cols(), r);
    l.A.name = l.weight.name + ".lora_A";
    l.B.name = l.weight.name + ".lora_B";
    l.A.value = std::move(a);
    l.B.value = std::move(b);
    l.scale = static_cast<float>(alpha / r);
    ++sum.tensors;
  }
  if (sum.tensors == 0)
    fail("adapter '{}': adapter_model.safetensors holds no LoRA factors", folder);
  sum.bits_per_weight = NAN;
  sum.residual_rel = NAN;
  return sum;
}

}  // namespace loft::model

// Attaching quantised bases and LoRA adapters to a model's linear layers via the init methods.
#include "model/adapters.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "init/init.hpp"
#include "init/patterns.hpp"
#include "io/select.hpp"

namespace loft::model {

std::vector<Linear<float>*> select_linears(Llama<float>& m, const std::string& targets) {
  auto all = m.linears();
  std::vector<bool> chosen(all.size(), false);
  size_t start = 0;
  const std::string globs = targets.empty() ? "*" : targets;
  while (start <= globs.size()) {
    size_t end = std::min(globs.find(',', start), globs.size());
    std::string g = globs.substr(start, end - start);
    g.erase(0, g.find_first_not_of(' '));
    g.erase(g.find_last_not_of(' ') + 1);
    start = end + 1;
    if (g.empty()) continue;
    bool any = false;
    for (size_t i = 0; i < all.size(); ++i)
      if (io::glob_match(g, all[i]->weight.name)) chosen[i] = any = true;
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
  auto targets = select_linears(m, spec.targets);
  AdapterSummary sum;
  double bits = 0, weights = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    Linear<float>& l = *targets[i];
    const std::string& name = l.weight.name;
    const quant::Spec q = method.quantizes ? quant.at(name) : quant::Spec{};
    const int r = init::resolve_rank(ranks.at(name), l.weight.value, q);
    opt.seed = derive_seed(spec.seed, name);  // each layer its own draw, whatever the order
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
    ++sum.tensors;
    if (progress) progress(static_cast<int>(i + 1), static_cast<int>(targets.size()));
  }
  sum.bits_per_weight = weights > 0 ? bits / weights : 0;
  sum.residual_rel /= std::max(1, sum.tensors);
  return sum;
}

}  // namespace loft::model

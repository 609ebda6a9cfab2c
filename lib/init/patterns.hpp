#pragma once
// Per-tensor choices: "GLOB=VALUE" rules, first match wins, so the LoftQ paper's mixed precision
// (first k layers at 4 bits, the rest at 2) is one line:
//
//     model.layers.{0..3}.*=nf4; *=nf2
//
// Syntax: rules separated by ';' (',' is accepted too, but inside a sweep's [grid] commas
// separate grid values, so write ';' there); whitespace around rules, globs and values is
// ignored; a rule without '=' is a default for every tensor ("nf4" alone is the one-rule list
// "*=nf4"). A tensor no rule matches is an error naming it and the globs.
// Globs are common/glob.hpp's, matching the whole tensor name; '{0..11}' matches layers 0 to 11.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/glob.hpp"
#include "common/text.hpp"
#include "init/rank.hpp"
#include "quant/quantizer.hpp"

namespace loft::init {

// The rules as text: (glob, value) pairs in order, the syntax checked (values are not parsed).
std::vector<std::pair<std::string, std::string>> split_rules(std::string_view text);

template <typename T>
struct PerTensor {
  struct Rule {
    std::string glob;
    T value;
  };
  std::vector<Rule> rules;

  const T* find(std::string_view tensor) const {
    for (const auto& r : rules)
      if (glob_match(r.glob, tensor)) return &r.value;
    return nullptr;
  }
  // The value of a bare one-rule list ("nf4", "*=nf4"): the same for every tensor. nullptr for
  // any other list, a single rule with another glob included: that one is a rule, not a value.
  const T* single() const {
    return rules.size() == 1 && rules.front().glob == "*" ? &rules.front().value : nullptr;
  }
  const T& at(std::string_view tensor) const {
    if (const T* v = find(tensor)) return *v;
    const std::string globs = join(rules, ", ", [](const Rule& r) { return r.glob; });
    fail("no rule matches tensor '{}' (globs: {}); add a default rule such as '*=...'", tensor,
         globs);
  }
};

// Parse every value too, so a bad quantizer or rank fails before any work starts.
PerTensor<quant::Spec> parse_quant_rules(std::string_view text);
PerTensor<RankSpec> parse_rank_rules(std::string_view text);
// Canonical text: rules joined by "; ", a '*' rule written as its bare value.
std::string format(const PerTensor<quant::Spec>& rules);
std::string format(const PerTensor<RankSpec>& rules);

}  // namespace loft::init

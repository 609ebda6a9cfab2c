#include "init/patterns.hpp"

#include "common/text.hpp"

namespace loft::init {

namespace {

template <typename T, typename Parse>
PerTensor<T> parse_rules(std::string_view text, Parse parse) {
  PerTensor<T> out;
  for (auto& [glob, value] : split_rules(text)) {
    try {
      out.rules.push_back({glob, parse(value)});
    } catch (const Error& e) {
      fail("rule '{}={}' in '{}': {}", glob, value, text, e.what());
    }
  }
  return out;
}

template <typename T, typename Format>
std::string format_rules(const PerTensor<T>& rules, Format fmt_value) {
  std::string out;
  for (const auto& r : rules.rules) {
    if (!out.empty()) out += "; ";
    if (r.glob != "*") out += r.glob + "=";
    out += fmt_value(r.value);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> split_rules(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> rules;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != ';' && text[i] != ',') continue;
    const std::string_view rule = trim(text.substr(start, i - start));
    start = i + 1;
    if (rule.empty())
      fail("empty rule in '{}' (valid: GLOB=VALUE or VALUE, separated by ';')", text);
    const size_t eq = rule.find('=');
    const std::string_view glob = eq == std::string_view::npos ? "*" : trim(rule.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? rule : trim(rule.substr(eq + 1));
    if (glob.empty() || value.empty())
      fail("rule '{}' in '{}' needs a glob and a value (GLOB=VALUE)", rule, text);
    rules.emplace_back(std::string(glob), std::string(value));
  }
  return rules;
}

PerTensor<quant::Spec> parse_quant_rules(std::string_view text) {
  return parse_rules<quant::Spec>(text, [](const std::string& v) { return quant::parse(v); });
}

PerTensor<RankSpec> parse_rank_rules(std::string_view text) {
  return parse_rules<RankSpec>(text, [](const std::string& v) { return parse_rank(v); });
}

std::string format(const PerTensor<quant::Spec>& rules) {
  return format_rules(rules, [](const quant::Spec& s) { return quant::format(s); });
}

std::string format(const PerTensor<RankSpec>& rules) {
  return format_rules(rules, [](const RankSpec& s) { return format(s); });
}

}  // namespace loft::init

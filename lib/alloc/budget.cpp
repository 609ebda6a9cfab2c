#include "alloc/budget.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "common/error.hpp"
#include "common/text.hpp"

namespace loft::alloc {

namespace {

constexpr std::string_view kSyntax =
    "budget:B[:candidates=nf2+nf3+nf4][:blocks=64+128][:dq=both|yes|no][:adapter]";

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  fail("bad budget spec '{}': {} (syntax: {})", text, why, kSyntax);
}

std::vector<std::string_view> items(std::string_view list) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size() && list[i] != ',' && list[i] != '+') continue;
    out.push_back(trim(list.substr(start, i - start)));
    start = i + 1;
  }
  return out;
}

double parse_bits(std::string_view text, std::string_view s) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || !(v > 0))
    bad(text, fmt::format("the bits per weight '{}' are not a positive number", s));
  if (v > 64) bad(text, fmt::format("the bits per weight '{}' exceed 64", s));
  return v;
}

std::vector<int> parse_blocks(std::string_view text, std::string_view list) {
  std::vector<int> out;
  for (auto item : items(list)) {
    int v = 0;
    const auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v <= 0)
      bad(text, fmt::format("block '{}' in 'blocks={}' is not a positive integer", item, list));
    for (int b : out)
      if (b == v) bad(text, fmt::format("block {} appears twice in 'blocks={}'", v, list));
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> parse_candidates(std::string_view text, std::string_view list) {
  std::vector<std::string> out;
  for (auto item : items(list)) {
    if (item.empty()) bad(text, fmt::format("empty candidate in 'candidates={}'", list));
    if (item.find(':') != std::string_view::npos)
      bad(text, fmt::format("candidate '{}' has options: name rows only, and set block sizes "
                            "with blocks= and double quantisation with dq=",
                            item));
    try {
      quant::parse(item);
    } catch (const Error& e) {
      bad(text, fmt::format("candidate '{}': {}", item, e.what()));
    }
    for (const auto& c : out)
      if (c == item) bad(text, fmt::format("candidate '{}' appears twice", item));
    out.emplace_back(item);
  }
  return out;
}

}  // namespace

bool is_budget(std::string_view text) {
  const auto t = trim(text);
  return t == "budget" || t.starts_with("budget:");
}

BudgetSpec parse_budget(std::string_view text) {
  const auto fields = split(trim(text), ':');
  if (fields.front() != "budget") bad(text, "it must start with 'budget:'");
  if (fields.size() < 2) bad(text, "the bits per weight are missing, as in budget:3.0");
  BudgetSpec b;
  b.bits = parse_bits(text, trim(fields[1]));
  std::vector<std::string_view> seen;
  for (size_t i = 2; i < fields.size(); ++i) {
    const auto f = trim(fields[i]);
    const auto eq = f.find('=');
    const auto key = trim(f.substr(0, eq));
    const auto value = eq == std::string_view::npos ? std::string_view() : trim(f.substr(eq + 1));
    for (auto k : seen)
      if (k == key) bad(text, fmt::format("option '{}' appears twice", key));
    seen.push_back(key);
    if (key == "adapter") {
      if (eq != std::string_view::npos) bad(text, "':adapter' takes no value");
      b.adapter = true;
      continue;
    }
    if (eq == std::string_view::npos || value.empty())
      bad(text, fmt::format("option '{}' needs a value ({}=...)", f, key));
    if (key == "candidates") {
      b.candidates = parse_candidates(text, value);
    } else if (key == "blocks") {
      b.blocks = parse_blocks(text, value);
    } else if (key == "dq") {
      if (value != "both" && value != "yes" && value != "no")
        bad(text, fmt::format("dq '{}' is not one of both, yes, no", value));
      b.dq = std::string(value);
    } else {
      bad(text, fmt::format("unknown option '{}' (valid: candidates, blocks, dq, adapter)", f));
    }
  }
  // Every combination must be a valid spec: a row with a fixed block cannot take blocks=64.
  candidate_specs(b);
  return b;
}

std::string format(const BudgetSpec& b) {
  const BudgetSpec defaults;
  std::string out = fmt::format("budget:{}", b.bits);
  if (b.candidates != defaults.candidates) out += ":candidates=" + join(b.candidates, "+");
  if (b.blocks != defaults.blocks)
    out += ":blocks=" + join(b.blocks, "+", [](int v) { return std::to_string(v); });
  if (b.dq != defaults.dq) out += ":dq=" + b.dq;
  if (b.adapter) out += ":adapter";
  return out;
}

std::vector<quant::Spec> candidate_specs(const BudgetSpec& b) {
  std::vector<quant::Spec> out;
  for (const auto& name : b.candidates)
    for (int block : b.blocks)
      for (bool dq : {false, true}) {
        if ((dq && b.dq == "no") || (!dq && b.dq == "yes")) continue;
        const auto spec = fmt::format("{}:b{}{}", name, block, dq ? ":dq" : "");
        try {
          out.push_back(quant::parse(spec));
        } catch (const Error& e) {
          fail("budget candidate '{}' (from '{}'): {}", spec, format(b), e.what());
        }
      }
  return out;
}

}  // namespace loft::alloc

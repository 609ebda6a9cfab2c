#include "io/select.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/error.hpp"
#include "common/glob.hpp"
#include "common/text.hpp"

namespace loft::io {
namespace {

bool mentions_embedding_or_norm_part(std::string_view part) {
  return part.find("embed") != std::string_view::npos ||
         part.find("norm") != std::string_view::npos || part == "wte" || part == "wpe" ||
         part == "ln" || part.starts_with("ln_");
}

bool mentions_embedding_or_norm(std::string_view name) {
  size_t start = 0;
  for (;;) {
    const size_t dot = name.find('.', start);
    if (mentions_embedding_or_norm_part(name.substr(start, dot - start))) return true;
    if (dot == std::string_view::npos) return false;
    start = dot + 1;
  }
}

// The glob with wildcards, [...] sets and {a..b} ranges removed, parts split where one stood.
bool glob_names_embedding_or_norm(std::string_view glob) {
  std::string literal;
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '*' || glob[i] == '?') {
      literal += '.';
    } else if (glob[i] == '[') {
      const size_t close = glob.find(']', i + 2);
      if (close == std::string_view::npos) {
        literal += glob[i];
        continue;
      }
      literal += '.';
      i = close;
    } else if (const size_t close = glob.find('}', i);
               glob[i] == '{' && close != std::string_view::npos &&
               has_wildcard(glob.substr(i, close + 1 - i))) {
      literal += '.';
      i = close;
    } else {
      literal += glob[i];
    }
  }
  return mentions_embedding_or_norm(literal) || literal.find("ln_") != std::string::npos;
}

// The keyword glob and the output head it leaves out (PEFT's target_modules = "all-linear").
constexpr std::string_view kAllLinear = "all-linear";

bool is_output_head(std::string_view name) {
  return name == "lm_head.weight" || name.ends_with(".lm_head.weight") || name == "output.weight";
}

}  // namespace

bool is_linear_weight(const TensorInfo& t) {
  return t.shape.size() == 2 && !mentions_embedding_or_norm(t.name);
}

std::vector<TensorInfo> select_tensors(const std::vector<TensorInfo>& tensors,
                                       std::string_view globs) {
  std::vector<std::string_view> list = split_list(globs);
  if (list.empty()) list.push_back("*");

  std::set<std::string> chosen;
  for (const auto& g : list) {
    if (g == kAllLinear) {
      size_t hits = 0;
      for (const auto& t : tensors)
        if (is_linear_weight(t) && !is_output_head(t.name)) {
          chosen.insert(t.name);
          ++hits;
        }
      if (hits == 0)
        fail("'{}' selects no tensor: the source has no linear weight besides an output head",
             kAllLinear);
      continue;
    }
    const bool names_others = glob_names_embedding_or_norm(g) || !has_wildcard(g);
    size_t hits = 0, skipped = 0;
    std::string skipped_example;
    for (const auto& t : tensors) {
      if (!glob_match(g, t.name)) continue;
      if (is_linear_weight(t) || names_others) {
        chosen.insert(t.name);
        ++hits;
      } else if (skipped++ == 0) {
        skipped_example = t.name;
      }
    }
    if (hits) continue;
    std::string some;
    size_t shown = 0;
    for (const auto& t : tensors) {
      if (shown++ == 8) break;
      some += fmt::format("\n  {} [{}]", t.name, fmt::join(t.shape, "x"));
    }
    if (tensors.size() > 8) some += fmt::format("\n  ... ({} tensors in all)", tensors.size());
    if (skipped)
      fail(
          "layer glob '{}' matches only {} embedding/norm or non-2-D tensor(s) such as '{}', "
          "which a glob selects only when it names them (e.g. '*embed*', '*norm*' or the exact "
          "name); tensors:{}",
          g, skipped, skipped_example, some);
    fail("layer glob '{}' matches no tensor; tensors:{}", g, some);
  }
  std::vector<TensorInfo> out;
  for (const auto& t : tensors)
    if (chosen.count(t.name)) out.push_back(t);
  return out;
}

std::vector<TensorInfo> select_tensors(const TensorSource& source, std::string_view globs) {
  try {
    return select_tensors(source.list(), globs);
  } catch (const Error& e) {
    fail("{}: {}", source.describe(), e.what());
  }
}

}  // namespace loft::io

#pragma once
// Small string helpers that parsers share: split on a separator, trim, split a comma list into
// trimmed items, join. Views point into the caller's string, which must outlive them.
#include <string>
#include <string_view>
#include <vector>

namespace loft {

// Every field between separators, empty ones included: "a::b" -> {"a", "", "b"}, "" -> {""}.
std::vector<std::string_view> split(std::string_view s, char sep);

// s without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view trim(std::string_view s);
// The same as a string of its own, for when s is a temporary the view would outlive.
std::string trimmed(std::string_view s);

// The trimmed, non-empty items of a list: " a, b ,,c " -> {"a", "b", "c"}, "" -> {}.
std::vector<std::string_view> split_list(std::string_view s, char sep = ',');

// proj(items[0]) + sep + proj(items[1]) + ...; "" for no items. proj returns anything a
// std::string_view can be made from: join(rows, ", ", [](const Row& r) { return r.name; }).
template <typename Range, typename Proj>
std::string join(const Range& items, std::string_view sep, Proj proj) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    out += std::string_view(proj(item));
    first = false;
  }
  return out;
}

// The same over items that are text themselves (std::string, std::string_view, const char*).
template <typename Range>
std::string join(const Range& items, std::string_view sep) {
  return join(
      items, sep, [](const auto& item) -> const auto& { return item; });
}

}  // namespace loft

// Filtering, sorting and printing the /summary table (loftlab inspect).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.hpp"
#include "common/text.hpp"
#include "io/results/summary.hpp"

namespace loft::results {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool same_as_displayed(double a, double b, const std::string& want) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b || fmt::format("{:.6g}", a) == fmt::format("{:.6g}", b) ||
         format_value(a, kViewDigits) == want;
}

bool matches(const Column& c, const Value& v, const std::string& want) {
  if (c.kind == Column::Kind::Text) return std::get<std::string>(v) == want;
  double w = kNaN;
  if (want != "-" && want != "nan") {
    size_t used = 0;
    try {
      w = std::stod(want, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != want.size() || want.empty())
      fail("--where {}={}: column '{}' holds numbers and '{}' is not a number (use - for NaN)",
           c.name, want, c.name, want);
  }
  return same_as_displayed(as_double(v), w, want);
}

Summary take_rows(const Summary& s, const std::vector<size_t>& rows) {
  Summary out;
  for (const auto& c : s.columns) {
    Column n{c.name, c.kind, {}};
    n.values.reserve(rows.size());
    for (size_t r : rows) n.values.push_back(c.values[r]);
    out.columns.push_back(std::move(n));
  }
  return out;
}

}  // namespace

std::string format_value(const Value& v, int digits) {
  if (const auto* i = std::get_if<int64_t>(&v)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&v))
    return std::isnan(*d) ? "-" : fmt::format("{:.{}g}", *d, digits);
  return std::get<std::string>(v);
}

Summary filter_rows(const Summary& s, const std::vector<std::string>& where) {
  std::vector<size_t> rows(s.rows());
  std::iota(rows.begin(), rows.end(), size_t{0});
  for (const auto& cond : where) {
    size_t eq = cond.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("--where '{}': expected key=value (or key=v1,v2 for any of several)", cond);
    const Column& c = s.column(cond.substr(0, eq));
    std::vector<std::string> wants;
    for (std::string_view w : split(std::string_view(cond).substr(eq + 1), ','))
      wants.emplace_back(w);
    std::vector<size_t> kept;
    for (size_t r : rows)
      if (std::any_of(wants.begin(), wants.end(),
                      [&](const std::string& w) { return matches(c, c.values[r], w); }))
        kept.push_back(r);
    rows = std::move(kept);
  }
  return take_rows(s, rows);
}

void sort_rows(Summary& s, const std::string& key, bool descending) {
  const Column& c = s.column(key);
  std::vector<size_t> rows(s.rows());
  std::iota(rows.begin(), rows.end(), size_t{0});
  auto less = [&](size_t a, size_t b) {
    const Value &va = c.values[a], &vb = c.values[b];
    if (c.kind == Column::Kind::Text) {
      const auto &sa = std::get<std::string>(va), &sb = std::get<std::string>(vb);
      return descending ? sb < sa : sa < sb;
    }
    double x = as_double(va), y = as_double(vb);
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);  // NaN last
    return descending ? y < x : x < y;
  };
  std::stable_sort(rows.begin(), rows.end(), less);
  s = take_rows(s, rows);
}

std::string format_table(const Summary& s, int digits) {
  std::vector<size_t> width;
  std::vector<std::vector<std::string>> cells(s.columns.size());
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Column& c = s.columns[i];
    size_t w = c.name.size();
    for (const auto& v : c.values) {
      cells[i].push_back(format_value(v, digits));
      w = std::max(w, cells[i].back().size());
    }
    width.push_back(w);
  }
  auto cell = [&](size_t i, const std::string& text) {
    return s.columns[i].kind == Column::Kind::Text ? fmt::format("{:<{}}", text, width[i])
                                                   : fmt::format("{:>{}}", text, width[i]);
  };
  std::string out;
  auto line = [&](auto&& text_of) {
    std::string l;
    for (size_t i = 0; i < s.columns.size(); ++i) l += (i ? "  " : "") + cell(i, text_of(i));
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line([&](size_t i) { return s.columns[i].name; });
  for (size_t r = 0; r < s.rows(); ++r) line([&](size_t i) { return cells[i][r]; });
  return out;
}

Summary select_columns(const Summary& s, const std::vector<std::string>& names) {
  Summary out;
  for (const auto& n : names) out.columns.push_back(s.column(n));
  return out;
}

namespace {

bool varies(const Column& c) {
  for (const auto& v : c.values)
    if (format_value(v) != format_value(c.values.front())) return true;
  return false;
}

}  // namespace

std::string wrap_items(std::string_view lead, const std::vector<std::string>& items, size_t width) {
  std::string out(lead);
  size_t column = lead.size();
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0 && column + 2 + items[i].size() > width) {
      out.push_back('\n');
      out.append(lead.size(), ' ');
      column = lead.size();
    } else if (i > 0) {
      out.append("  ");
      column += 2;
    }
    out.append(items[i]);
    column += items[i].size();
  }
  out.push_back('\n');
  return out;
}

std::string format_view(const Summary& s, const View& view) {
  auto listed = [](const std::vector<std::string>& names, const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  std::vector<std::string> shown{"id"}, constant, hidden;
  for (const auto& c : s.columns) {
    if (c.name == "id" || listed(view.headline, c.name)) continue;
    const bool key =
        view.keys.empty() || c.name == "status" || c.name == "error" || listed(view.keys, c.name);
    if (!key)
      hidden.push_back(c.name);
    else if (s.rows() == 0 || varies(c))
      shown.push_back(c.name);
    else
      constant.push_back(c.name + "=" + format_value(c.values.front()));
  }
  for (const auto& h : view.headline)
    if (s.find(h)) shown.push_back(h);
  std::string out;
  if (!constant.empty()) out += wrap_items("in every row: ", constant, view.width);
  out += format_table(select_columns(s, shown), kViewDigits);
  if (!hidden.empty())
    out += wrap_items("not shown (--all, or --columns a,b): ", hidden, view.width);
  return out;
}

}  // namespace loft::results

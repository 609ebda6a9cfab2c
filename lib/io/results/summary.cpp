// Building the /summary table from point records (the columns and their kinds).
#include "io/results/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <set>

#include "common/error.hpp"
#include "common/text.hpp"

namespace loft::results {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string list_names(const Summary& s) {
  return join(s.columns, ", ", [](const Column& c) { return c.name; });
}

// The column of one parameter over all points, typed by the rule in summary.hpp.
Column param_column(const std::string& name, const std::vector<StoredPoint>& points) {
  bool any_text = false, any_real = false, any_missing = false;
  for (const auto& p : points) {
    auto it = p.record.params.find(name);
    if (it == p.record.params.end()) {
      any_missing = true;
      continue;
    }
    any_text |= std::holds_alternative<std::string>(it->second);
    any_real |= std::holds_alternative<double>(it->second);
  }
  Column c{name,
           any_text                  ? Column::Kind::Text
           : any_real || any_missing ? Column::Kind::Real
                                     : Column::Kind::Int,
           {}};
  for (const auto& p : points) {
    auto it = p.record.params.find(name);
    if (c.kind == Column::Kind::Text) {
      if (it == p.record.params.end())
        c.values.emplace_back(std::string());
      else if (const auto* s = std::get_if<std::string>(&it->second))
        c.values.emplace_back(*s);
      else
        // Shortest text that reads back as the same number (format_value rounds for display).
        c.values.emplace_back(
            std::visit([](const auto& x) { return fmt::format("{}", x); }, it->second));
    } else if (c.kind == Column::Kind::Real) {
      c.values.emplace_back(it == p.record.params.end() ? kNaN : as_double(it->second));
    } else {
      c.values.push_back(it->second);
    }
  }
  return c;
}

}  // namespace

double as_double(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return kNaN;
}

const Column* Summary::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const Column& Summary::column(const std::string& name) const {
  if (const Column* c = find(name)) return *c;
  fail("unknown column '{}'; the summary has: {}", name, list_names(*this));
}

Summary build_summary(std::vector<StoredPoint> points) {
  std::sort(points.begin(), points.end(),
            [](const StoredPoint& a, const StoredPoint& b) { return a.id < b.id; });
  std::set<std::string> params, metrics;
  for (const auto& p : points) {
    for (const auto& [k, v] : p.record.params) params.insert(k);
    for (const auto& [k, v] : p.record.metrics) metrics.insert(k);
  }
  auto own = [](const std::string& k) { return k == "id" || k == "status" || k == "error"; };
  for (const auto& m : metrics)
    if (own(m) || params.count(m))
      fail(
          "metric '{}' has the name of a parameter or of a summary column (id, status, "
          "error); the summary needs distinct column names",
          m);
  Summary s;
  Column id{"id", Column::Kind::Text, {}}, status{"status", Column::Kind::Text, {}};
  Column error{"error", Column::Kind::Text, {}};
  bool any_error = false;
  for (const auto& p : points) {
    id.values.emplace_back(p.id);
    status.values.emplace_back(p.record.status);
    error.values.emplace_back(p.record.error);
    any_error |= !p.record.error.empty();
  }
  s.columns.push_back(std::move(id));
  s.columns.push_back(std::move(status));
  if (any_error) s.columns.push_back(std::move(error));
  for (const auto& k : params) {
    if (own(k)) fail("parameter '{}' has the name of a summary column (id, status, error)", k);
    s.columns.push_back(param_column(k, points));
  }
  for (const auto& m : metrics) {
    Column c{m, Column::Kind::Real, {}};
    for (const auto& p : points) {
      auto it = p.record.metrics.find(m);
      c.values.emplace_back(it == p.record.metrics.end() ? kNaN : it->second);
    }
    s.columns.push_back(std::move(c));
  }
  return s;
}

}  // namespace loft::results

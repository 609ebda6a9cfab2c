#include "io/results/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>

#include "common/error.hpp"
#include "common/text.hpp"
#include "io/results/h5.hpp"

namespace loft::results {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string list_names(const Summary& s) {
  return join(s.columns, ", ", [](const Column& c) { return c.name; });
}

double as_double(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return kNaN;
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

// One row of the compound buffer: each member at its offset.
struct Layout {
  std::vector<size_t> offsets;
  size_t size = 0;
};

Layout layout_of(const Summary& s) {
  Layout l;
  for (size_t i = 0; i < s.columns.size(); ++i) {
    l.offsets.push_back(l.size);
    l.size += 8;  // int64, float64 and char* are all 8 bytes
  }
  return l;
}

bool same_as_displayed(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b || fmt::format("{:.6g}", a) == fmt::format("{:.6g}", b);
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
  return same_as_displayed(as_double(v), w);
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

const Column* Summary::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const Column& Summary::column(const std::string& name) const {
  if (const Column* c = find(name)) return *c;
  fail("unknown column '{}'; the summary has: {}", name, list_names(*this));
}

std::string format_value(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&v))
    return std::isnan(*d) ? "-" : fmt::format("{:.6g}", *d);
  return std::get<std::string>(v);
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

void write_summary(hid_t file, const Summary& s, const std::string& where) {
  std::string what = where + ": cannot write /summary";
  Layout l = layout_of(s);
  h5::Handle str = h5::vlen_string_type();
  h5::Handle type(H5Tcreate(H5T_COMPOUND, std::max<size_t>(l.size, 1)), H5Tclose, what);
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Column& c = s.columns[i];
    hid_t member = c.kind == Column::Kind::Int    ? H5T_NATIVE_INT64
                   : c.kind == Column::Kind::Real ? H5T_NATIVE_DOUBLE
                                                  : str.get();
    h5::check(H5Tinsert(type, c.name.c_str(), l.offsets[i], member),
              fmt::format("{} (column '{}')", what, c.name));
  }
  size_t n = s.rows();
  std::vector<unsigned char> buf(n * l.size);
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Column& c = s.columns[i];
    for (size_t r = 0; r < n; ++r) {
      unsigned char* dst = buf.data() + r * l.size + l.offsets[i];
      const Value& v = c.values[r];
      if (c.kind == Column::Kind::Int) {
        int64_t x = std::get<int64_t>(v);
        std::memcpy(dst, &x, 8);
      } else if (c.kind == Column::Kind::Real) {
        double x = as_double(v);
        std::memcpy(dst, &x, 8);
      } else {
        const char* p = std::get<std::string>(v).c_str();  // the Summary outlives the write
        std::memcpy(dst, &p, 8);
      }
    }
  }
  hsize_t dims = n;
  h5::Handle space(H5Screate_simple(1, &dims, nullptr), H5Sclose, what);
  h5::Handle dcpl = h5::untimed_dcpl();
  h5::Handle d(H5Dcreate2(file, "summary", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose,
               what);
  if (n > 0) h5::check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), what);
}

Summary read_summary(const std::filesystem::path& results_h5) {
  std::string where = results_h5.string();
  h5::Handle f = h5::open_file(results_h5);
  if (!h5::has_link(f, "summary"))
    fail("{}: no /summary table (is it a point file? give results.h5 or the results folder)",
         where);
  std::string what = where + ": cannot read /summary";
  h5::Handle d = h5::open_dataset(f, "summary", where);
  h5::Handle ftype(H5Dget_type(d), H5Tclose, what);
  if (H5Tget_class(ftype) != H5T_COMPOUND) fail("{}: /summary is not a compound table", where);
  int members = H5Tget_nmembers(ftype);
  h5::Handle space(H5Dget_space(d), H5Sclose, what);
  size_t n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));

  Summary s;
  std::vector<size_t> offsets;
  std::vector<size_t> fixed_sizes;  // 0 unless a fixed-length string member
  size_t size = 0;
  std::vector<h5::Handle> member_types;
  h5::Handle str = h5::vlen_string_type();
  for (int i = 0; i < members; ++i) {
    char* raw = H5Tget_member_name(ftype, static_cast<unsigned>(i));
    std::string name = raw ? raw : "";
    H5free_memory(raw);
    h5::Handle mt(H5Tget_member_type(ftype, static_cast<unsigned>(i)), H5Tclose, what);
    Column c{name, Column::Kind::Real, {}};
    size_t bytes = 8, fixed = 0;
    h5::Handle mem;
    switch (H5Tget_class(mt)) {
      case H5T_INTEGER:
        c.kind = Column::Kind::Int;
        mem = h5::Handle(H5Tcopy(H5T_NATIVE_INT64), H5Tclose, what);
        break;
      case H5T_FLOAT:
        mem = h5::Handle(H5Tcopy(H5T_NATIVE_DOUBLE), H5Tclose, what);
        break;
      case H5T_STRING:
        c.kind = Column::Kind::Text;
        if (H5Tis_variable_str(mt) > 0) {
          mem = h5::vlen_string_type();
        } else {
          fixed = bytes = H5Tget_size(mt);
          mem = h5::Handle(H5Tcopy(mt), H5Tclose, what);
        }
        break;
      default:
        fail("{}: /summary column '{}' has an unsupported type", where, name);
    }
    offsets.push_back(size);
    fixed_sizes.push_back(fixed);
    size += bytes;
    member_types.push_back(std::move(mem));
    s.columns.push_back(std::move(c));
  }
  h5::Handle mtype(H5Tcreate(H5T_COMPOUND, std::max<size_t>(size, 1)), H5Tclose, what);
  for (int i = 0; i < members; ++i)
    h5::check(H5Tinsert(mtype, s.columns[i].name.c_str(), offsets[i], member_types[i]), what);
  std::vector<unsigned char> buf(std::max<size_t>(n * size, 1));
  if (n > 0) h5::check(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), what);
  for (int i = 0; i < members; ++i) {
    Column& c = s.columns[i];
    for (size_t r = 0; r < n; ++r) {
      const unsigned char* src = buf.data() + r * size + offsets[i];
      if (c.kind == Column::Kind::Int) {
        int64_t x;
        std::memcpy(&x, src, 8);
        c.values.emplace_back(x);
      } else if (c.kind == Column::Kind::Real) {
        double x;
        std::memcpy(&x, src, 8);
        c.values.emplace_back(x);
      } else if (fixed_sizes[i] > 0) {
        const char* p = reinterpret_cast<const char*>(src);
        c.values.emplace_back(std::string(p, strnlen(p, fixed_sizes[i])));
      } else {
        const char* p;
        std::memcpy(&p, src, 8);
        c.values.emplace_back(std::string(p ? p : ""));
      }
    }
  }
  if (n > 0) H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf.data());
  return s;
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

std::string format_table(const Summary& s) {
  std::vector<size_t> width;
  std::vector<std::vector<std::string>> cells(s.columns.size());
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Column& c = s.columns[i];
    size_t w = c.name.size();
    for (const auto& v : c.values) {
      cells[i].push_back(format_value(v));
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

}  // namespace loft::results

#pragma once
// The /summary table of results.h5: one row per point (sorted by id), columns `id`, `status`,
// `error` (only when some point failed with a message), every parameter (by name), every metric
// (by name). Built from points (summary.cpp), written as an HDF5 compound dataset and read back
// (summary_h5.cpp), filtered, sorted and printed by `loftlab inspect` (table.cpp).
#include <hdf5.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "io/results/record.hpp"
#include "io/results/store.hpp"

namespace loft::results {

struct Column {
  enum class Kind { Int, Real, Text };
  std::string name;
  Kind kind = Kind::Real;
  // One value per row, of the column's kind: int64_t, double (NaN where absent), or string
  // ("" where absent).
  std::vector<Value> values;
};

struct Summary {
  std::vector<Column> columns;
  size_t rows() const { return columns.empty() ? 0 : columns.front().values.size(); }
  const Column* find(const std::string& name) const;
  // Throws loft::Error naming the unknown key and listing the columns.
  const Column& column(const std::string& name) const;
};

// Column kinds: a parameter that is an integer in every point is Int; one that is numeric but a
// real in some point, or absent from some point, is Real (NaN where absent); one that is text in
// any point is Text (numbers written as text, "" where absent). Metrics are always Real.
Summary build_summary(std::vector<StoredPoint> points);
// A number cell as a double; NaN for text.
double as_double(const Value& v);

// Writes `summary` as a compound dataset (int64 / float64 / variable-length UTF-8 members).
void write_summary(hid_t file, const Summary& s, const std::string& where);
// Reads /summary from a results.h5 (also accepts fixed-length string members).
Summary read_summary(const std::filesystem::path& results_h5);

// Keeps the rows matching every condition "key=value[,value...]" (any of the values). Numbers
// compare as displayed (6 significant digits, or kViewDigits as format_view shows them), so a
// value copied from either table matches; "-" or "nan" matches NaN. Unknown keys and non-numbers
// for numeric columns are errors.
Summary filter_rows(const Summary& s, const std::vector<std::string>& where);
// Stable sort by one column: numbers ascending with NaN last, text lexicographically.
void sort_rows(Summary& s, const std::string& key, bool descending = false);
// An aligned plain-text table: a header line, then one line per row; numbers right-aligned
// (`digits` significant digits), text left-aligned, "-" for NaN.
std::string format_table(const Summary& s, int digits = 6);
std::string format_value(const Value& v, int digits = 6);

// The named columns, in the order given; an unknown name is an error listing the columns.
Summary select_columns(const Summary& s, const std::vector<std::string>& names);

// The table a person reads: `id`, the headline columns, and the `keys` columns whose value
// differs between rows (status and error count as keys); the keys with one value in every row
// are listed once above the table, and the other columns are named below it. With no keys every
// column is a key. Numbers have kViewDigits significant digits; lines wrap at `width` where the
// table allows.
inline constexpr int kViewDigits = 4;
struct View {
  std::vector<std::string> keys;
  std::vector<std::string> headline;
  size_t width = 120;
};
std::string format_view(const Summary& s, const View& view);
// Items ("k=v") after `lead`, two spaces apart, a new line (indented as lead) before an item
// that would pass `width`: the lists above and below a view.
std::string wrap_items(std::string_view lead, const std::vector<std::string>& items, size_t width);

}  // namespace loft::results

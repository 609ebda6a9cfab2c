// loftlab merge DIR: rebuild DIR/results.h5 from DIR/points/*.h5.
// loftlab inspect FILE [--where K=V ...] [--sort KEY] | --point ID: print the summary table or
// one point. FILE is a results folder, a results.h5, or a point file (io/results/locate.hpp).
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <limits>
#include <optional>
#include <set>

#include "common/error.hpp"
#include "common/text.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "experiments/experiment.hpp"
#include "io/results/locate.hpp"
#include "io/results/lock.hpp"
#include "io/results/merge.hpp"
#include "io/results/summary.hpp"
#include "sweep/point.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace loft::cli {
namespace {

// The per-tensor traces of a point as a table: tensor, values recorded, final value of each.
results::Summary layer_table(const results::Record& r) {
  using results::Column;
  std::set<std::string> names;
  for (const auto& [t, sets] : r.layers)
    for (const auto& [k, v] : sets) names.insert(k);
  results::Summary s;
  s.columns.push_back({"tensor", Column::Kind::Text, {}});
  s.columns.push_back({"values", Column::Kind::Int, {}});
  for (const auto& k : names) s.columns.push_back({k, Column::Kind::Real, {}});
  for (const auto& [t, sets] : r.layers) {
    s.columns[0].values.emplace_back(t);
    int64_t n = 0;
    for (const auto& [k, v] : sets) n = std::max<int64_t>(n, static_cast<int64_t>(v.size()));
    s.columns[1].values.emplace_back(n);
    size_t c = 2;
    for (const auto& k : names) {
      auto it = sets.find(k);
      bool has = it != sets.end() && !it->second.empty();
      s.columns[c++].values.emplace_back(has ? it->second.back()
                                             : std::numeric_limits<double>::quiet_NaN());
    }
  }
  return s;
}

void print_point(const results::StoredPoint& p) {
  const auto& r = p.record;
  fmt::print("point {}\n  status   {}\n  seconds  {}\n  host     {}\n", p.id, r.status,
             results::format_value(r.seconds), p.host);
  if (!r.error.empty()) fmt::print("  error    {}\n", r.error);
  auto width = [](const auto& map) {
    size_t w = 0;
    for (const auto& [k, v] : map) w = std::max(w, k.size());
    return w;
  };
  fmt::print("\nparameters\n");
  for (const auto& [k, v] : r.params)
    fmt::print("  {:<{}}  {}\n", k, width(r.params), results::format_value(v));
  fmt::print("\nmetrics\n");
  if (r.metrics.empty()) fmt::print("  (none)\n");
  for (const auto& [k, v] : r.metrics)
    fmt::print("  {:<{}}  {}\n", k, width(r.metrics), results::format_value(v));
  fmt::print("\nlayers: final value of each trace ({} tensors)\n", r.layers.size());
  if (r.layers.empty())
    fmt::print("  (none)\n");
  else {
    std::string table = results::format_table(layer_table(r));
    for (size_t a = 0, b; (b = table.find('\n', a)) != std::string::npos; a = b + 1)
      fmt::print("  {}\n", table.substr(a, b - a));
  }
  if (!r.train.empty()) {
    fmt::print("\ntrain curves\n");
    for (const auto& [k, v] : r.train)
      fmt::print("  {:<{}}  {} values{}\n", k, width(r.train), v.size(),
                 v.empty() ? "" : ", last " + results::format_value(v.back()));
  }
}

// What inspect shows by default: the keys and headline metrics of the summary's experiment
// (when it has one experiment the registry knows), else every column.
results::View default_view(const results::Summary& s) {
  results::View v;
  const results::Column* e = s.find("experiment");
  if (!e || e->kind != results::Column::Kind::Text || e->values.empty()) return v;
  const std::string& name = std::get<std::string>(e->values.front());
  for (const auto& x : e->values)
    if (std::get<std::string>(x) != name) return v;
  for (const auto& known : exp::experiments()) {
    if (known.name != name) continue;
    v.keys.push_back("experiment");
    for (const auto& k : known.keys) v.keys.push_back(k.name);
    v.headline = known.headline;
  }
  return v;
}

}  // namespace

int cmd_merge(int argc, char** argv) {
  po::options_description desc(
      "usage: loftlab merge DIR\n\n"
      "Rebuilds DIR/results.h5 from the complete point files DIR/points/<id>.h5: every point's\n"
      "group copied as is, plus the /summary table (one row per point, sorted by id). Written to\n"
      "a temporary name and renamed; merging again gives the same content (apart from the\n"
      "`created` attribute). Temporary files of killed writers are removed. Refused while a\n"
      "sweep (or shard) runs on DIR: the sweep merges itself when it ends. Layout:\n"
      "results/README.md.\n\noptions");
  desc.add_options()("help,h", "show this help");
  std::string dir_arg;
  auto vm = parse_command_line(argc, argv, desc, "merge", Positional{"DIR", &dir_arg});
  if (!vm) return 0;
  const fs::path dir = dir_arg;
  results::check_results_folder(dir);  // before the lock, which would create the folder
  const auto lock = results::SweepLock::whole_folder(dir, "merge");
  auto m = results::merge(
      dir, [](const results::StoredPoint& p) { sweep::check_point_id(p.id, p.record.params); });
  fmt::print("merged {} point{} into {}\n", m.points, m.points == 1 ? "" : "s", m.file.string());
  return 0;
}

int cmd_inspect(int argc, char** argv) {
  std::vector<std::string> where;
  std::string sort, point, columns;
  bool desc_order = false, all_columns = false;
  po::options_description desc(
      "usage: loftlab inspect FILE [--where KEY=V[,V...] ...] [--sort KEY [--desc]]\n"
      "                      [--all | --columns A,B,...]\n"
      "       loftlab inspect FILE --point ID\n\n"
      "Prints the summary of a results folder, results.h5 or point file as an aligned table, one\n"
      "row per point (- where a point lacks a value), or one point in detail: parameters,\n"
      "metrics, the final value of every per-tensor trace. By default the table has the id, the\n"
      "settings that differ between rows and the experiment's headline metrics, to 4 significant\n"
      "digits; the settings common to every row are listed once above it and the other columns\n"
      "named below it. A results folder is read from its point files (current while a sweep\n"
      "runs).\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "where,w", po::value(&where)->composing(),
      "keep rows whose KEY equals V (or any of V1,V2,...); repeatable, all must hold; numbers "
      "compare as printed, - matches a missing value")(
      "sort,s", po::value(&sort), "order rows by KEY (numbers ascending, missing last)")(
      "desc", po::bool_switch(&desc_order), "with --sort: descending")(
      "point,p", po::value(&point), "print point ID in detail instead of the table")(
      "all,a", po::bool_switch(&all_columns),
      "every column (id, status, parameters, metrics), numbers to 6 significant digits")(
      "columns,c", po::value(&columns), "these columns, comma-separated, in this order");
  std::string file_arg;
  auto vm = parse_command_line(argc, argv, desc, "inspect", Positional{"FILE", &file_arg});
  if (!vm) return 0;
  fs::path file = file_arg;
  if (vm->count("point")) {
    if (!where.empty() || !sort.empty())
      fail("--point prints one point; it does not combine with --where or --sort");
    print_point(results::load_point(file, point));
    return 0;
  }
  if (desc_order && sort.empty()) fail("--desc needs --sort KEY");
  if (all_columns && !columns.empty()) fail("--all and --columns both choose the columns; use one");
  results::Summary all = results::load_summary(file);
  results::Summary s = results::filter_rows(all, where);
  if (!sort.empty()) results::sort_rows(s, sort, desc_order);
  if (all_columns) {
    fmt::print("{}", results::format_table(s));
  } else if (!columns.empty()) {
    std::vector<std::string> names;
    for (std::string_view c : split_list(columns)) names.emplace_back(c);
    fmt::print("{}",
               results::format_table(results::select_columns(s, names), results::kViewDigits));
  } else {
    fmt::print("{}", results::format_view(s, default_view(s)));
  }
  if (!where.empty()) fmt::print("({} of {} points)\n", s.rows(), all.rows());
  return 0;
}

}  // namespace loft::cli

// loftlab sweep CONFIG: expand a sweep config into points, run the ones not yet complete (in
// parallel, sharded, or across MPI ranks), store each through the results store, then merge.
//
// Who merges and who locks:
//   plain run         locks the folder, runs every point, merges.
//   --shard i/n       locks only its shard (<out>/.shards/i-of-n), so the n shards of a Slurm
//                     array run side by side; it does not merge: `loftlab merge <out>` afterwards.
//   mpirun -n K       rank 0 locks the folder for the whole job; rank r runs the points whose
//                     index mod K is r; after a barrier rank 0 merges.
// A failed point is stored with status "failed" and its message (never as complete), is retried
// by the next run, and makes the sweep exit 1 after listing the failures.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>

#include "common/error.hpp"
#include "common/files.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "experiments/cli/ranks.hpp"
#include "experiments/experiment.hpp"
#include "io/results/lock.hpp"
#include "io/results/merge.hpp"
#include "io/results/store.hpp"
#include "io/results/summary.hpp"
#include "sweep/config.hpp"
#include "sweep/grid.hpp"
#include "sweep/schedule.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace loft::cli {
namespace {

struct Options {
  std::string config;
  std::vector<std::string> sets;
  bool dry_run = false;
  bool all_columns = false;
  int jobs = 1;
  int threads = 0;
  std::optional<sweep::Shard> shard;
  std::string out;
};

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  std::string shard;
  po::options_description desc(
      "usage: loftlab sweep CONFIG [--set SECTION.KEY=V1,V2 ...] [--dry-run [--all]] [--jobs N]\n"
      "                    [--shard I/N] [--out DIR]\n\n"
      "Runs (or resumes) the sweep CONFIG: every point whose results/<name>/points/<id>.h5 is not\n"
      "complete, then merges them into results/<name>/results.h5. Relative paths inside the\n"
      "config (source = hf:DIR, npy:PATH) are opened relative to the current directory, like\n"
      "results/. Under `mpirun -n K` the ranks share the points and rank 0 merges. A grid may\n"
      "have up to 1000000 combinations (kMaxCombinations; split larger studies).\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "set", po::value(&o.sets)->composing(),
      "override a config key, repeatable: grid.KEY=V1,V2 (a grid axis) or KEY=V (top level, "
      "e.g. name=x); replaces the key wherever the file had it")(
      "dry-run,n", po::bool_switch(&o.dry_run),
      "list the points (id, the parameters that differ between them, complete or to run; the "
      "shared ones once above) and counts; run nothing")(
      "all,a", po::bool_switch(&o.all_columns), "with --dry-run: every parameter as a column")(
      "jobs,j", po::value(&o.jobs)->default_value(1),
      "points run in parallel; OpenMP threads are shared among them, results do not change")(
      "threads", po::value(&o.threads)->default_value(0),
      "OpenMP threads in all (0: OMP_NUM_THREADS or every core)")(
      "shard", po::value(&shard),
      "I/N: run only the points whose index (in the id-sorted list) mod N is I; no merge")(
      "out,o", po::value(&o.out), "results folder (default: results/<name>)");
  const auto parsed =
      parse_command_line(argc, argv, desc, "sweep", Positional{"CONFIG", &o.config});
  if (!parsed) {
    std::cout << "experiments:\n";
    for (const auto& e : exp::experiments()) {
      fmt::print("  {:<10} {}\n", e.name, e.description);
      for (const auto& k : e.keys) {
        const std::string kind = exp::describe_kind(k);
        fmt::print("      {:<12} {} ({}{})\n", k.name, k.help,
                   k.default_value.empty() ? "required" : "default " + k.default_value,
                   kind.empty() ? "" : "; " + kind);
      }
    }
    return std::nullopt;
  }
  const po::variables_map& vm = *parsed;
  if (o.jobs < 1 || o.jobs > kMaxThreads)
    fail("--jobs {}: must be in 1..{} (points run in parallel)", o.jobs, kMaxThreads);
  if (o.threads < 0 || o.threads > kMaxThreads)
    fail("--threads {}: must be 0 (all) or 1..{}", o.threads, kMaxThreads);
  if (o.all_columns && !o.dry_run) fail("--all chooses the columns of --dry-run; add --dry-run");
  if (vm.count("shard")) o.shard = sweep::parse_shard(shard);
  return o;
}

std::vector<sweep::KeyDefault> key_defaults(const exp::Experiment& e) {
  std::vector<sweep::KeyDefault> out;
  for (const auto& k : e.keys) out.push_back({k.name, k.default_value});
  return out;
}

// Complete = a valid point file (results::check_point_file) with status "complete" whose
// parameters hash to its id (so, short of a hash collision, exactly this point's). Anything else
// at the name is run again (and replaced by the new file), except a folder, which no rename can
// replace: that is an error before any work.
bool is_complete(const fs::path& dir, const std::string& id, bool quiet = false) {
  using State = results::PointFileCheck::State;
  const auto c = results::check_point_file(dir, id);
  const auto file = results::point_path(dir, id).string();
  if (c.folder)
    fail("{} is a folder, not a point file: remove it so the point can be stored", file);
  std::string problem = c.problem;
  if (c.state == State::valid && sweep::point_id(c.header.record.params) != id)
    problem = fmt::format("its parameters ({}) are not this point's",
                          sweep::describe(c.header.record.params));
  if (c.state == State::absent) return false;
  if (!problem.empty()) {
    if (!quiet)
      fmt::print(stderr,
                 "loftlab sweep: {} is not a valid point file ({}); running the point again\n",
                 file, problem);
    return false;
  }
  return c.header.record.status == "complete";
}

// The points this process accounted for (ran, or found complete) that are no longer valid point
// files on disk: the folder changed under the run.
std::vector<std::string> missing_points(const fs::path& dir, const sweep::PointList& points) {
  std::vector<std::string> out;
  for (size_t i = 0; i < points.size; ++i)
    if (results::check_point_file(dir, points.id(i)).state != results::PointFileCheck::State::valid)
      out.push_back(points.id(i));
  return out;
}

// A parameter as the config would spell it: numbers exactly (shortest round trip), as the
// point's id hashes them.
std::string value_text(const results::Value& v) {
  return std::visit([](const auto& x) { return fmt::format("{}", x); }, v);
}

// The dry-run listing: one aligned row per point, the parameters that differ between points as
// columns (in the experiment's key order, then the ones it derives, bits and the like, by name)
// and the ones every point shares listed once above, as `loftlab inspect` shows a summary; with
// --all every parameter is a column. Two passes over the points (what varies and how wide, then
// the rows), so memory does not grow with the grid.
void print_points(const sweep::Expansion& ex, const exp::Experiment& experiment,
                  const fs::path& dir, const std::vector<bool>& mine, const std::string& header,
                  bool all_columns) {
  const char* kStatus[] = {"to run", "complete", "other shard"};
  struct Seen {
    std::string first;  // the first point's value
    size_t width = 0, points = 0;
    bool varies = false;
  };
  std::vector<char> status(ex.size());
  std::map<std::string, Seen> seen;
  size_t complete = 0, todo = 0;
  for (size_t i = 0; i < ex.size(); ++i) {
    const bool done = is_complete(dir, ex.id(i), true);
    status[i] = done ? 1 : mine[i] ? 0 : 2;
    complete += done;
    todo += !done && mine[i];
    for (const auto& [k, v] : ex.point(i).params) {
      if (k == "experiment") continue;
      Seen& s = seen[k];
      const std::string text = value_text(v);
      if (s.points++ == 0) s.first = text;
      s.varies = s.varies || text != s.first;
      s.width = std::max(s.width, text.size());
    }
  }
  // A parameter some points lack (steps of qlora beside loftq's) varies: those show "-".
  for (auto& [k, s] : seen) s.varies = s.varies || s.points < ex.size();
  std::vector<std::string> keys, shared;
  auto place = [&](const std::string& k) {
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) return;
    const Seen& s = seen.at(k);
    if (all_columns || s.varies || ex.size() == 0)
      keys.push_back(k);
    else if (std::find(shared.begin(), shared.end(), k + "=" + s.first) == shared.end())
      shared.push_back(k + "=" + s.first);
  };
  for (const auto& k : experiment.keys)
    if (seen.count(k.name)) place(k.name);
  for (const auto& [k, s] : seen) place(k);
  std::vector<size_t> widths = {std::max<size_t>(1, std::to_string(ex.size()).size()), 12, 11};
  for (const auto& k : keys) widths.push_back(std::max(seen.at(k).width, k.size()));
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) line += fmt::format("{:<{}}  ", r[c], widths[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  };
  fmt::print("{}\n", header);
  fmt::print("{} grid combinations -> {} points; {} complete, {} to run\n", ex.combinations,
             ex.size(), complete, todo);
  if (!shared.empty()) fmt::print("{}", results::wrap_items("in every point: ", shared, 120));
  fmt::print("\n");
  std::vector<std::string> row = {"#", "id", "status"};
  row.insert(row.end(), keys.begin(), keys.end());
  print_row(row);
  for (size_t i = 0; i < ex.size(); ++i) {
    const auto p = ex.point(i);
    row = {std::to_string(i), p.id, kStatus[int(status[i])]};
    for (const auto& k : keys) row.push_back(p.params.count(k) ? value_text(p.params.at(k)) : "-");
    print_row(row);
  }
}

int run_sweep(const Options& o, const Ranks& ranks) {
  if (ranks.mpi() && o.shard)
    fail("--shard and mpirun both split the points; use one (mpirun -n {} already runs {} shards)",
         ranks.size(), ranks.size());
  const auto config = sweep::read_config(o.config, o.sets);
  const exp::Experiment* experiment = nullptr;
  try {
    experiment = &exp::find_experiment(config.experiment);
  } catch (const Error& e) {
    fail("{}: {}", config.path, e.what());
  }
  const auto ex = sweep::expand(config, key_defaults(*experiment), experiment->normalise);
  const fs::path dir = o.out.empty() ? fs::path("results") / config.name : fs::path(o.out);
  const sweep::Shard shard =
      ranks.mpi() ? sweep::Shard{ranks.rank(), ranks.size()} : o.shard.value_or(sweep::Shard{});
  std::vector<bool> mine(ex.size(), false);
  const std::vector<size_t> indices = sweep::shard_indices(ex.size(), shard);
  for (auto i : indices) mine[i] = true;
  const sweep::PointList selected{indices.size(), [&](size_t k) { return ex.id(indices[k]); },
                                  [&](size_t k) { return ex.point(indices[k]); }};
  const bool lead = ranks.rank() == 0;
  ranks.collective = !o.dry_run;
  if (o.dry_run) {
    if (lead)
      print_points(
          ex, *experiment, dir, mine,
          fmt::format(
              "sweep '{}' (experiment {}) -> {}{}", config.name, config.experiment, dir.string(),
              o.shard ? fmt::format(", shard {}/{}", shard.index, shard.count) : std::string()),
          o.all_columns);
    return 0;
  }

  // Lock: the whole folder, or (--shard) this shard; under MPI rank 0 holds it for the job.
  std::optional<results::SweepLock> lock;
  if (lead) {
    std::string refused;
    try {
      lock.emplace(o.shard ? results::SweepLock::shard(dir, o.shard->index, o.shard->count)
                           : results::SweepLock::whole_folder(dir, "sweep"));
    } catch (const Error& e) {
      refused = e.what();
    }
    if (ranks.broadcast(refused).size()) fail("{}", refused);
  } else if (auto refused = ranks.broadcast(""); !refused.empty()) {
    return 1;  // rank 0 prints why
  }
  const std::string expanded = sweep::to_ini(config);
  if (lead) results::remove_stale_temps(dir);
  ranks.barrier();
  // config.ini describes the points: the lock holder writes it once its first point is stored
  // (a run that dies before storing any leaves the folder's config as it was). Atomic, so
  // readers (and a concurrent shard writing the same text) never see half a file.
  std::once_flag config_written;
  auto write_config = [&] { write_file_atomic(dir / "config.ini", expanded); };

  sweep::Hooks hooks;
  hooks.is_complete = [&](const std::string& id) { return is_complete(dir, id); };
  hooks.run = [&](const sweep::Point& p, const sweep::PointContext& pc) {
    exp::Context ctx;
    ctx.threads = pc.threads;
    ctx.progress = pc.progress;
    ctx.cache_dir = (dir / "calibration").string();
    return experiment->run(p.params, ctx);
  };
  if (experiment->chain_key && experiment->run_chain) {
    hooks.group_key = [&](const sweep::Point& p) { return experiment->chain_key(p.params); };
    hooks.run_group = [&](const std::vector<sweep::Point>& group, const sweep::PointContext& pc) {
      exp::Context ctx;
      ctx.threads = pc.threads;
      ctx.progress = pc.progress;
      std::vector<results::Params> params;
      for (const auto& p : group) params.push_back(p.params);
      return experiment->run_chain(params, ctx);
    };
  }
  const results::PointMeta meta{config.name, expanded};
  hooks.store = [&](const sweep::Point& p, const results::Record& r) {
    results::write_point(dir, p.id, r, meta);
    if (lead) std::call_once(config_written, write_config);
  };
  sweep::RunOptions ro;
  ro.jobs = o.jobs;
  ro.threads = o.threads;
  ro.progress = lead && ::isatty(STDERR_FILENO);
  sweep::RunReport report;
  report = sweep::run_points(selected, ro, hooks);
  for (const auto& f : report.failures)
    fmt::print(stderr, "loftlab sweep: point {} failed: {}\n", f.id, f.message);

  const long failed = ranks.sum(static_cast<long>(report.failures.size()));
  const long ran = ranks.sum(static_cast<long>(report.ran));
  const long skipped = ranks.sum(static_cast<long>(report.skipped));
  ranks.barrier();  // every rank's points are on disk before any checks them
  const auto missing = missing_points(dir, selected);
  for (const auto& id : missing)
    fmt::print(stderr, "loftlab sweep: point {} is missing from {} (it was stored or complete)\n",
               id, results::points_dir(dir).string());
  const long lost = ranks.sum(static_cast<long>(missing.size()));
  if (!lead) return failed || lost ? 1 : 0;
  if (ran > 0 || !fs::exists(dir / "config.ini")) std::call_once(config_written, write_config);
  std::string merged;
  if (!o.shard) {
    const auto m = results::merge(
        dir, [](const results::StoredPoint& p) { sweep::check_point_id(p.id, p.record.params); });
    merged = fmt::format("; merged {} points into {}", m.points, m.file.string());
  } else {
    merged = fmt::format("; shard {}/{} done (merge with: loftlab merge {})", shard.index,
                         shard.count, dir.string());
  }
  fmt::print("sweep '{}': ran {} points ({} failed), {} already complete, in {}{}\n", config.name,
             ran, failed, skipped, sweep::format_duration(report.seconds), merged);
  if (lost) {
    fmt::print(stderr,
               "loftlab sweep: error: {} point(s) of this run are no longer in {} (was the folder "
               "changed during the run?); run the sweep again to recompute them\n",
               lost, results::points_dir(dir).string());
    return 1;
  }
  if (failed) {
    fmt::print(stderr,
               "loftlab sweep: {} point(s) failed (stored with status 'failed'; a re-run retries "
               "them){}\n",
               failed, ranks.mpi() ? " - see each rank's messages above" : ":");
    for (const auto& f : report.failures) fmt::print(stderr, "  {}\n", f.id);
    return 1;
  }
  return 0;
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) return 0;
  Ranks ranks("sweep");
  return ranks.run([&] { return run_sweep(*options, ranks); });
}

}  // namespace loft::cli

#pragma once
// Which points this process runs, and running them: shards (--shard i/n, Slurm arrays, MPI ranks
// all split the same way), resume (skip complete points), a pool of --jobs threads, failures
// recorded rather than fatal, and progress with an ETA. The sweep layer knows nothing of files:
// the caller supplies how to test, run and store a point (Hooks), so this is testable alone.
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "io/results/record.hpp"
#include "sweep/point.hpp"

namespace loft::sweep {

struct Shard {
  int index = 0;
  int count = 1;
};

// "i/n" with 0 <= i < n; errors name the text and what is valid.
Shard parse_shard(std::string_view text);
// Indices into the sorted point list with index % count == shard.index.
std::vector<size_t> shard_indices(size_t n_points, Shard shard);

// How one point runs inside the pool.
struct PointContext {
  int threads = 1;  // OpenMP threads this point may use (all threads / jobs)
  std::function<void(double, const std::string&)> progress;  // fraction of this point, status
};

// The points to run, by position: ids are cheap, a point's parameters are made only when it runs,
// so a large sweep is never held in memory at once (grid.hpp's Expansion provides both).
struct PointList {
  size_t size = 0;
  std::function<std::string(size_t)> id;
  std::function<Point(size_t)> point;
};

struct Hooks {
  std::function<bool(const std::string& id)> is_complete;  // resume: skip when true
  std::function<results::Record(const Point&, const PointContext&)> run;
  // Stores a finished point, complete or failed. Called from pool threads, one call per point.
  std::function<void(const Point&, const results::Record&)> store;
  // Optional: points (not yet complete) with the same non-empty group key run as one task
  // through run_group, which returns one record per point in order; each is still stored as
  // its own point (so resume works per point). A failure fails every point of the group.
  std::function<std::string(const Point&)> group_key;
  std::function<std::vector<results::Record>(const std::vector<Point>&, const PointContext&)>
      run_group;
};

struct RunOptions {
  int jobs = 1;           // points in parallel
  int threads = 0;        // total OpenMP threads to share among jobs; 0 = omp_get_max_threads()
  bool progress = false;  // a live line with ETA on `out` (meant for a terminal)
  std::FILE* out = stderr;
};

struct Failure {
  std::string id;
  std::string message;
};

struct RunReport {
  size_t selected = 0;  // points given
  size_t skipped = 0;   // already complete
  size_t ran = 0;       // run now (complete + failed)
  std::vector<Failure> failures;
  double seconds = 0;
};

// Runs the points not yet complete. An exception out of hooks.run becomes a Record with status
// "failed" (message in Record::error), stored like any other, and listed in the report; it is
// never stored as complete. An exception out of hooks.store is fatal (rethrown after the pool
// drains), since the results folder itself is then in doubt.
RunReport run_points(const PointList& points, const RunOptions& options, const Hooks& hooks);
RunReport run_points(const std::vector<Point>& points, const RunOptions& options,
                     const Hooks& hooks);

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace loft::sweep

#include "sweep/schedule.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.hpp"

namespace loft::sweep {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool parse_int(std::string_view s, int& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The live progress line: done points plus the fractions of running ones give the share done,
// and the ETA extrapolates the elapsed time over it. Redrawn at most 10 times a second.
class Progress {
 public:
  Progress(size_t total, bool enabled, std::FILE* out)
      : total_(total), enabled_(enabled && total > 0), out_(out) {}

  void update(const std::string& id, double fraction, const std::string& status) {
    if (!enabled_) return;
    std::lock_guard lock(mu_);
    running_[id] = {std::clamp(fraction, 0.0, 1.0), status};
    draw(false);
  }
  void finish(const std::string& id, bool failed) {
    if (!enabled_) return;
    std::lock_guard lock(mu_);
    running_.erase(id);
    ++done_;
    failed_ += failed;
    draw(true);
  }
  void close() {
    if (enabled_) fmt::print(out_, "\n");
  }

 private:
  void draw(bool force) {
    const double now = since(t0_);
    if (!force && now - last_ < 0.1) return;
    last_ = now;
    double share = static_cast<double>(done_);
    for (const auto& [id, r] : running_) share += r.first;
    const double frac = share / static_cast<double>(total_);
    const std::string eta = frac > 0 ? format_duration(now * (1 - frac) / frac) : std::string("?");
    std::string status;
    if (!running_.empty())
      status = fmt::format("{} {}", running_.begin()->first, running_.begin()->second.second);
    if (status.size() > 40) status = status.substr(0, 40);
    fmt::print(out_, "\r\033[K[{}/{}] {:3.0f}%  elapsed {}  eta {}{}  {}", done_, total_,
               100 * frac, format_duration(now), eta,
               failed_ ? fmt::format("  {} failed", failed_) : "", status);
    std::fflush(out_);
  }

  size_t total_;
  bool enabled_;
  std::FILE* out_;
  std::mutex mu_;
  Clock::time_point t0_ = Clock::now();
  double last_ = -1;
  size_t done_ = 0, failed_ = 0;
  std::map<std::string, std::pair<double, std::string>> running_;
};

results::Record failed_record(const Point& p, const std::string& message, double seconds) {
  results::Record r;
  r.params = p.params;
  r.status = "failed";
  r.error = message.empty() ? "unknown error" : message;
  r.seconds = seconds;
  return r;
}

// The tasks of a run, as positions in todo: one point each, or with a group key the points that
// share it (in todo's order, placed where the first of them is).
std::vector<std::vector<size_t>> group_tasks(const PointList& points,
                                             const std::vector<size_t>& todo, const Hooks& hooks) {
  std::vector<std::vector<size_t>> tasks;
  const bool grouping = hooks.group_key && hooks.run_group;
  std::map<std::string, size_t> where;  // key -> task
  for (size_t k = 0; k < todo.size(); ++k) {
    std::string key;
    if (grouping) {
      try {
        key = hooks.group_key(points.point(todo[k]));
      } catch (const std::exception&) {
        key.clear();  // the point fails on its own when it runs
      }
    }
    if (key.empty()) {
      tasks.push_back({k});
      continue;
    }
    auto [it, fresh] = where.try_emplace(key, tasks.size());
    if (fresh) tasks.emplace_back();
    tasks[it->second].push_back(k);
  }
  return tasks;
}

}  // namespace

Shard parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  Shard s;
  if (slash == std::string_view::npos || !parse_int(text.substr(0, slash), s.index) ||
      !parse_int(text.substr(slash + 1), s.count) || s.count < 1 || s.index < 0 ||
      s.index >= s.count)
    fail(
        "--shard '{}': expected I/N with 0 <= I < N, e.g. --shard 0/4 (the points whose index "
        "mod N is I)",
        text);
  return s;
}

std::vector<size_t> shard_indices(size_t n_points, Shard shard) {
  std::vector<size_t> out;
  for (size_t i = static_cast<size_t>(shard.index); i < n_points;
       i += static_cast<size_t>(shard.count))
    out.push_back(i);
  return out;
}

RunReport run_points(const std::vector<Point>& points, const RunOptions& options,
                     const Hooks& hooks) {
  return run_points(PointList{points.size(), [&](size_t i) { return points[i].id; },
                              [&](size_t i) { return points[i]; }},
                    options, hooks);
}

RunReport run_points(const PointList& points, const RunOptions& options, const Hooks& hooks) {
  const auto t0 = Clock::now();
  RunReport report;
  report.selected = points.size;
  std::vector<size_t> todo;
  for (size_t i = 0; i < points.size; ++i) {
    if (hooks.is_complete(points.id(i)))
      ++report.skipped;
    else
      todo.push_back(i);
  }
  const std::vector<std::vector<size_t>> tasks = group_tasks(points, todo, hooks);
  const int jobs = std::max(1, std::min<int>(options.jobs, static_cast<int>(tasks.size())));
  const int all_threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  PointContext base;
  base.threads = std::max(1, all_threads / jobs);

  Progress progress(todo.size(), options.progress, options.out);
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards report.failures and fatal
  std::exception_ptr fatal;
  // Stores one finished point; false once the store has failed (then the pool stops).
  auto finish = [&](const Point& p, results::Record& r, double seconds) {
    r.params = p.params;  // the point's identity is the sweep's, whatever run returned
    if (r.status != "complete" && r.status != "failed") r.status = "failed";
    if (r.seconds <= 0) r.seconds = seconds;
    try {
      hooks.store(p, r);
    } catch (...) {
      std::lock_guard lock(mu);
      if (!fatal) fatal = std::current_exception();
      return false;
    }
    const bool failed = r.status != "complete";
    {
      std::lock_guard lock(mu);
      ++report.ran;
      if (failed) report.failures.push_back({p.id, r.error});
    }
    progress.finish(p.id, failed);
    return true;
  };
  auto worker = [&] {
    // OpenMP's thread count is per calling thread: each point's parallel regions use its share.
    omp_set_num_threads(base.threads);
    for (size_t i; (i = next++) < tasks.size();) {
      {
        std::lock_guard lock(mu);
        if (fatal) return;
      }
      std::vector<Point> group;
      for (size_t k : tasks[i]) group.push_back(Point{points.id(todo[k]), {}});
      PointContext ctx = base;
      ctx.progress = [&](double f, const std::string& s) {
        for (const auto& p : group) progress.update(p.id, f, s);
      };
      const auto tp = Clock::now();
      std::vector<results::Record> records;
      try {
        for (size_t k = 0; k < group.size(); ++k) {
          group[k] = points.point(todo[tasks[i][k]]);
          progress.update(group[k].id, 0, "");
        }
        if (group.size() == 1) {
          records.push_back(hooks.run(group.front(), ctx));
        } else {
          records = hooks.run_group(group, ctx);
          if (records.size() != group.size())
            fail("a group of {} points returned {} records", group.size(), records.size());
        }
      } catch (const std::exception& e) {
        records.clear();
        for (const auto& p : group) records.push_back(failed_record(p, e.what(), since(tp)));
      } catch (...) {
        records.clear();
        for (const auto& p : group)
          records.push_back(failed_record(p, "non-standard exception", since(tp)));
      }
      for (size_t k = 0; k < group.size(); ++k)
        if (!finish(group[k], records[k], since(tp))) return;
    }
  };
  const int caller_threads = omp_get_max_threads();
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  omp_set_num_threads(caller_threads);
  progress.close();
  if (fatal) std::rethrow_exception(fatal);
  std::sort(report.failures.begin(), report.failures.end(),
            [](const Failure& a, const Failure& b) { return a.id < b.id; });
  report.seconds = since(t0);
  return report;
}

std::string format_duration(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace loft::sweep

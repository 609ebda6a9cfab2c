// Shards, resume, failures and the --jobs pool, with fake hooks (no files, no experiments).
#include <omp.h>
#include <atomic>
#include <map>
#include <mutex>

#include "common/error.hpp"
#include "support.hpp"
#include "sweep/schedule.hpp"

using namespace loft::sweep;
using Catch::Matchers::Contains;
using loft::results::Record;

namespace {

std::vector<Point> make_points(int n) {
  std::vector<Point> out;
  for (int i = 0; i < n; ++i) {
    Params p{{"i", int64_t{i}}};
    out.push_back({point_id(p), p});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

// A fake store: what was stored, by id; "complete" ids count as done for resume.
struct FakeStore {
  std::mutex mu;
  std::map<std::string, Record> stored;
  std::map<std::string, int> writes;

  Hooks hooks(std::function<Record(const Point&, const PointContext&)> run) {
    Hooks h;
    h.is_complete = [this](const std::string& id) {
      std::lock_guard l(mu);
      auto it = stored.find(id);
      return it != stored.end() && it->second.status == "complete";
    };
    h.run = std::move(run);
    h.store = [this](const Point& p, const Record& r) {
      std::lock_guard l(mu);
      stored[p.id] = r;
      ++writes[p.id];
    };
    return h;
  }
};

// Deterministic per point: the value depends only on the point's parameters.
Record square(const Point& p, const PointContext& ctx) {
  Record r;
  const auto i = std::get<int64_t>(p.params.at("i"));
  r.metrics["square"] = static_cast<double>(i * i);
  r.layers["t"]["trace"] = {1.0, 0.5 / static_cast<double>(i + 1)};
  if (ctx.progress) ctx.progress(0.5, "half");
  return r;
}

}  // namespace

TEST_CASE("shard specs I/N parse and shards partition the points", "[schedule]") {
  CHECK(parse_shard("0/1").count == 1);
  CHECK(parse_shard("2/3").index == 2);
  for (auto bad : {"3/3", "-1/2", "1", "a/b", "1/0", "0/2x", ""})
    CHECK_THROWS_WITH(parse_shard(bad), Contains("--shard") && Contains("0 <= I < N"));
  std::vector<int> seen(10, 0);
  for (int i = 0; i < 3; ++i)
    for (auto k : shard_indices(10, {i, 3})) {
      CHECK(static_cast<int>(k % 3) == i);
      ++seen[k];
    }
  CHECK(seen == std::vector<int>(10, 1));
  CHECK(shard_indices(2, {3, 4}).empty());
}

TEST_CASE("run_points runs what is not complete, once each", "[schedule]") {
  const auto points = make_points(7);
  FakeStore store;
  Record done;
  done.metrics["square"] = -1;
  store.stored[points[2].id] = done;  // already complete: must be skipped
  const auto report = run_points(points, {}, store.hooks(square));
  CHECK(report.selected == 7);
  CHECK(report.skipped == 1);
  CHECK(report.ran == 6);
  CHECK(report.failures.empty());
  CHECK(store.stored[points[2].id].metrics["square"] == -1);
  for (const auto& p : points) {
    CHECK(store.stored[p.id].params == (p.id == points[2].id ? Params{} : p.params));
    if (p.id != points[2].id) CHECK(store.writes[p.id] == 1);
  }
  // Nothing left to do: a second run stores nothing.
  const auto again = run_points(points, {}, store.hooks(square));
  CHECK(again.skipped == 7);
  CHECK(again.ran == 0);
}

TEST_CASE("a failing point is stored as failed with its message, never as complete, and retried",
          "[schedule]") {
  const auto points = make_points(5);
  const auto bad = points[3].id;
  FakeStore store;
  auto flaky = [&](const Point& p, const PointContext& c) {
    if (p.id == bad) loft::fail("tensor 'x' has NaN");
    return square(p, c);
  };
  const auto report = run_points(points, {.jobs = 2}, store.hooks(flaky));
  CHECK(report.ran == 5);
  REQUIRE(report.failures.size() == 1);
  CHECK(report.failures[0].id == bad);
  CHECK_THAT(report.failures[0].message, Contains("NaN"));
  CHECK(store.stored[bad].status == "failed");
  CHECK_THAT(store.stored[bad].error, Contains("tensor 'x' has NaN"));
  CHECK(store.stored[bad].params == points[3].params);
  CHECK(store.stored[bad].metrics.empty());
  // The re-run retries the failed point only; now it succeeds.
  const auto retry = run_points(points, {}, store.hooks(square));
  CHECK(retry.skipped == 4);
  CHECK(retry.ran == 1);
  CHECK(store.stored[bad].status == "complete");
}

TEST_CASE("a failure to store is fatal, not a failed point", "[schedule]") {
  const auto points = make_points(4);
  auto h = FakeStore().hooks(square);
  h.is_complete = [](const std::string&) { return false; };
  h.store = [](const Point&, const Record&) { loft::fail("disk full writing 'x.h5'"); };
  CHECK_THROWS_WITH(run_points(points, {.jobs = 2}, h), Contains("disk full"));
}

TEST_CASE("results do not depend on the number of jobs and threads are shared among them",
          "[schedule]") {
  const auto points = make_points(9);
  std::map<int, std::map<std::string, Record>> by_jobs;
  for (int jobs : {1, 2, 4}) {
    FakeStore store;
    std::atomic<int> max_threads{0};
    auto run = [&](const Point& p, const PointContext& c) {
      CHECK(c.threads == std::max(1, 4 / jobs));
      CHECK(omp_get_max_threads() == c.threads);
      max_threads = std::max(max_threads.load(), c.threads);
      return square(p, c);
    };
    const int before = omp_get_max_threads();
    const auto report = run_points(points, {.jobs = jobs, .threads = 4}, store.hooks(run));
    CHECK(omp_get_max_threads() == before);  // the caller's setting is restored
    CHECK(report.ran == 9);
    by_jobs[jobs] = store.stored;
  }
  for (int jobs : {2, 4}) {
    REQUIRE(by_jobs[jobs].size() == by_jobs[1].size());
    for (const auto& [id, r] : by_jobs[1]) {
      CHECK(by_jobs[jobs][id].metrics == r.metrics);
      CHECK(by_jobs[jobs][id].layers == r.layers);
      CHECK(by_jobs[jobs][id].params == r.params);
    }
  }
}

TEST_CASE("progress draws a line with counts and an ETA when asked", "[schedule]") {
  const auto points = make_points(3);
  FakeStore store;
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  run_points(points, {.jobs = 1, .progress = true, .out = out}, store.hooks(square));
  std::fclose(out);
  const std::string text(buf, len);
  std::free(buf);
  CHECK_THAT(text, Contains("[3/3]") && Contains("100%") && Contains("eta"));
  // Not asked (not a terminal): nothing at all.
  FakeStore quiet;
  out = open_memstream(&buf, &len);
  run_points(points, {.progress = false, .out = out}, quiet.hooks(square));
  std::fclose(out);
  CHECK(len == 0);
  std::free(buf);
}

TEST_CASE("durations print compactly", "[schedule]") {
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(59.4) == "59s");
  CHECK(format_duration(125) == "2m05s");
  CHECK(format_duration(3 * 3600 + 120) == "3h02m");
}

TEST_CASE("points with one group key run as one task and are stored one by one", "[schedule]") {
  const auto points = make_points(6);
  FakeStore store;
  Record done;
  store.stored[points[1].id] = done;  // complete already: resume skips it
  Hooks h = store.hooks(square);
  std::mutex mu;
  std::vector<size_t> group_sizes;
  h.group_key = [](const Point& p) {
    return std::get<int64_t>(p.params.at("i")) % 2 ? std::string("odd") : std::string();
  };
  h.run_group = [&](const std::vector<Point>& group, const PointContext& ctx) {
    {
      std::lock_guard l(mu);
      group_sizes.push_back(group.size());
    }
    std::vector<Record> out;
    for (const auto& p : group) out.push_back(square(p, ctx));
    return out;
  };
  RunOptions o;
  o.jobs = 2;
  const auto report = run_points(points, o, h);
  CHECK(report.skipped == 1);
  CHECK(report.ran == 5);
  size_t odd_todo = 0;
  for (size_t k = 0; k < points.size(); ++k)
    if (k != 1 && std::get<int64_t>(points[k].params.at("i")) % 2) ++odd_todo;
  // Every odd point but the complete one in one call; even points ran alone through run.
  CHECK(group_sizes == std::vector<size_t>{odd_todo});
  for (const auto& p : points) {
    CHECK(store.writes[p.id] == (p.id == points[1].id ? 0 : 1));
    if (p.id != points[1].id)
      CHECK(store.stored[p.id].metrics.at("square") == square(p, {}).metrics.at("square"));
  }
  // A group that fails fails each of its points.
  FakeStore failing;
  Hooks f = failing.hooks(square);
  f.group_key = h.group_key;
  f.run_group = [](const std::vector<Point>&, const PointContext&) -> std::vector<Record> {
    throw loft::Error("boom");
  };
  const auto r2 = run_points(points, o, f);
  CHECK(r2.failures.size() == 3);
  for (const auto& fl : r2.failures) CHECK(fl.message == "boom");
}

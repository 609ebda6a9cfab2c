// The point store: round trip, layout, validation, and crash safety (temp name + rename).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "common/version.hpp"
#include "io/results/h5.hpp"
#include "io/results/store.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace loft::results;
using Catch::Matchers::Contains;
using loft::test::sample_record;
using loft::test::ScratchDir;

namespace {

std::vector<std::string> hidden_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().front() == '.') out.push_back(e.path().filename().string());
  return out;
}

void require_same(const Record& a, const Record& b) {
  REQUIRE(a.params == b.params);
  REQUIRE(a.metrics == b.metrics);
  REQUIRE(a.layers == b.layers);
  REQUIRE(a.train == b.train);
  REQUIRE(a.notes == b.notes);
  REQUIRE(a.layer_notes == b.layer_notes);
  REQUIRE(a.status == b.status);
  REQUIRE(a.seconds == b.seconds);
}

}  // namespace

TEST_CASE("write_point then read_point gives back the same record and provenance") {
  ScratchDir dir;
  Record r = sample_record("loftq", 3);
  r.params["lr"] = 2.5e-4;
  r.params["note"] = std::string("ünïcode ok");
  PointMeta meta{"quick", "name = quick\n[grid]\nrank = 8\n"};
  fs::path file = write_point(dir.path, "0123456789ab", r, meta);

  REQUIRE(file == dir.path / "points" / "0123456789ab.h5");
  REQUIRE(fs::exists(file));
  REQUIRE(hidden_files(dir.path / "points").empty());  // the temporary was renamed away

  StoredPoint p = read_point_file(file);
  REQUIRE(p.id == "0123456789ab");
  REQUIRE(p.host == host_name());
  require_same(p.record, r);
  require_same(read_point(file, "0123456789ab").record, r);

  FileInfo info = read_file_info(file);
  REQUIRE(info.name == "quick");
  REQUIRE(info.config == meta.config);
  REQUIRE(info.loftlab_version == loft::version());
  REQUIRE(info.git_commit == loft::git_commit());
  REQUIRE(std::regex_match(info.created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  REQUIRE(point_ids(file) == std::vector<std::string>{"0123456789ab"});
  REQUIRE(point_file_ids(dir.path) == std::vector<std::string>{"0123456789ab"});
}

TEST_CASE("a point file has the documented layout, tensor names with dots included") {
  ScratchDir dir;
  fs::path file = write_point(dir.path, "p1", sample_record("loftq", 2), {"n", ""});
  namespace h5 = loft::results::h5;
  h5::Handle f = h5::open_file(file);
  h5::Handle g = h5::open_group(f, "points/p1", "test");
  // Dotted names are one group each, not a path.
  h5::Handle layers = h5::open_group(g, "layers", "test");
  REQUIRE(h5::children(layers, "test") ==
          std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight",
                                   "model.layers.1.mlp.up_proj.weight"});
  REQUIRE(
      h5::read_doubles(g, "layers/model.layers.1.mlp.up_proj.weight/residual_fro", "t").size() ==
      3);
  REQUIRE(h5::children(g, "test") == std::vector<std::string>{"layers", "metrics", "train"});
  // Parameters and the store's own attributes, with their HDF5 types.
  REQUIRE(std::get<int64_t>(h5::read_attr(g, "rank", "t")) == 8);
  REQUIRE(std::get<std::string>(h5::read_attr(g, "method", "t")) == "loftq");
  REQUIRE(std::get<std::string>(h5::read_attr(g, "status", "t")) == "complete");
  REQUIRE(std::get<std::string>(h5::read_attr(g, "id", "t")) == "p1");
  REQUIRE(std::get<double>(h5::read_attr(g, "seconds", "t")) == 1.5);
  REQUIRE(h5::read_doubles(g, "metrics/bits_per_weight", "t") == std::vector<double>{4.5});
  for (const char* a : {"loftlab_version", "git_commit", "created", "config", "name"})
    REQUIRE(std::holds_alternative<std::string>(h5::read_attr(f, a, "t")));
}

TEST_CASE("notes are text beside a point's parameters, not among them") {
  ScratchDir dir;
  Record r = sample_record("loftq", 2);
  r.notes["alloc_rules"] = "model.layers.0.self_attn.q_proj.weight=nf3; *=nf2";
  r.layer_notes["model.layers.1.mlp.up_proj.weight"]["alloc_quant"] = "nf3:b64:dq";
  r.layer_notes["lm_head.weight"]["alloc_quant"] = "nf8";  // a tensor with notes only
  const fs::path file = write_point(dir.path, "p1", r, {});
  require_same(read_point_file(file).record, r);
  const auto header = check_point_file(dir.path, "p1");
  REQUIRE(header.state == PointFileCheck::State::valid);
  REQUIRE(header.header.record.params == r.params);  // no note became a parameter
  namespace h5 = loft::results::h5;
  h5::Handle f = h5::open_file(file);
  h5::Handle g = h5::open_group(f, "points/p1", "test");
  REQUIRE(h5::children(g, "test") ==
          std::vector<std::string>{"layers", "metrics", "notes", "train"});
  REQUIRE(h5::read_text_attr(h5::open_group(g, "notes", "t"), "alloc_rules", "t") ==
          r.notes["alloc_rules"]);
  REQUIRE(h5::read_text_attr(h5::open_group(g, "layers/model.layers.1.mlp.up_proj.weight", "t"),
                             "alloc_quant", "t") == "nf3:b64:dq");
  Record bad = r;
  bad.notes["a/b"] = "x";
  REQUIRE_THROWS_WITH(write_point(dir.path, "p2", bad, {}), Contains("note name 'a/b'"));
  bad = r;
  bad.layer_notes["t"]["."] = "x";
  REQUIRE_THROWS_WITH(write_point(dir.path, "p2", bad, {}), Contains("layer note name '.'"));
}

TEST_CASE("invalid ids and names are refused, naming them, and leave nothing behind") {
  ScratchDir dir;
  Record ok = sample_record("qlora", 0);
  REQUIRE_THROWS_WITH(write_point(dir.path, "../evil", ok, {}),
                      Contains("invalid point id '../evil'"));
  REQUIRE_THROWS_WITH(write_point(dir.path, "", ok, {}), Contains("invalid point id"));
  REQUIRE_THROWS_WITH(write_point(dir.path, ".hidden", ok, {}), Contains("invalid point id"));
  Record r = ok;
  r.params["status"] = std::string("x");
  REQUIRE_THROWS_WITH(write_point(dir.path, "a", r, {}), Contains("parameter 'status'"));
  r = ok;
  r.metrics["rank"] = 1;
  REQUIRE_THROWS_WITH(write_point(dir.path, "a", r, {}), Contains("metric 'rank'"));
  r = ok;
  r.metrics["error"] = 1;
  REQUIRE_THROWS_WITH(write_point(dir.path, "a", r, {}), Contains("metric 'error'"));
  r = ok;
  r.layers["a/b"]["residual_fro"] = {1};
  REQUIRE_THROWS_WITH(write_point(dir.path, "a", r, {}), Contains("tensor name 'a/b'"));
  r = ok;
  r.train["."] = {1};
  REQUIRE_THROWS_WITH(write_point(dir.path, "a", r, {}), Contains("train curve name '.'"));
  REQUIRE(point_file_ids(dir.path).empty());
  // Metrics live in their own group, so a metric may share a run attribute's name.
  r = ok;
  r.metrics["seconds"] = 2;
  r.metrics["host"] = 3;
  REQUIRE(read_point_file(write_point(dir.path, "fine", r, {})).record.metrics == r.metrics);
  fs::remove(point_path(dir.path, "fine"));
  if (fs::exists(dir.path / "points")) REQUIRE(fs::is_empty(dir.path / "points"));
}

TEST_CASE("reading errors name the file and what exists") {
  ScratchDir dir;
  fs::path file = write_point(dir.path, "abc", sample_record("qlora", 0), {});
  REQUIRE_THROWS_WITH(read_point(file, "nope"), Contains("no point 'nope'") && Contains("abc"));
  REQUIRE_THROWS_WITH(read_point(dir.path / "missing.h5", "abc"),
                      Contains("missing.h5") && Contains("no such file"));
  std::ofstream(dir.path / "junk.h5") << "not hdf5";
  REQUIRE_THROWS_WITH(read_point(dir.path / "junk.h5", "abc"),
                      Contains("junk.h5") && Contains("cannot open"));
}

TEST_CASE("rewriting a point replaces it whole") {
  ScratchDir dir;
  write_point(dir.path, "same", sample_record("loftq", 1, 0.0), {});
  Record second = sample_record("loftq", 4, 0.5);
  write_point(dir.path, "same", second, {});
  require_same(read_point_file(point_path(dir.path, "same")).record, second);
  REQUIRE(point_file_ids(dir.path) == std::vector<std::string>{"same"});
}

TEST_CASE("a writer killed just before the rename leaves no point file, only a stale temporary") {
  ScratchDir dir;
  Record earlier = sample_record("qlora", 0);
  write_point(dir.path, "earlier", earlier, {});

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    detail::before_rename_hook = [](const fs::path&) { _exit(7); };
    try {
      write_point(dir.path, "killed", sample_record("loftq", 5), {});
    } catch (...) {
    }
    _exit(0);  // not reached when the hook fires
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 7);

  fs::path points = dir.path / "points";
  REQUIRE_FALSE(fs::exists(point_path(dir.path, "killed")));
  auto temps = hidden_files(points);
  REQUIRE(temps.size() == 1);
  REQUIRE(temps[0].rfind(".killed.h5.tmp.", 0) == 0);
  REQUIRE(point_file_ids(dir.path) == std::vector<std::string>{"earlier"});
  require_same(read_point_file(point_path(dir.path, "earlier")).record, earlier);

  // A live writer's temporary (ours) and another host's are left alone; the dead one goes.
  std::ofstream(points / (".live.h5.tmp." + host_name() + "." + std::to_string(getpid()) + "-0"));
  std::ofstream(points / ".other.h5.tmp.some-other-host.1-0");
  REQUIRE(remove_stale_temps(dir.path) == 1);
  REQUIRE(hidden_files(points).size() == 2);
  REQUIRE_FALSE(fs::exists(points / temps[0]));
}

TEST_CASE("SIGKILL at an arbitrary moment never leaves a partial point file") {
  ScratchDir dir;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {  // never return into Catch from the child
      Record big = sample_record("loftq", 2);
      big.layers["model.big.weight"]["residual_fro"].assign(200000, 1.0);
      for (int i = 0;; ++i) {
        big.metrics["i"] = i;
        write_point(dir.path, fmt::format("p{}", i), big, {});
      }
    } catch (...) {
      _exit(1);
    }
  }
  // Let it write a few points, then kill it wherever it is.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (point_file_ids(dir.path).size() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(7));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));

  auto ids = point_file_ids(dir.path);
  REQUIRE(ids.size() >= 3);
  for (const auto& id : ids) {
    StoredPoint p = read_point_file(point_path(dir.path, id));
    REQUIRE(p.record.layers.at("model.big.weight").at("residual_fro").size() == 200000);
    REQUIRE(fmt::format("p{}", static_cast<int>(p.record.metrics.at("i"))) == id);
  }
  remove_stale_temps(dir.path);
  REQUIRE(hidden_files(dir.path / "points").empty());
}

TEST_CASE("points can be written from several threads at once") {
  ScratchDir dir;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i)
        write_point(dir.path, fmt::format("t{}i{}", t, i), sample_record("loftq", 2, t + i), {});
    });
  for (auto& th : threads) th.join();
  auto ids = point_file_ids(dir.path);
  REQUIRE(ids.size() == 20);
  for (const auto& id : ids) REQUIRE(read_point_file(point_path(dir.path, id)).id == id);
}

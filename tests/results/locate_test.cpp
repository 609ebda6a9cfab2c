// load_summary / load_point: what `loftlab inspect FILE` accepts (folder, results.h5, point file).
#include "io/results/locate.hpp"
#include "io/results/merge.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace loft::results;
using Catch::Matchers::Contains;
using loft::test::sample_record;
using loft::test::ScratchDir;

TEST_CASE("a folder, its results.h5 and a point file all give a summary") {
  ScratchDir dir;
  write_point(dir.path, "a", sample_record("qlora", 0), {});
  write_point(dir.path, "b", sample_record("loftq", 2), {});
  merge(dir.path);
  write_point(dir.path, "c", sample_record("qpissa", 1), {});  // after the merge

  // The folder reads its point files: current, c included; results.h5 is as of the merge.
  REQUIRE(load_summary(dir.path).column("id").values == std::vector<Value>{"a", "b", "c"});
  REQUIRE(load_summary(dir.path / "results.h5").column("id").values ==
          std::vector<Value>{"a", "b"});
  REQUIRE(load_summary(point_path(dir.path, "b")).column("method").values ==
          std::vector<Value>{"loftq"});
  REQUIRE(format_table(load_summary(dir.path / "results.h5")) ==
          format_table(filter_rows(load_summary(dir.path), {"id=a,b"})));
}

TEST_CASE("a folder with only results.h5 (points deleted) is read from results.h5") {
  ScratchDir dir;
  write_point(dir.path, "a", sample_record("qlora", 0), {});
  merge(dir.path);
  fs::remove_all(dir.path / "points");
  REQUIRE(load_summary(dir.path).rows() == 1);
  REQUIRE(load_point(dir.path, "a").record.params.at("method") == Value("qlora"));
}

TEST_CASE("load_point finds a point in each kind of path; unknown ids list what exists") {
  ScratchDir dir;
  Record r = sample_record("loftq", 3);
  write_point(dir.path, "a1", r, {});
  write_point(dir.path, "b2", sample_record("qlora", 0), {});
  merge(dir.path);
  for (const fs::path& p : {dir.path, dir.path / "results.h5", point_path(dir.path, "a1")})
    REQUIRE(load_point(p, "a1").record.layers == r.layers);
  REQUIRE_THROWS_WITH(load_point(dir.path, "zz"), Contains("no point 'zz'") && Contains("a1, b2"));
  REQUIRE_THROWS_WITH(load_point(dir.path, "../x"), Contains("no point '../x'"));
  REQUIRE_THROWS_WITH(load_point(dir.path / "results.h5", "zz"),
                      Contains("results.h5") && Contains("a1, b2"));
  REQUIRE_THROWS_WITH(load_summary(dir.path / "nope"), Contains("nope: no such file or folder"));
  fs::create_directories(dir.path / "empty");
  REQUIRE_THROWS_WITH(load_summary(dir.path / "empty"), Contains("not a results folder"));
}

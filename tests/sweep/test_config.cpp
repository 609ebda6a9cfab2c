// Sweep configs: INI parsing, overrides, and the errors a researcher sees for a bad config.
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "support.hpp"
#include "sweep/config.hpp"

using namespace loft::sweep;
using Catch::Matchers::Contains;

namespace {

const char* kText = R"(# a small sweep
name       = quick
experiment = residual
source     = synthetic:gaussian
layers     = *proj*, *w1*

[grid]
method     = qlora, loftq
rank       = 8,16
)";

}  // namespace

TEST_CASE("a config splits into name, experiment, fixed settings and grid axes", "[config]") {
  const auto c = parse_config(kText, "quick.ini");
  CHECK(c.name == "quick");
  CHECK(c.experiment == "residual");
  REQUIRE(c.fixed.size() == 2);
  CHECK(c.fixed[0].key == "source");
  CHECK(c.fixed[1].value == "*proj*, *w1*");  // top-level values are not split
  CHECK(c.fixed[1].origin == "quick.ini:5");
  REQUIRE(c.grid.size() == 2);
  CHECK(c.grid[1].key == "rank");
  CHECK(c.grid[1].origin == "quick.ini:9");
  CHECK(split_values(c.grid[0]) == std::vector<std::string>{"qlora", "loftq"});
  CHECK(split_values(c.grid[1]) == std::vector<std::string>{"8", "16"});
}

TEST_CASE("set overrides replace a key wherever it was", "[config]") {
  const auto c =
      parse_config(kText, "quick.ini", {"grid.source=a,b", "rank=4", "name=other", "seed=3"});
  CHECK(c.name == "other");
  REQUIRE(c.find("source"));
  CHECK(c.find("source")->value == "a,b");
  CHECK(c.find("source")->origin == "--set grid.source=a,b");
  CHECK(c.grid.size() == 2);  // method, source: rank moved to the top level
  CHECK(c.find("rank")->value == "4");
  CHECK(std::find_if(c.fixed.begin(), c.fixed.end(),
                     [](const Setting& s) { return s.key == "rank"; }) != c.fixed.end());
  CHECK(c.find("seed")->value == "3");
  // Spaces around the key after "grid." are trimmed, as in a file, so to_ini reads back the same.
  const auto spaced = parse_config(kText, "quick.ini", {"grid. rank =32"});
  REQUIRE(spaced.find("rank"));
  CHECK(spaced.find("rank")->value == "32");
  CHECK(to_ini(parse_config(to_ini(spaced), "again")) == to_ini(spaced));
}

TEST_CASE("to_ini writes the expanded config back in a form that reads the same", "[config]") {
  const auto c = parse_config(kText, "quick.ini", {"grid.rank=2,4", "seed=7"});
  const auto again = parse_config(to_ini(c), "expanded.ini");
  CHECK(to_ini(again) == to_ini(c));
  CHECK(again.name == c.name);
  CHECK(again.find("rank")->value == "2,4");
  CHECK(again.find("seed")->value == "7");
  // A file's "grid.   rank = ..." at the top level is grid.rank too, and reads back the same.
  const auto dotted =
      parse_config("name = d\nexperiment = residual\ngrid.   rank = 4, 8\n", "d.ini");
  REQUIRE(dotted.find("rank"));
  CHECK(dotted.find("rank")->value == "4, 8");
  CHECK(to_ini(parse_config(to_ini(dotted), "again")) == to_ini(dotted));
}

TEST_CASE("config errors name the file, line and key", "[config][errors]") {
  auto bad = [](std::string text, std::vector<std::string> sets = {}) {
    try {
      parse_config(text, "bad.ini", sets);
    } catch (const loft::Error& e) {
      return std::string(e.what());
    }
    FAIL("no error for:\n" << text);
    return std::string();
  };
  const std::string head = "name = x\nexperiment = residual\n";
  CHECK_THAT(bad(head + "rank = 4\nrank = 8\n"),
             Contains("bad.ini:4") && Contains("twice") && Contains("bad.ini:3"));
  CHECK_THAT(bad(head + "rank = 4\n[grid]\nrank = 8\n"),
             Contains("bad.ini:5") && Contains("already set at bad.ini:3"));
  CHECK_THAT(bad(head + "[model]\nrank = 4\n"), Contains("bad.ini:4") && Contains("[model]"));
  CHECK_THAT(bad(head + "seed =\n"), Contains("bad.ini:3") && Contains("'seed' is empty"));
  CHECK_THAT(bad("name = x\n"), Contains("no 'experiment"));
  CHECK_THAT(bad("experiment = residual\n"), Contains("no 'name"));
  CHECK_THAT(bad("name = ../up\nexperiment = residual\n"), Contains("not a folder name"));
  CHECK_THAT(bad(head + "[grid]\nname = a, b\n"), Contains("cannot be a grid axis"));
  CHECK_THAT(bad(head + "this line has no equals sign\n"),
             Contains("bad.ini: line 3") && Contains("'this line has no equals sign'"));
  // Boost's own message would loop forever substituting this placeholder.
  CHECK_THAT(bad(head + "sour%invalid_line%ce\n"),
             Contains("line 3") && Contains("%invalid_line%"));
  CHECK_THAT(bad(head, {"grid.rank=4\n[grid]"}), Contains("line break"));
  CHECK_THAT(bad(head, {"grid.rank=4#8"}), Contains("--set grid.rank=4#8") && Contains("'#'"));
  CHECK_THAT(bad(head, {"model.rank=4"}), Contains("--set model.rank=4") && Contains("'model'"));
  CHECK_THAT(bad(head, {"rank"}), Contains("--set rank") && Contains("KEY=VALUE"));
  // A key is an identifier, so that the config as it ran (to_ini) reads back the same: Boost
  // takes "[.d=1;]<VT>" for a key "[.d", which to_ini would write as a section header.
  CHECK_THAT(bad(head + "[grid]\n[.d=1;]\v \n"),
             Contains("bad.ini") && Contains("'[.d' is not a key name"));
  CHECK_THAT(bad(head + "my key = 1\n"), Contains("'my key' is not a key name"));
  CHECK_THAT(bad(head, {"grid.ra nk=4"}), Contains("'ra nk' is not a key name"));
}

TEST_CASE("unknown keys are errors naming the key, its line and the nearest valid key",
          "[config][errors]") {
  const auto c = parse_config("name = x\nexperiment = residual\n[grid]\nrnak = 4\n", "bad.ini");
  try {
    check_keys(c, {"source", "rank", "method"});
    FAIL("unknown key accepted");
  } catch (const loft::Error& e) {
    CHECK_THAT(e.what(), Contains("bad.ini:4") && Contains("'rnak'") &&
                             Contains("did you mean 'rank'") && Contains("residual"));
  }
  CHECK_NOTHROW(check_keys(parse_config(kText, "ok.ini"), {"source", "layers", "method", "rank"}));
}

TEST_CASE("grid values: empty lists and empty items are errors", "[config][errors]") {
  CHECK_THROWS_WITH(split_values({"rank", "", "f.ini:3"}),
                    Contains("f.ini:3") && Contains("'rank' has no values"));
  CHECK_THROWS_WITH(split_values({"rank", "4,,8", "f.ini:3"}),
                    Contains("empty value") && Contains("4,,8"));
  CHECK_THROWS_WITH(split_values({"rank", "4,", "f.ini:3"}), Contains("empty value"));
  CHECK(split_values({"rank", " 4 ", "f.ini:3"}) == std::vector<std::string>{"4"});
}

TEST_CASE("read_config names missing files and runs a config without a name as its stem",
          "[config]") {
  CHECK_THROWS_WITH(read_config("/nonexistent/sweep.ini"), Contains("/nonexistent/sweep.ini"));
  const auto dir =
      std::filesystem::temp_directory_path() / ("loft_sweep_cfg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "my-sweep.ini") << "experiment = residual\nrank = 4\n";
  CHECK(read_config(dir / "my-sweep.ini").name == "my-sweep");
  CHECK(read_config(dir / "my-sweep.ini", {"name=given"}).name == "given");
  std::filesystem::remove_all(dir);
}

TEST_CASE("edit distance and nearest key", "[config]") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("rank", "rank") == 0);
  CHECK(edit_distance("rnak", "rank") == 2);
  CHECK(nearest("qaunt", {"method", "quant", "rank"}) == "quant");
  CHECK(nearest("step", {"steps", "seed", "stop"}) == "steps");
}

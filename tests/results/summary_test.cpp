// The summary table's operations behind `loftlab inspect`: filter, sort, aligned printing.
#include <cmath>
#include <limits>
#include <regex>

#include "io/results/summary.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

using namespace loft::results;
using Catch::Matchers::Contains;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Three points: qlora (no steps), loftq steps 1, loftq steps 5 (ids p0..p2).
Summary three_points() {
  std::vector<StoredPoint> pts;
  for (auto [id, method, steps, err] : {std::tuple{"p2", "loftq", 5, 0.4},
                                        {"p0", "qlora", 0, 0.0},
                                        {"p1", "loftq", 1, 0.123456789}}) {
    StoredPoint p;
    p.id = id;
    p.record.params["method"] = std::string(method);
    p.record.params["rank"] = int64_t{id[1] == '1' ? 16 : 8};
    if (steps) p.record.params["steps"] = int64_t{steps};
    if (steps) p.record.metrics["err_reduction_fro"] = err;
    pts.push_back(p);
  }
  return build_summary(pts);
}

std::vector<Value> ids(const Summary& s) {
  return s.column("id").values;
}

}  // namespace

TEST_CASE("build_summary sorts rows by id and types columns") {
  Summary s = three_points();
  REQUIRE(ids(s) == std::vector<Value>{"p0", "p1", "p2"});
  REQUIRE(s.column("rank").kind == Column::Kind::Int);
  REQUIRE(s.column("steps").kind == Column::Kind::Real);
  REQUIRE(std::isnan(std::get<double>(s.column("steps").values[0])));
  REQUIRE_THROWS_WITH(s.column("bits"),
                      Contains("unknown column 'bits'") && Contains("method, rank"));
}

TEST_CASE("a metric named like a parameter cannot make a summary") {
  StoredPoint p{"x", "", {}};
  p.record.params["rank"] = int64_t{8};
  p.record.metrics["rank"] = 1;
  REQUIRE_THROWS_WITH(build_summary({p}), Contains("metric 'rank'"));
}

TEST_CASE("filter_rows: key=value, any of several values, NaN, values as displayed") {
  Summary s = three_points();
  REQUIRE(ids(filter_rows(s, {"method=loftq"})) == std::vector<Value>{"p1", "p2"});
  REQUIRE(ids(filter_rows(s, {"method=loftq", "rank=8"})) == std::vector<Value>{"p2"});
  REQUIRE(ids(filter_rows(s, {"rank=8,16"})).size() == 3);
  REQUIRE(ids(filter_rows(s, {"steps=-"})) == std::vector<Value>{"p0"});
  REQUIRE(ids(filter_rows(s, {"steps=5"})) == std::vector<Value>{"p2"});
  REQUIRE(ids(filter_rows(s, {"err_reduction_fro=0.123457"})) == std::vector<Value>{"p1"});
  REQUIRE(filter_rows(s, {"method=lora"}).rows() == 0);
  REQUIRE_THROWS_WITH(filter_rows(s, {"bits=4"}),
                      Contains("unknown column 'bits'") && Contains("steps"));
  REQUIRE_THROWS_WITH(filter_rows(s, {"rank=eight"}), Contains("'eight' is not a number"));
  REQUIRE_THROWS_WITH(filter_rows(s, {"rank"}), Contains("expected key=value"));
}

TEST_CASE("sort_rows: numbers ascending with NaN last, descending, text, stable on ties") {
  Summary s = three_points();
  sort_rows(s, "err_reduction_fro");
  REQUIRE(ids(s) == std::vector<Value>{"p1", "p2", "p0"});
  sort_rows(s, "err_reduction_fro", true);
  REQUIRE(ids(s) == std::vector<Value>{"p2", "p1", "p0"});
  sort_rows(s, "id");
  sort_rows(s, "method");
  REQUIRE(ids(s) == std::vector<Value>{"p1", "p2", "p0"});
  sort_rows(s, "rank");  // p1 has 16, ties keep their order
  REQUIRE(ids(s) == std::vector<Value>{"p2", "p0", "p1"});
  REQUIRE_THROWS_WITH(sort_rows(s, "nope"), Contains("unknown column 'nope'"));
}

TEST_CASE("format_table aligns columns: text left, numbers right, - for NaN") {
  Summary s = three_points();
  std::string t = format_table(s);
  std::vector<std::string> lines;
  for (size_t a = 0, b; (b = t.find('\n', a)) != std::string::npos; a = b + 1)
    lines.push_back(t.substr(a, b - a));
  REQUIRE(lines.size() == 4);
  REQUIRE(
      std::regex_match(lines[0], std::regex("id +status +method +rank +steps +err_reduction_fro")));
  // The last column is numeric, so right alignment gives every line the same length.
  for (const auto& l : lines) REQUIRE(l.size() == lines[0].size());
  REQUIRE(lines[1].find("qlora") == lines[0].find("method"));
  REQUIRE(lines[1].back() == '-');
  REQUIRE(lines[2].find("0.123457") != std::string::npos);
  REQUIRE(format_value(kNaN) == "-");
  REQUIRE(format_value(int64_t{-3}) == "-3");
  REQUIRE(format_value(std::string("x")) == "x");
}

TEST_CASE("a parameter that is text in some point makes a text column, numbers kept exact") {
  StoredPoint a{"a", "", {}}, b{"b", "", {}}, c{"c", "", {}};
  a.record.params["lr"] = 0.000123456789;
  b.record.params["lr"] = std::string("auto");
  c.record.params["lr"] = int64_t{3};
  Summary s = build_summary({a, b, c});
  REQUIRE(s.column("lr").kind == Column::Kind::Text);
  REQUIRE(s.column("lr").values == std::vector<Value>{"0.000123456789", "auto", "3"});
}

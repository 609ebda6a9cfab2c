// Grid expansion, collapsing and point ids.
#include <algorithm>
#include <random>

#include "common/error.hpp"
#include "support.hpp"
#include "sweep/grid.hpp"

using namespace loft::sweep;
using Catch::Matchers::Contains;

namespace {

const std::vector<KeyDefault> kKeys = {
    {"source", ""}, {"method", "qlora"}, {"rank", "8"}, {"steps", "1"}, {"seed", "0"}};

// A toy experiment: steps apply to loftq only, rank must be a positive integer.
Params toy_normalise(const RawPoint& raw) {
  Params p;
  p["source"] = raw.at("source");
  p["method"] = raw.at("method");
  const auto rank = std::stoll(raw.at("rank"));
  if (rank <= 0) loft::fail("rank: '{}' is not a positive integer", raw.at("rank"));
  p["rank"] = int64_t{rank};
  p["seed"] = int64_t{std::stoll(raw.at("seed"))};
  if (raw.at("method") == "loftq") p["steps"] = int64_t{std::stoll(raw.at("steps"))};
  return p;
}

std::vector<std::string> ids(const Expansion& e) {
  std::vector<std::string> out;
  for (size_t i = 0; i < e.size(); ++i) out.push_back(e.id(i));
  return out;
}

}  // namespace

TEST_CASE("FNV-1a 64 matches its published test vectors", "[ids]") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("canonical text: sorted keys, typed numbers, escaped strings", "[ids]") {
  Params p{{"rank", int64_t{8}}, {"alpha", 16.0}, {"lr", 1e-5}, {"a", std::string("x;y=z\\")}};
  CHECK(canonical(p) == "a=x\\;y\\=z\\\\;alpha=16.0;lr=1e-05;rank=8;");
  CHECK(canonical(Value{4.0}) != canonical(Value{int64_t{4}}));
  CHECK(canonical(Value{0.1}) == "0.1");
  CHECK(canonical(Value{int64_t{-3}}) == "-3");
}

TEST_CASE("point ids are a stable contract: these ids must never change", "[ids]") {
  // Results folders on disk are keyed by these ids; a change here orphans every existing point.
  Params p{{"experiment", std::string("residual")},
           {"method", std::string("loftq")},
           {"quant", std::string("nf2")},
           {"rank", int64_t{8}},
           {"steps", int64_t{5}},
           {"seed", int64_t{0}}};
  CHECK(canonical(p) == "experiment=residual;method=loftq;quant=nf2;rank=8;seed=0;steps=5;");
  const auto expected = fmt::format("{:012x}", fnv1a64(canonical(p)) >> 16);
  CHECK(point_id(p) == expected);
  CHECK(point_id(p).size() == 12);
  CHECK(point_id(p) == "e2010b65e575");
}

TEST_CASE("the grid is crossed, normalised, collapsed and sorted by id", "[grid]") {
  const auto c = parse_config(
      "name = g\nexperiment = toy\nsource = synthetic:gaussian\n[grid]\n"
      "method = qlora, loftq\nrank = 4, 8\nsteps = 1, 2, 5\n",
      "g.ini");
  const auto e = expand(c, kKeys, toy_normalise);
  CHECK(e.combinations == 12);
  CHECK(e.size() == 2 + 2 * 3);  // qlora ignores steps: 2 points, not 6
  const auto sorted = ids(e);
  CHECK(std::is_sorted(sorted.begin(), sorted.end()));
  for (size_t i = 0; i < e.size(); ++i) {
    const Point p = e.point(i);
    CHECK(std::get<std::string>(p.params.at("experiment")) == "toy");
    CHECK(p.id == point_id(p.params));
    CHECK(std::get<int64_t>(p.params.at("seed")) == 0);  // the default
    CHECK(p.params.count("steps") == (std::get<std::string>(p.params.at("method")) == "loftq"));
  }
}

TEST_CASE("ids and order do not depend on the order of the grid", "[grid][ids]") {
  std::vector<std::string> axes = {"method = qlora, loftq", "rank = 4, 8, 16", "steps = 1, 2",
                                   "seed = 0, 1"};
  auto run = [&](std::vector<std::string> lines, bool shuffle_values, uint64_t seed) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::shuffle(lines.begin(), lines.end(), rng);
    std::string text = "name = g\nexperiment = toy\nsource = s\n[grid]\n";
    for (auto& l : lines) {
      if (shuffle_values) {
        const auto eq = l.find('=');
        auto values = split_values({"k", l.substr(eq + 1), "t"});
        std::shuffle(values.begin(), values.end(), rng);
        l = l.substr(0, eq + 1);
        for (size_t i = 0; i < values.size(); ++i) l += (i ? ", " : " ") + values[i];
      }
      text += l + "\n";
    }
    return expand(parse_config(text, "g.ini"), kKeys, toy_normalise);
  };
  const auto a = run(axes, false, 1);
  for (uint64_t s = 2; s < 6; ++s) {
    const auto b = run(axes, true, s);
    CHECK(ids(b) == ids(a));
    CHECK(b.combinations == a.combinations);
  }
}

TEST_CASE("expansion errors name the config and the problem", "[grid][errors]") {
  CHECK_THROWS_WITH(
      expand(parse_config("name=g\nexperiment=toy\nmethod=qlora\n", "g.ini"), kKeys, toy_normalise),
      Contains("g.ini") && Contains("required key 'source'"));
  CHECK_THROWS_WITH(
      expand(parse_config("name=g\nexperiment=toy\nsource=s\n[grid]\nrank=4,-2\n", "g.ini"), kKeys,
             toy_normalise),
      Contains("g.ini") && Contains("rank: '-2'") && Contains("rank=-2"));
  CHECK_THROWS_WITH(
      expand(parse_config("name=g\nexperiment=toy\nsource=s\n[grid]\nrnk=4\n", "g.ini"), kKeys,
             toy_normalise),
      Contains("g.ini:5") && Contains("did you mean 'rank'"));
  CHECK_THROWS_WITH(
      expand(parse_config("name=g\nexperiment=toy\nsource=s\n[grid]\nrank=\n", "g.ini"), kKeys,
             toy_normalise),
      Contains("g.ini:5") && Contains("no values"));
}

TEST_CASE("a config without a grid is one point", "[grid]") {
  const auto e =
      expand(parse_config("name=g\nexperiment=toy\nsource=s\n", "g.ini"), kKeys, toy_normalise);
  CHECK(e.combinations == 1);
  REQUIRE(e.size() == 1);
  CHECK(std::get<int64_t>(e.point(0).params.at("rank")) == 8);
}

TEST_CASE("a grid larger than kMaxCombinations is refused before any work", "[grid][errors]") {
  std::string values;
  for (int i = 1; i <= 1000; ++i) values += fmt::format("{}{}", i > 1 ? "," : "", i);
  int calls = 0;
  const Normalise counting = [&](const RawPoint& r) {
    ++calls;
    return toy_normalise(r);
  };
  const std::string text =
      "name=g\nexperiment=toy\nsource=s\n[grid]\nrank=" + values + "\nseed=" + values + "\n";
  const auto e = expand(parse_config(text, "g.ini"), kKeys, counting);  // 10^6: the bound
  CHECK(e.size() == 1'000'000);
  CHECK(e.combinations == 1'000'000);
  CHECK_THROWS_WITH(expand(parse_config(text + "steps=1,2\n", "g.ini"), kKeys, counting),
                    Contains("g.ini") && Contains("more than 1000000 combinations") &&
                        Contains("1000 rank x 1000 seed x 2 steps"));
  CHECK(calls == 1'000'000);  // the refused grid normalised nothing
  // Every point is rebuilt on demand, the same as when it was expanded.
  const Point p = e.point(123456);
  CHECK(p.id == e.id(123456));
  CHECK(point_id(p.params) == p.id);
}

TEST_CASE("combinations that collapse are compared, so one id is always one point", "[grid]") {
  int calls = 0;
  const Normalise drop_rank = [&](const RawPoint& r) {
    ++calls;
    return Params{{"source", r.at("source")}};  // every combination is the same point
  };
  const auto e =
      expand(parse_config("name=g\nexperiment=toy\nsource=s\n[grid]\nrank=1,2,3,4\n", "g.ini"),
             kKeys, drop_rank);
  CHECK(e.size() == 1);
  CHECK(e.combinations == 4);
}

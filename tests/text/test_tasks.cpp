// Classification tasks: the shared preparation (dedupe, balance, hash split) on synthetic data,
// the package tasks (skipped with a message when not installed), and the error cases.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.hpp"
#include "packages.hpp"
#include "support.hpp"
#include "text/tasks.hpp"

using namespace loft;
namespace fs = std::filesystem;

namespace {

std::vector<text::LabelledText> synthetic(int per_label, int labels) {
  std::vector<text::LabelledText> raw;
  for (int l = 0; l < labels; ++l)
    for (int i = 0; i < per_label; ++i)
      raw.push_back({fmt::format("example {} of {}", i, l), fmt::format("c{}", l)});
  return raw;
}

std::set<std::string> texts(const std::vector<text::Example>& s) {
  std::set<std::string> out;
  for (const auto& e : s) out.insert(e.text);
  return out;
}

void check_disjoint(const text::Task& t) {
  const auto a = texts(t.train), b = texts(t.validation), c = texts(t.test);
  for (const auto& x : b) REQUIRE_FALSE(a.count(x));
  for (const auto& x : c) REQUIRE_FALSE(a.count(x));
  for (const auto& x : c) REQUIRE_FALSE(b.count(x));
}

}  // namespace

TEST_CASE("tasks: splits are disjoint, balanced, order-free and stable when data is added") {
  text::TaskOptions opt;
  opt.max_per_class = 10000;
  auto raw = synthetic(500, 3);
  raw.push_back({"example 7 of 0", "c0"});  // a duplicate: counted once
  const auto t = text::prepare_task("syn", raw, opt, false);
  REQUIRE(t.labels == std::vector<std::string>{"c0", "c1", "c2"});
  check_disjoint(t);
  const size_t total = t.train.size() + t.validation.size() + t.test.size();
  CHECK(total == 1500);
  // Each split is near its fraction (500 per class, 10% +- a few sigma).
  CHECK(t.test.size() > 100);
  CHECK(t.test.size() < 200);
  CHECK(t.validation.size() > 100);
  CHECK(t.validation.size() < 200);

  // Reversed input, and more examples added: every old example stays on its side.
  auto more = synthetic(600, 3);
  std::reverse(more.begin(), more.end());
  const auto t2 = text::prepare_task("syn", more, opt, false);
  const auto test2 = texts(t2.test), val2 = texts(t2.validation);
  for (const auto& x : texts(t.test)) REQUIRE(test2.count(x));
  for (const auto& x : texts(t.validation)) REQUIRE(val2.count(x));
  for (const auto& e : t.train) REQUIRE(text::split_of(e.text, opt) == 0);
}

TEST_CASE("tasks: classes are down-sampled to the smallest, and ambiguous texts dropped") {
  text::TaskOptions opt;
  auto raw = synthetic(300, 2);
  for (int i = 0; i < 100; ++i) raw.push_back({fmt::format("small {}", i), "c9"});
  raw.push_back({"example 1 of 0", "c1"});  // same text, other label: no answer, dropped
  const auto t = text::prepare_task("syn", raw, opt, false);
  REQUIRE(t.labels.size() == 3);
  std::vector<int> total(3, 0);
  for (const auto* s : {&t.train, &t.validation, &t.test}) {
    const auto c = t.counts(*s);
    for (int i = 0; i < 3; ++i) total[i] += c[i];
  }
  CHECK(total == std::vector<int>{100, 100, 100});
  for (const auto* s : {&t.train, &t.validation, &t.test})
    for (const auto& e : *s) CHECK(e.text != "example 1 of 0");
  // The cap applies too.
  opt.max_per_class = 40;
  const auto capped = text::prepare_task("syn", raw, opt, false);
  CHECK(capped.train.size() + capped.validation.size() + capped.test.size() == 120);
}

TEST_CASE("tasks: one class, a class too small to keep and bad specs are clear errors") {
  text::TaskOptions opt;
  REQUIRE_THROWS_WITH(text::prepare_task("one", synthetic(100, 1), opt, false),
                      Catch::Contains("one") && Catch::Contains("two at least"));
  auto raw = synthetic(100, 1);
  for (int i = 0; i < 5; ++i) raw.push_back({fmt::format("rare {}", i), "rare"});
  opt.min_per_class = 20;
  REQUIRE_THROWS_WITH(text::prepare_task("drop", raw, opt, true),
                      Catch::Contains("under 20 examples"));
  REQUIRE_THROWS_WITH(text::load_task("nosuch:x"), Catch::Contains("unknown task 'nosuch:x'") &&
                                                       Catch::Contains("kjv:testament"));
  REQUIRE_THROWS_WITH(text::load_task("kjv"), Catch::Contains("needs an argument"));
  REQUIRE_THROWS_WITH(text::load_task("kjv:psalms"), Catch::Contains("kjv:psalms"));
  REQUIRE_THROWS_WITH(text::load_task("file:/nonexistent/x.tsv"),
                      Catch::Contains("/nonexistent/x.tsv"));
}

TEST_CASE("tasks: file:PATH.tsv reads label<TAB>text and names a bad line") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("loft_tasks_{}", ::getpid());
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "t.tsv");
    for (int i = 0; i < 60; ++i) f << (i % 2 ? "pos" : "neg") << "\ttext number " << i << "\n";
  }
  const auto t = text::load_task("file:" + (dir / "t.tsv").string());
  CHECK(t.labels == std::vector<std::string>{"neg", "pos"});
  CHECK(t.train.size() + t.validation.size() + t.test.size() == 60);
  {
    std::ofstream f(dir / "bad.tsv");
    f << "pos\tfine\nno tab here\n";
  }
  REQUIRE_THROWS_WITH(text::load_task("file:" + (dir / "bad.tsv").string()),
                      Catch::Contains("line 2") && Catch::Contains("no tab here"));
  fs::remove_all(dir);
}

TEST_CASE("tasks: fortunes by topic, and an empty or unknown category names it") {
  REQUIRE_PACKAGE_FILE("/usr/share/games/fortunes/computers");
  const auto t = text::load_task("fortunes:computers,love");
  CHECK(t.labels == std::vector<std::string>{"computers", "love"});
  check_disjoint(t);
  const auto c = t.counts(t.train);
  CHECK(c[0] > 50);
  CHECK(std::abs(c[0] - c[1]) < c[0] / 3);  // balanced up to the split's noise
  CHECK(text::load_task("fortunes:love+computers").labels == t.labels);  // the grid's form
  REQUIRE_THROWS_WITH(text::load_task("fortunes:computers,nosuchtopic"),
                      Catch::Contains("nosuchtopic"));
  const auto all = text::load_task("fortunes:all");
  CHECK(all.labels.size() > 10);
}

TEST_CASE("tasks: kjv testament and books") {
  REQUIRE_PACKAGE_FILE("/usr/lib/bible.data");
  REQUIRE_PACKAGE_FILE("/usr/bin/bible");
  text::TaskOptions opt;
  opt.max_per_class = 200;
  const auto t = text::load_task("kjv:testament", opt);
  CHECK(t.labels == std::vector<std::string>{"new", "old"});
  CHECK(t.train.size() + t.validation.size() + t.test.size() == 400);
  const auto b = text::load_task("kjv:books", opt);
  CHECK(b.labels.size() > 50);
  check_disjoint(b);
}

TEST_CASE("tasks: wordnet supersense, and its missing package is named") {
  REQUIRE_PACKAGE_FILE("/usr/share/wordnet/data.noun");
  text::TaskOptions opt;
  opt.max_per_class = 100;
  const auto t = text::load_task("wordnet:supersense", opt);
  CHECK(t.labels.size() > 30);
  CHECK(std::find(t.labels.begin(), t.labels.end(), "noun.animal") != t.labels.end());
  ::setenv("LOFTLAB_CORPUS_ROOT", "/nonexistent-root", 1);
  REQUIRE_THROWS_WITH(text::load_task("wordnet:supersense"),
                      Catch::Contains("wordnet-base") && Catch::Contains("make deps"));
  ::unsetenv("LOFTLAB_CORPUS_ROOT");
}

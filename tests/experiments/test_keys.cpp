// Every experiment's key table types its keys; KeyValues reads them as the table says, and
// check_once runs a check once per key.
#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "common/error.hpp"
#include "experiments/experiment.hpp"
#include "experiments/keys.hpp"
#include "io/io_test_util.hpp"
#include "support.hpp"

using namespace loft;
using Catch::Matchers::Contains;
using loft::test::error_of;

namespace {

using Raw = std::map<std::string, std::string>;

Raw defaults(const exp::Experiment& e) {
  Raw raw;
  for (const auto& k : e.keys) raw[k.name] = k.default_value;
  return raw;
}

// The value of `key` read from a config that sets it to `text`, or the error it gives.
std::string read(const exp::Experiment& e, const exp::Key& key, const std::string& text) {
  Raw raw = defaults(e);
  raw[key.name] = text;
  const exp::KeyValues in(e.keys, raw);
  std::string out;
  const std::string error = error_of([&] {
    out = key.kind == exp::Key::Kind::integer ? std::to_string(in.integer(key.name))
                                              : std::to_string(in.number(key.name));
  });
  return error == "(no error)" ? out : "error: " + error;
}

}  // namespace

TEST_CASE("every experiment key has a unique name and a default of its own kind", "[keys]") {
  for (const auto& e : exp::experiments()) {
    std::set<std::string> names;
    const Raw raw = defaults(e);
    const exp::KeyValues in(e.keys, raw);
    for (const auto& k : e.keys) {
      INFO(e.name << "." << k.name);
      CHECK(names.insert(k.name).second);
      CHECK_FALSE(k.help.empty());
      if (k.default_value.empty()) continue;  // required: the config sets it
      if (k.kind == exp::Key::Kind::integer) {
        CHECK(k.min <= k.max);
        CHECK_NOTHROW(in.integer(k.name));
      } else if (k.kind == exp::Key::Kind::number) {
        CHECK_NOTHROW(in.number(k.name));
      }
    }
  }
}

TEST_CASE("integer keys take exactly their range, written as plain decimal", "[keys]") {
  size_t checked = 0;
  for (const auto& e : exp::experiments())
    for (const auto& k : e.keys) {
      if (k.kind != exp::Key::Kind::integer) continue;
      INFO(e.name << "." << k.name);
      ++checked;
      CHECK(read(e, k, std::to_string(k.min)) == std::to_string(k.min));
      CHECK(read(e, k, std::to_string(k.max)) == std::to_string(k.max));
      if (k.min > std::numeric_limits<int64_t>::min())
        CHECK_THAT(read(e, k, std::to_string(k.min - 1)),
                   Contains(k.name) && Contains(fmt::format("{}..{}", k.min, k.max)));
      if (k.max < std::numeric_limits<int64_t>::max())
        CHECK_THAT(read(e, k, std::to_string(k.max + 1)), Contains("error"));
      for (const char* bad : {"", "1.5", " 1", "+1", "1e3", "0x10", "99999999999999999999", "one"})
        CHECK_THAT(read(e, k, bad), Contains("error") && Contains(fmt::format("'{}'", bad)));
    }
  CHECK(checked >= 20);  // steps, seed, batch, ... of the four experiments
}

TEST_CASE("number keys take finite numbers above zero (or from it, where 0 is allowed)", "[keys]") {
  size_t checked = 0;
  for (const auto& e : exp::experiments())
    for (const auto& k : e.keys) {
      if (k.kind != exp::Key::Kind::number) continue;
      INFO(e.name << "." << k.name);
      ++checked;
      CHECK(read(e, k, "0.5") == std::to_string(0.5));
      CHECK(read(e, k, "1e-3") == std::to_string(1e-3));
      CHECK(read(e, k, "0").starts_with("error") != k.zero_ok);
      for (const char* bad : {"-1", "nan", "inf", "1,5", "", "two", "1e999"})
        CHECK_THAT(read(e, k, bad), Contains("error") && Contains(fmt::format("'{}'", bad)));
    }
  CHECK(checked >= 5);  // alpha, damping, lr, lora_alpha, weight_decay
}

TEST_CASE("a key read as another kind than its table says is a bug, not a user error", "[keys]") {
  const auto& e = exp::find_experiment("residual");
  const Raw raw = defaults(e);
  const exp::KeyValues in(e.keys, raw);
  CHECK_THROWS_AS(in.integer("source"), std::logic_error);
  CHECK_THROWS_AS(in.text("steps"), std::logic_error);
  CHECK_THROWS_AS(in.text("no_such_key"), std::logic_error);
  CHECK(exp::describe_kind(exp::integer_key("k", "1", 0, 9, "h")) == "integer in 0..9");
  CHECK(exp::describe_kind(exp::number_key("k", "1", true, "h")) == "number >= 0");
  CHECK(exp::describe_kind(exp::number_key("k", "1", false, "h")) == "number > 0");
}

TEST_CASE("check_once runs a check once per key and repeats how it ended", "[keys]") {
  const std::string unique = std::to_string(reinterpret_cast<uintptr_t>(&unique));
  int runs = 0;
  auto passing = [&] { ++runs; };
  exp::check_once("good" + unique, "source 'x'", passing);
  exp::check_once("good" + unique, "source 'x'", passing);
  CHECK(runs == 1);
  auto failing = [&] {
    ++runs;
    fail("no such file");
  };
  for (int i = 0; i < 3; ++i)
    CHECK_THROWS_WITH(exp::check_once("bad" + unique, "model 'y'", failing),
                      Contains("model 'y': no such file"));
  CHECK(runs == 2);
  // The same key under another subject is another check.
  exp::check_once("good" + unique, "model 'x'", passing);
  CHECK(runs == 3);
}

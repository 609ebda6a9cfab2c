// Experiment keys are range-checked as written, with upper bounds, before anything runs.
#include "common/error.hpp"
#include "experiments/experiment.hpp"
#include "io/io_test_util.hpp"
#include "support.hpp"

using namespace loft;
using Catch::Matchers::Contains;
using loft::test::error_of;

namespace {

std::string normalise_error(const char* experiment, std::map<std::string, std::string> set) {
  const auto& e = exp::find_experiment(experiment);
  std::map<std::string, std::string> raw;
  for (const auto& k : e.keys) raw[k.name] = k.default_value;
  for (auto& [k, v] : set) raw[k] = v;
  return error_of([&] { e.normalise(raw); });
}

}  // namespace

TEST_CASE("residual and pretrain keys have upper bounds", "[bounds]") {
  const std::string src = "synthetic:gaussian:shape=16x16";
  CHECK_THAT(normalise_error("residual", {{"source", src}, {"steps", "100000"}}),
             Contains("steps") && Contains("'100000'") && Contains("0..10000"));
  CHECK_THAT(normalise_error("residual", {{"source", src}, {"seed", "99999999999999999999"}}),
             Contains("'99999999999999999999'"));
  CHECK_THAT(normalise_error("pretrain", {{"model", "m"}, {"dim", "4294967296"}}),
             Contains("dim") && Contains("'4294967296'"));  // no wrap to 0 through int
  CHECK_THAT(normalise_error("pretrain", {{"model", "m"},
                                          {"dim", "8192"},
                                          {"hidden_dim", "32768"},
                                          {"n_layers", "1024"},
                                          {"n_heads", "64"},
                                          {"n_kv_heads", "64"}}),
             Contains("parameters") && Contains("smaller"));
  CHECK_THAT(normalise_error("pretrain", {{"model", "m"}, {"batch", "1000000"}}),
             Contains("batch") && Contains("1..4096"));
}

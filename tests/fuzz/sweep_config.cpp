// Sweep configs: INI text plus --set overrides, then the grid expanded by the named experiment
// (which parses every value). A loft::Error or a config whose to_ini text reads back the same.
#include "experiments/experiment.hpp"
#include "support.hpp"
#include "sweep/config.hpp"
#include "sweep/grid.hpp"

namespace {

// Grids larger than this are not expanded here: expansion cost is linear in the combinations
// and the bound itself (sweep::kMaxCombinations) is tested in tests/sweep.
constexpr size_t kMaxFuzzCombinations = 64;

void expand(const loft::sweep::Config& config) {
  size_t combinations = 1;
  for (const auto& axis : config.grid) {
    combinations *= loft::sweep::split_values(axis).size();
    if (combinations > kMaxFuzzCombinations) return;
  }
  const auto& experiment = loft::exp::find_experiment(config.experiment);
  std::vector<loft::sweep::KeyDefault> keys;
  for (const auto& k : experiment.keys) keys.push_back({k.name, k.default_value});
  const auto expansion = loft::sweep::expand(config, keys, experiment.normalise);
  for (size_t i = 0; i < expansion.size(); ++i) (void)expansion.point(i);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::string> overrides(in.ConsumeIntegralInRange<size_t>(0, 3));
  for (auto& o : overrides) o = in.ConsumeRandomLengthString(96);
  const std::string text = in.ConsumeRemainingBytesAsString();
  loft::fuzz::expect_clean([&] {
    const auto config = loft::sweep::parse_config(text, "fuzz.ini", overrides);
    const std::string ini = loft::sweep::to_ini(config);
    loft::fuzz::require(loft::sweep::to_ini(loft::sweep::parse_config(ini, "to_ini")) == ini,
                        "to_ini text parses back to the same config");
    expand(config);
  });
  return 0;
}

#include "init/rank.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string>

#include "common/error.hpp"
#include "lowrank/svd.hpp"

namespace loft::init {

RankSpec parse_rank(std::string_view text) {
  RankSpec spec;
  constexpr std::string_view kEnergy = "energy:";
  const char* valid = "valid: a positive integer such as 64, or energy:F with 0 < F <= 1";
  if (text.substr(0, kEnergy.size()) == kEnergy) {
    const std::string_view value = text.substr(kEnergy.size());
    double f = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), f);
    if (ec != std::errc() || end != value.data() + value.size() || !(f > 0 && f <= 1))
      fail("rank '{}': the energy fraction must be a number in (0, 1] ({})", text, valid);
    spec.energy = f;
    return spec;
  }
  int r = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), r);
  if (ec != std::errc() || end != text.data() + text.size() || r < 1)
    fail("rank '{}' is not valid ({})", text, valid);
  spec.fixed = r;
  return spec;
}

std::string format(const RankSpec& spec) {
  if (spec.fixed > 0) return std::to_string(spec.fixed);
  return fmt::format("energy:{}", spec.energy);
}

int energy_rank(const Eigen::VectorXf& values, double fraction) {
  double total = 0;
  for (float v : values) total += double(v) * v;
  double sum = 0;
  for (Eigen::Index i = 0; i < values.size(); ++i) {
    sum += double(values(i)) * values(i);
    if (sum >= fraction * total) return static_cast<int>(i) + 1;
  }
  return std::max<int>(1, static_cast<int>(values.size()));
}

int resolve_rank(const RankSpec& spec, ConstMatrixRef w, const std::optional<quant::Spec>& q) {
  if (spec.fixed > 0) return spec.fixed;
  if (!(spec.energy > 0 && spec.energy <= 1))
    fail("rank spec has neither a fixed rank nor an energy fraction in (0, 1]");
  const Matrix residual = q ? Matrix(w - quant::fake_quantize(*q, w)) : Matrix(w);
  return energy_rank(lowrank::singular_values(residual), spec.energy);
}

}  // namespace loft::init

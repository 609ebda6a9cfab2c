#pragma once
// Helpers shared by the quant tests: specs derived from every registry row and option, seeded
// Gaussian data, adversarial buffers, bit-exact comparison of two quantised buffers.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/rng.hpp"
#include "quant/registry.hpp"
#include "support.hpp"

namespace loft::test {

// Every row with what it takes, and nothing it does not: its default block and each of 8, 32
// and 128 that it takes, each with every combination of its options. (b8 reaches the portable
// loops and tails that the AVX-512 paths leave, 16 values per register, so those are checked
// against the reference on AVX-512 machines too.)
inline std::vector<quant::Spec> specs_of(const quant::Quantizer& row) {
  std::vector<int> blocks = {row.blocks.default_block};
  for (int b : {8, 32, 128})
    if (row.blocks.allows(b) && b != row.blocks.default_block) blocks.push_back(b);
  std::vector<quant::Spec> specs;
  for (int b : blocks) {
    for (std::size_t mask = 0; mask < (std::size_t{1} << row.options.size()); ++mask) {
      std::string text = fmt::format("{}:b{}", row.name, b);
      for (std::size_t i = 0; i < row.options.size(); ++i)
        if (mask >> i & 1) text += fmt::format(":{}", row.options[i]->key);
      specs.push_back(quant::parse(text));
    }
  }
  return specs;
}

inline std::vector<quant::Spec> all_specs() {
  std::vector<quant::Spec> specs;
  for (const auto& row : quant::registry()) {
    const auto mine = specs_of(row);
    specs.insert(specs.end(), mine.begin(), mine.end());
  }
  return specs;
}

// The spec of each row at its defaults, and with each of its options alone.
inline std::vector<quant::Spec> default_specs() {
  std::vector<quant::Spec> specs;
  for (const auto& row : quant::registry()) {
    specs.push_back(quant::parse(row.name));
    for (const quant::SpecOption* o : row.options)
      specs.push_back(quant::parse(fmt::format("{}:{}", row.name, o->key)));
  }
  return specs;
}

inline std::vector<float> gaussian(std::size_t n, uint64_t seed, std::string_view tag) {
  auto rng = make_rng(seed, tag);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

inline double relative_error(const std::vector<float>& x, const std::vector<float>& y) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(x[i]) * x[i];
  }
  return std::sqrt(num / den);
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Every stored field equal, bit for bit.
inline void require_identical(const quant::Quantized& a, const quant::Quantized& b) {
  REQUIRE(a.count == b.count);
  REQUIRE(a.codes == b.codes);
  REQUIRE(same_bits(a.scales, b.scales));
  REQUIRE(a.zero_points == b.zero_points);
  REQUIRE(a.exponents == b.exponents);
  REQUIRE(a.scale_codes == b.scale_codes);
  REQUIRE(same_bits(a.scale_absmax, b.scale_absmax));
  REQUIRE(std::memcmp(&a.scale_offset, &b.scale_offset, sizeof(float)) == 0);
}

}  // namespace loft::test

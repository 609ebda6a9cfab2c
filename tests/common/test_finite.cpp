// The vectorised finiteness scan against its scalar reference: every special value at every
// position of arrays that straddle the chunk boundary, and strided matrix blocks.
#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <vector>

#include "common/finite.hpp"

using loft::first_non_finite;
using loft::first_non_finite_reference;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1e3f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  return x;
}
}  // namespace

TEST_CASE("first_non_finite equals the scalar reference for every special value and position") {
  // Finite values that sit next to the non-finite bit patterns must not trip the scan.
  const float finite_edges[] = {std::numeric_limits<float>::max(),
                                -std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::denorm_min(), -0.0f, 0.0f};
  const float specials[] = {kInf, -kInf, kNaN, -kNaN, std::numeric_limits<float>::signaling_NaN()};
  for (std::size_t n : {0u, 1u, 7u, 1023u, 1024u, 1025u, 3000u}) {
    std::vector<float> x = random_values(n, static_cast<unsigned>(n));
    for (std::size_t i = 0; i < n; i += 1 + n / 40) x[i] = finite_edges[i % 5];
    REQUIRE(first_non_finite(x) == n);
    REQUIRE(first_non_finite_reference(x) == n);
    for (std::size_t pos = 0; pos < n; pos += 1 + n / 97) {
      for (float s : specials) {
        std::vector<float> y = x;
        y[pos] = s;
        if (pos + 5 < n) y[pos + 5] = kNaN;  // a later one must not be reported instead
        INFO("n " << n << ", position " << pos << ", value " << s);
        CHECK(first_non_finite(y) == first_non_finite_reference(y));
        CHECK(first_non_finite(y) == pos);
      }
    }
  }
}

TEST_CASE("all_finite on whole matrices and strided blocks") {
  loft::Matrix m = loft::Matrix::Random(37, 29);
  CHECK(loft::all_finite(m));
  m(20, 3) = kNaN;  // inside the block below, outside the top-left one
  CHECK_FALSE(loft::all_finite(m));
  CHECK(loft::all_finite(m.block(0, 0, 20, 29)));
  CHECK_FALSE(loft::all_finite(m.block(10, 2, 20, 5)));
  CHECK(loft::all_finite(m.block(10, 4, 20, 5)));
  CHECK(loft::all_finite(loft::Matrix(0, 5)));
}

// The level tables against the reference implementations (values from bitsandbytes,
// and reference_tables.hpp, generated with torch + scipy by make_reference_tables.py).
#include <cmath>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "quant/codebooks.hpp"
#include "quant/registry.hpp"
#include "reference_tables.hpp"
#include "support.hpp"

using namespace loft::quant;

namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// Bit-for-bit equality, reporting the first differing index.
void require_same_bits(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("index " << i << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(bits_of(got[i]) == bits_of(want[i]));
  }
}

// Within rel * |want| + abs, same sign.
void require_close(const std::vector<float>& got, const std::vector<float>& want, double rel,
                   double abs) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("index " << i << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(std::signbit(got[i]) == std::signbit(want[i]));
    REQUIRE(std::abs(double(got[i]) - want[i]) <= rel * std::abs(double(want[i])) + abs);
  }
}

}  // namespace

TEST_CASE("NF4 equals bitsandbytes' table bit for bit") {
  const std::vector<float> bnb = {-1.0f,
                                  -0.6961928009986877f,
                                  -0.5250730514526367f,
                                  -0.39491748809814453f,
                                  -0.28444138169288635f,
                                  -0.18477343022823334f,
                                  -0.09105003625154495f,
                                  0.0f,
                                  0.07958029955625534f,
                                  0.16093020141124725f,
                                  0.24611230194568634f,
                                  0.33791524171829224f,
                                  0.44070982933044434f,
                                  0.5626170039176941f,
                                  0.7229568362236023f,
                                  1.0f};
  require_same_bits(normal_float_levels(4), bnb);
  require_same_bits(normal_float_levels(4), loft::test::kNormalFloat4);
}

TEST_CASE("NF2 is {-1, 0, 0.33791524171829224, 1}") {
  require_same_bits(normal_float_levels(2), {-1.0f, 0.0f, 0.33791524171829224f, 1.0f});
  require_same_bits(normal_float_levels(2), loft::test::kNormalFloat2);
}

TEST_CASE("NF3 and NF8 equal LoftQ's create_normal_map (torch + scipy)") {
  require_same_bits(normal_float_levels(3), loft::test::kNormalFloat3);
  // With 129 steps torch.linspace takes its vectorised path, whose last bits vary with the
  // CPU's vector width; lib/quant follows the scalar formula (exact against its emulation) and
  // stays within 5e-7 of what torch computes.
  require_same_bits(normal_float_levels(8), loft::test::kNormalFloat8Scalar);
  require_close(normal_float_levels(8), loft::test::kNormalFloat8, 0.0, 5e-7);
}

TEST_CASE("the dynamic map equals bitsandbytes' create_dynamic_map(signed=True)") {
  const auto map = dynamic_map_levels();
  require_same_bits(map, loft::test::kDynamicMapScalar);
  require_close(map, loft::test::kDynamicMap, 1e-6, 0.0);
  REQUIRE(map.size() == 256);
  REQUIRE(std::is_sorted(map.begin(), map.end()));
  REQUIRE(map.back() == 1.0f);
  REQUIRE(std::count(map.begin(), map.end(), 0.0f) == 1);
}

TEST_CASE("FP4 is bitsandbytes' E2M1 table with a separate sign bit") {
  const auto v = fp4_levels();
  const float magnitude[8] = {0.0f,       0.0052083333f, 0.6666667f, 1.0f,
                              0.3333333f, 0.5f,          0.1666667f, 0.25f};
  REQUIRE(v.size() == 16);
  for (int c = 0; c < 8; ++c) {
    CHECK(v[c] == Approx(magnitude[c]).epsilon(1e-6));
    CHECK(v[c + 8] == -v[c]);
    CHECK(!std::signbit(v[c]));
  }
  CHECK(std::signbit(v[8]));  // code 0b1000 is -0
}

TEST_CASE("int and uniform levels") {
  for (int k = 2; k <= 8; ++k) {
    const int L = (1 << (k - 1)) - 1;
    const auto v = int_symmetric_levels(k);
    REQUIRE(v.size() == static_cast<std::size_t>(2 * L + 1));
    CHECK(v.front() == -1.0f);
    CHECK(v[L] == 0.0f);
    CHECK(v.back() == 1.0f);
    for (int c = 0; c <= 2 * L; ++c) CHECK(v[c] == -v[2 * L - c]);

    const auto u = uniform_levels(k);
    REQUIRE(u.size() == static_cast<std::size_t>(1 << k));
    CHECK(u.front() == -1.0f);
    CHECK(u.back() == 1.0f);
    CHECK(std::count(u.begin(), u.end(), 0.0f) == 0);  // an even count: no zero level
    for (std::size_t i = 0; i < u.size(); ++i) CHECK(u[i] == -u[u.size() - 1 - i]);
  }
}

TEST_CASE("linspace_f32 follows torch's half-up/half-down formula") {
  // torch.linspace(0.9677083, 0.5, 9) and torch.linspace(-1, 1, 8) in float32, printed by torch
  // 1.13 with ATEN_CPU_CAPABILITY=default. (Its AVX2/AVX-512 builds contract start + step * i
  // into a fused multiply-add, so there +-1/7 come out 2 ulps away: +-0.142857105f. The
  // NormalFloat tables and bitsandbytes' NF4 are the same either way.)
  require_same_bits(linspace_f32(0.9677083f, 0.5f, 9),
                    {0.96770829f, 0.909244776f, 0.850781202f, 0.792317688f, 0.733854175f,
                     0.675390601f, 0.616927087f, 0.558463514f, 0.5f});
  require_same_bits(linspace_f32(-1.0f, 1.0f, 8),
                    {-1.0f, -0.714285731f, -0.428571403f, -0.142857075f, 0.142857075f, 0.428571403f,
                     0.714285731f, 1.0f});
  CHECK(linspace_f32(2.0f, 3.0f, 1) == std::vector<float>{2.0f});
  CHECK_THROWS_AS(linspace_f32(0.0f, 1.0f, 0), loft::Error);
}

TEST_CASE("normal_quantile inverts the normal CDF to double precision") {
  CHECK(normal_quantile(0.5) == 0.0);
  CHECK(std::isinf(normal_quantile(0.0)));
  CHECK(std::isinf(normal_quantile(1.0)));
  CHECK(normal_quantile(0.975) == Approx(1.959963984540054).epsilon(1e-15));
  CHECK(normal_quantile(0.9677083) == Approx(1.8481309597573734).epsilon(1e-14));  // scipy
  for (double p : {1e-300, 1e-12, 1e-5, 0.01, 0.02425, 0.1, 0.3, 0.49999, 0.6, 0.9, 0.97575, 0.999,
                   1 - 1e-9}) {
    INFO("p = " << p);
    const double x = normal_quantile(p);
    const double phi = 0.5 * std::erfc(-x / std::sqrt(2.0));
    CHECK(std::abs(phi - p) <= 1e-14 * std::max(p, 1e-300) + 1e-300);
    if (p >= 0.01 && p <= 0.99) CHECK(normal_quantile(1 - p) == Approx(-x).epsilon(1e-12));
  }
  CHECK_THROWS_AS(normal_quantile(1.5), loft::Error);
  CHECK_THROWS_AS(normal_quantile(std::nan("")), loft::Error);
}

TEST_CASE("Nearest thresholds sit at the exact midpoints, ties to the lower code") {
  // Sorted table: the midpoint itself goes down, the next float up goes up.
  const Nearest nf4(normal_float_levels(4));
  const auto& l = nf4.levels();
  for (int c = 0; c + 1 < nf4.size(); ++c) {
    const double mid = (static_cast<double>(l[c]) + l[c + 1]) / 2;
    const float below = static_cast<float>(mid);
    const float at_or_below =
        static_cast<double>(below) > mid ? std::nextafter(below, -2.0f) : below;
    const float above = std::nextafter(at_or_below, 2.0f);
    CHECK(nf4.reference(at_or_below) == c);
    CHECK(nf4.reference(above) == c + 1);
  }
  // Unsorted codes: a tie goes to the lower code, whichever side its level is on.
  const Nearest mixed({0.0f, 1.0f, 0.5f, 0.5f});
  const std::vector<float> ys = {0.25f, 0.75f, 0.5f, 0.2500001f, 0.7499999f};
  const std::vector<uint8_t> want = {0, 1, 2, 2, 2};
  std::vector<uint8_t> fast(ys.size());
  mixed.codes(ys, fast);
  for (std::size_t i = 0; i < ys.size(); ++i) {
    INFO("y = " << ys[i]);
    CHECK(mixed.reference(ys[i]) == want[i]);
    CHECK(fast[i] == want[i]);
  }
  // FP4: -0.0 and +0.0 both code 0; the sign bit codes negative values.
  const Nearest fp4(fp4_levels());
  CHECK(fp4.reference(-0.0f) == 0);
  CHECK(fp4.reference(0.0f) == 0);
  CHECK(fp4.reference(0.3f) == 4);
  CHECK(fp4.reference(-0.3f) == 12);
  CHECK(fp4.reference(-1e30f) == 11);
}

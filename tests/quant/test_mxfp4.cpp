// MXFP4 (OCP Microscaling v1.0) beyond what the registry loops check: the E8M0 rule for every
// float32 exponent, the element rounding, and agreement with an independent numpy
// transcription of the spec (make_reference_tables.py).
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.hpp"
#include "quant/mx.hpp"
#include "quant_test_support.hpp"
#include "reference_tables.hpp"

using namespace loft::quant;
using Catch::Matchers::Contains;

namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

TEST_CASE("mxfp4 equals a numpy transcription of the OCP MX spec, on both kernels") {
  const auto& x = loft::test::kMxfp4Input;
  REQUIRE(x.size() == 32 * loft::test::kMxfp4Exponents.size());
  for (Kernel k : {Kernel::reference, Kernel::fast}) {
    const Quantized q = quantize(parse("mxfp4"), x, k);
    REQUIRE(q.exponents == loft::test::kMxfp4Exponents);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("value " << i << " = " << x[i]);
      REQUIRE(q.code(i) == loft::test::kMxfp4Codes[i]);
    }
    REQUIRE(loft::test::same_bits(dequantize(q, k), loft::test::kMxfp4Decoded));
  }
}

TEST_CASE("E8M0: the shared exponent is floor(log2 max|v|) - 2, clamped, for every float32") {
  // Every biased exponent with its smallest, a middle and its largest mantissa, and denormals.
  for (uint32_t field = 0; field < 255; ++field)
    for (uint32_t mantissa : {0u, 1u, 0x400000u, 0x7fffffu}) {
      const uint32_t bits = field << 23 | mantissa;
      INFO("bits " << bits);
      REQUIRE(e8m0_code(bits) == e8m0_code_reference(from_bits(bits)));
    }
  CHECK(e8m0_code_reference(0.0f) == 0);    // an all-zero block: the lower end, X = 2^-127
  CHECK(e8m0_code_reference(1.0f) == 125);  // 1 -> X = 1/4, the maximum becomes 4
  CHECK(e8m0_code_reference(6.0f) == 127);  // X = 1
  CHECK(e8m0_code_reference(std::nextafter(8.0f, 0.0f)) == 127);
  CHECK(e8m0_code_reference(8.0f) == 128);
  CHECK(e8m0_code_reference(std::ldexp(1.0f, -124)) == 1);
  CHECK(e8m0_code_reference(std::ldexp(1.0f, -125)) == 0);  // clamped from here down
  CHECK(e8m0_code_reference(std::numeric_limits<float>::denorm_min()) == 0);
  CHECK(e8m0_code_reference(std::numeric_limits<float>::max()) == 252);  // never 0xff (NaN)
  for (int c = 0; c < 255; ++c)
    CHECK(e8m0_value(static_cast<uint8_t>(c)) == std::ldexp(1.0, c - 127));
  CHECK(std::fpclassify(e8m0_value(0)) == FP_SUBNORMAL);
}

TEST_CASE("E2M1 elements: nearest, ties to the even code, clamped to 6, sign kept") {
  // A block holding 6 has X = 1, so each value is its own v / X.
  struct Case {
    float v;
    float want;
  };
  const Case cases[] = {{6.0f, 6.0f},    {0.25f, 0.0f},  {0.75f, 1.0f},   {1.25f, 1.0f},
                        {1.75f, 2.0f},   {2.5f, 2.0f},   {3.5f, 4.0f},    {5.0f, 4.0f},
                        {5.0001f, 6.0f}, {7.9f, 6.0f},   {0.2499f, 0.0f}, {0.2501f, 0.5f},
                        {-0.75f, -1.0f}, {-2.5f, -2.0f}, {-5.0f, -4.0f},  {-7.5f, -6.0f}};
  std::vector<float> x(32, 0.0f);
  for (std::size_t i = 0; i < std::size(cases); ++i) x[i] = cases[i].v;
  x[31] = -0.1f;  // rounds to zero and keeps its sign: -0, code 8
  for (Kernel k : {Kernel::reference, Kernel::fast}) {
    const Quantized q = quantize(parse("mxfp4"), x, k);
    CHECK(q.exponents[0] == 127);
    const auto y = dequantize(q, k);
    for (std::size_t i = 0; i < std::size(cases); ++i) {
      INFO(cases[i].v);
      CHECK(y[i] == cases[i].want);
    }
    CHECK(q.code(31) == 8);
    CHECK(std::signbit(y[31]));
    CHECK(q.code(20) == 0);  // +0 is code 0
  }
}

TEST_CASE("mxfp4 stores 4.25 bits per weight, blocks of 32 only, no :dq") {
  CHECK(bits_per_weight(parse("mxfp4")) == 4.25);
  CHECK(format(parse("mxfp4:b32")) == "mxfp4");
  CHECK_THROWS_WITH(parse("mxfp4:b64"), Contains("b32 only"));
  CHECK_THROWS_WITH(parse("mxfp4:dq"), Contains("does not apply to 'mxfp4'"));
  CHECK_THROWS_WITH(parse("mxfp8"), Contains("mxfp supports mxfp4"));
  const auto x = loft::test::gaussian(32 * 64, 21, "mxfp4-storage");
  const Quantized q = quantize(parse("mxfp4"), x);
  CHECK(q.scales.empty());
  CHECK(q.exponents.size() == 64);
  CHECK(q.storage_bits() == 4.25 * x.size());
}

TEST_CASE("a stored E8M0 NaN (0xff) is an error, not a block of NaNs") {
  const auto x = loft::test::gaussian(32 * 4, 22, "mxfp4-nan");
  Quantized q = quantize(parse("mxfp4"), x);
  q.exponents[2] = 0xff;
  for (Kernel k : {Kernel::reference, Kernel::fast})
    CHECK_THROWS_WITH(dequantize(q, k), Contains("block 2") && Contains("0xff") && Contains("NaN"));
}

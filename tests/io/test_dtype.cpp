// Element conversions against plain references.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "io/dtype.hpp"
#include "support.hpp"

using namespace loft;

namespace {

// Reference bf16 rounding in double arithmetic: the nearer of the two bf16 neighbours, ties to
// the even mantissa.
float bf16_reference(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const float lo = std::bit_cast<float>(u & 0xffff0000u);
  const float hi = std::bit_cast<float>((u & 0xffff0000u) + 0x10000u);
  const double dl = std::abs(double(f) - double(lo)), dh = std::abs(double(hi) - double(f));
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return ((u >> 16) & 1) ? hi : lo;
}

}  // namespace

TEST_CASE("dtype: registry rows have consistent widths and lookups") {
  for (const auto& d : io::dtypes()) {
    CAPTURE(d.name);
    CHECK(io::find_dtype(d.name) == &d);
    if (*d.npy_descr) CHECK(io::find_npy_dtype(d.npy_descr) == &d);
    const int width = std::string(d.npy_descr).empty() ? 2 : d.npy_descr[2] - '0';
    CHECK(d.bytes == width);
    // One element of value 1.0 in each format converts to 1.0.
    std::byte one[8] = {};
    if (d.bytes == 4) std::memcpy(one, "\x00\x00\x80\x3f", 4);
    if (d.bytes == 8) std::memcpy(one, "\x00\x00\x00\x00\x00\x00\xf0\x3f", 8);
    if (d.bytes == 2) std::memcpy(one, std::string(d.name) == "F16" ? "\x00\x3c" : "\x80\x3f", 2);
    float out = 0;
    d.to_f32(one, &out, 1);
    CHECK(out == 1.0f);
  }
  CHECK(io::find_dtype("I32") == nullptr);
  CHECK(io::dtype_names() == "F32, F16, BF16, F64");
}

TEST_CASE("dtype: half_to_float covers normals, subnormals, infinities") {
  CHECK(io::half_to_float(0x3C00) == 1.0f);
  CHECK(io::half_to_float(0x3555) == 0.333251953125f);
  CHECK(io::half_to_float(0x0400) == std::ldexp(1.0f, -14));     // smallest normal
  CHECK(io::half_to_float(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(std::isinf(io::half_to_float(0x7C00)));
  CHECK(std::isnan(io::half_to_float(0x7E00)));
  // Every finite half equals sign * mantissa * 2^exp computed in double.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t e = (h >> 10) & 31, m = h & 1023;
    if (e == 31) continue;
    const double mag = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1024.0 + m, int(e) - 25);
    const double want = (h & 0x8000) ? -mag : mag;
    if (io::half_to_float(static_cast<uint16_t>(h)) != static_cast<float>(want)) {
      FAIL("half 0x" << std::hex << h);
    }
  }
}

TEST_CASE("dtype: float_to_bf16 rounds to nearest even like the reference") {
  CHECK(io::bf16_to_float(io::float_to_bf16(1.0f + std::ldexp(1.0f, -8))) == 1.0f);  // tie->even
  CHECK(io::bf16_to_float(io::float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))) ==
        1.0f + std::ldexp(1.0f, -6));  // tie -> even (up)
  CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(bits(rng));
    if (!std::isfinite(f) || std::abs(f) > 3e38f) continue;
    const float got = io::bf16_to_float(io::float_to_bf16(f));
    if (got != bf16_reference(f)) FAIL("bf16 of " << f);
  }
}

TEST_CASE("dtype: check_finite names the tensor, file and index") {
  const float ok[3] = {1, 2, 3};
  CHECK_NOTHROW(io::check_finite(ok, "t", "f"));
  const float bad[3] = {1, std::numeric_limits<float>::infinity(), 3};
  CHECK_THROWS_WITH(io::check_finite(bad, "model.norm.weight", "x.safetensors"),
                    Catch::Contains("model.norm.weight") && Catch::Contains("x.safetensors") &&
                        Catch::Contains("index 1"));
}

TEST_CASE("dtype: float_to_half rounds to nearest even like the compiler's _Float16") {
  // Every half value survives the round trip, subnormals and infinities included.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = io::half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(io::half_to_float(io::float_to_half(f))));
      continue;
    }
    if (io::float_to_half(f) != h) FAIL("half 0x" << std::hex << h);
  }
  CHECK(io::float_to_half(65520.0f) == 0x7c00);  // the tie above 65504 rounds to Inf
  CHECK(io::float_to_half(65519.99f) == 0x7bff);
  CHECK(io::float_to_half(std::ldexp(1.0f, -25)) == 0);  // the tie below the smallest subnormal
#ifdef __FLT16_MAX__
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 400000; ++i) {
    const float f = std::bit_cast<float>(bits(rng) >> (i % 2 ? 3 : 0));  // many small values
    if (std::isnan(f)) continue;
    const auto want = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    if (io::float_to_half(f) != want) FAIL("half of " << f);
  }
#endif
}

// MXFP4 kernels (see mx.hpp): the E8M0 shared scale and the E2M1 encoder, each as a scalar
// reference and a fast path. The reference computes the spec's formulas literally (ilogb of
// the block maximum; v / X in double and the nearest of the eight magnitudes by distance); the
// fast path takes the exponent from the float's bits and compares |v| with the rounding
// boundaries scaled by X, which is exact because X is a power of two.
#include "quant/mx.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.hpp"
#include "quant/block_loops.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace loft::quant {

namespace {

constexpr int kEmaxElem = 2;  // E2M1's largest normal is 1.5 * 2^2
constexpr double kMagnitudes[8] = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};  // by code & 7

// Scalar reference: the code of v in a block of shared exponent `shared` (X = 2^shared).
uint32_t e2m1_code_reference(float v, int shared) {
  // |v| / X is exact in double. Its distance to a magnitude is exact whenever the two are
  // within a factor 2^29 of each other, which covers every case where the nearest one or a
  // tie is in question.
  const double a = std::fabs(static_cast<double>(v)) / std::ldexp(1.0, shared);
  int best = 0;
  for (int k = 1; k < 8; ++k) {
    const double dk = std::fabs(a - kMagnitudes[k]), db = std::fabs(a - kMagnitudes[best]);
    if (dk < db || (dk == db && k % 2 == 0)) best = k;  // ties to the even code
  }
  return static_cast<uint32_t>(best) | (std::signbit(v) ? 8u : 0u);
}

// Fast path: the boundaries between neighbouring magnitudes; a value exactly at one goes to the
// even code, i.e. up at 0.75, 1.75 and 3.5, down at 0.25, 1.25, 2.5 and 5.
constexpr float kBoundary[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};

void e2m1_codes(const float* v, std::size_t n, float scale, uint8_t* codes) {
  float t[7];
  for (int j = 0; j < 7; ++j) t[j] = kBoundary[j] * scale;  // exact, even at X = 2^-127
  std::size_t i = 0;
#if defined(__AVX512F__) && defined(__AVX512VL__)
  // 16 values at a time: each boundary below |v| (at or below, where ties go up) adds 1, and
  // the sign bit of v becomes bit 3 of the code.
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
  for (; i + 16 <= n; i += 16) {
    const __m512i u = _mm512_loadu_si512(v + i);
    const __m512 a = _mm512_castsi512_ps(_mm512_and_si512(u, magnitude));
    __m512i c = _mm512_srli_epi32(_mm512_andnot_si512(magnitude, u), 28);  // 8 for negatives
    for (int j = 0; j < 7; ++j) {
      const __m512 tj = _mm512_set1_ps(t[j]);
      const __mmask16 k = j % 2 ? _mm512_cmp_ps_mask(a, tj, _CMP_GE_OQ)   // ties go up
                                : _mm512_cmp_ps_mask(a, tj, _CMP_GT_OQ);  // ties go down
      c = _mm512_mask_add_epi32(c, k, c, one);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), _mm512_cvtepi32_epi8(c));
  }
#endif
  for (; i < n; ++i) {
    const uint32_t u = float_bits(v[i]);
    const uint32_t mag = u & 0x7fffffffu;
    float a;
    std::memcpy(&a, &mag, sizeof a);
    const int c =
        (a > t[0]) + (a >= t[1]) + (a > t[2]) + (a >= t[3]) + (a > t[4]) + (a >= t[5]) + (a > t[6]);
    codes[i] = static_cast<uint8_t>(c | ((u >> 28) & 8u));
  }
}

std::vector<float> decode_exponents(const Quantized& q) {
  std::vector<float> scales(q.exponents.size());
  for (std::size_t b = 0; b < scales.size(); ++b) {
    if (q.exponents[b] == 0xff)
      fail(
          "corrupt quantised data for {}: block {} has the E8M0 exponent 0xff, which is NaN "
          "(quantize never writes it: NaN and Inf inputs are errors)",
          format(q.spec), b);
    scales[b] = e8m0_value(q.exponents[b]);
  }
  return scales;
}

}  // namespace

std::vector<float> e2m1_levels() {
  std::vector<float> v(16);
  for (int c = 0; c < 16; ++c) {
    const auto m = static_cast<float>(kMagnitudes[c & 7]);
    v[c] = (c & 8) ? -m : m;
  }
  return v;
}

const ScaleRule& e8m0_rule() {
  static const ScaleRule rule{"e8m0",
                              "shared power of two 2^(floor(log2 max|x|) - 2) as an E8M0 byte",
                              {Stream::exponent},
                              nullptr,
                              decode_exponents};
  return rule;
}

uint8_t e8m0_code_reference(float absmax) {
  if (absmax == 0.0f) return 0;  // log2(0) = -inf: the lower end of the range
  const int shared = std::clamp(std::ilogb(absmax) - kEmaxElem, -127, 127);
  return static_cast<uint8_t>(shared + 127);
}

uint8_t e8m0_code(uint32_t absmax_bits) {
  // The biased exponent field is floor(log2 |x|) + 127 for a normal float, so the code is
  // field - 2; zero, denormals and the two smallest binades all clamp to code 0.
  const uint32_t field = absmax_bits >> 23;
  return static_cast<uint8_t>(field > 2 ? field - 2 : 0);
}

float e8m0_value(uint8_t code) {
  // A float32 with biased exponent `code` and no mantissa is 2^(code - 127); code 0 is the
  // denormal 2^-127, the top mantissa bit alone.
  const uint32_t bits = code == 0 ? 0x00400000u : static_cast<uint32_t>(code) << 23;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

void quantize_mx(const Quantizer& row, const Spec& spec, std::span<const float> x, Quantized& out,
                 Kernel kernel) {
  const std::size_t B = spec.block;
  out.exponents.resize(x.size() / B);
  out.codes.resize(packed_bytes(x.size(), spec.bits));  // every byte is written
  if (kernel == Kernel::reference) {
    auto prepare = [&](std::size_t b, std::span<const float> blk) {
      float absmax = 0;
      for (float v : blk) {
        if (!std::isfinite(v)) return false;
        absmax = std::max(absmax, std::fabs(v));
      }
      out.exponents[b] = e8m0_code_reference(absmax);
      return true;
    };
    encode_reference(x, B, spec.bits, out.codes, prepare, [&](std::size_t b, float v) {
      return e2m1_code_reference(v, static_cast<int>(out.exponents[b]) - 127);
    });
    return;
  }
  auto prepare = [&](std::size_t b, std::span<const float> blk) {
    const uint32_t m = max_magnitude_bits(blk);
    if (m >= kInfBits) return false;
    out.exponents[b] = e8m0_code(m);
    return true;
  };
  encode_fast(x, B, spec.bits, out.codes, prepare,
              [&](std::size_t b, const float* xs, std::size_t n, uint8_t* c) {
                e2m1_codes(xs, n, e8m0_value(out.exponents[b]), c);
              });
}

}  // namespace loft::quant

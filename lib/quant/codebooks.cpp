#include "quant/codebooks.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "common/error.hpp"

namespace loft::quant {

namespace {

// Acklam's rational approximation, relative error below 1.15e-9 everywhere.
double acklam_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  };
  if (p < p_low) return tail(std::sqrt(-2.0 * std::log(p)));
  if (p > 1.0 - p_low) return -tail(std::sqrt(-2.0 * std::log1p(-p)));
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

}  // namespace

double normal_quantile(double p) {
  if (!(p >= 0.0 && p <= 1.0)) fail("normal_quantile: p = {} is outside [0, 1]", p);
  if (p == 0.0) return -std::numeric_limits<double>::infinity();
  if (p == 1.0) return std::numeric_limits<double>::infinity();
  if (p == 0.5) return 0.0;
  double x = acklam_quantile(p);
  // One Halley step on Phi(x) - p, with Phi from erfc (accurate in both tails): squares the
  // 1e-9 error of the approximation down to rounding level.
  const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
  const double u = e * std::sqrt(2.0 * std::numbers::pi) * std::exp(0.5 * x * x);
  x -= u / (1.0 + 0.5 * x * u);
  return x;
}

std::vector<float> linspace_f32(float start, float end, int steps) {
  if (steps < 1) fail("linspace_f32: steps = {} (valid: >= 1)", steps);
  if (steps == 1) return {start};
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  std::vector<float> v(steps);
  for (int i = 0; i < steps; ++i) {
    v[i] = i < halfway ? start + step * static_cast<float>(i)
                       : end - step * static_cast<float>(steps - i - 1);
  }
  return v;
}

std::vector<float> normal_float_levels(int bits) {
  if (bits < 2 || bits > 8) fail("NormalFloat with {} bits (valid: 2..8)", bits);
  constexpr float offset = 0.9677083f;
  const int half = 1 << (bits - 1);
  std::vector<float> v;
  auto ppf_f32 = [](float p) { return static_cast<float>(normal_quantile(p)); };
  const auto pos = linspace_f32(offset, 0.5f, half + 1);  // last (0.5) dropped
  for (int i = 0; i < half; ++i) v.push_back(ppf_f32(pos[i]));
  v.push_back(0.0f);
  const auto neg = linspace_f32(offset, 0.5f, half);  // last (0.5) dropped
  for (int i = 0; i + 1 < half; ++i) v.push_back(-ppf_f32(neg[i]));
  std::sort(v.begin(), v.end());
  const float max = v.back();
  for (float& x : v) x /= max;
  return v;
}

std::vector<float> fp4_levels() {
  // bitsandbytes' fp4 dequantisation table (E2M1 with its own exponent bias), magnitudes for
  // codes 0b000..0b111; bit 0b1000 is the sign.
  static constexpr float magnitude[8] = {0.0f, 0.005208333333f, 0.66666667f, 1.0f, 0.33333333f,
                                         0.5f, 0.16666667f,     0.25f};
  std::vector<float> v(16);
  for (int c = 0; c < 16; ++c) v[c] = (c & 8) ? -magnitude[c & 7] : magnitude[c & 7];
  return v;
}

std::vector<float> dynamic_map_levels() {
  // Signed map, 7 exponent bits: for exponent i = 0..6 the 2^i midpoints of
  // linspace(0.1, 1, 2^i + 1) times 10^(i - 6), both signs; then 0 and 1.
  std::vector<float> v;
  for (int i = 0; i < 7; ++i) {
    const auto bounds = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
    // Python's 10 ** (i - 6) is a double; torch multiplies a float32 tensor by it in float32.
    const float magnitude = static_cast<float>(std::pow(10.0, i - 6));
    for (std::size_t j = 0; j + 1 < bounds.size(); ++j) {
      const float mean = (bounds[j] + bounds[j + 1]) / 2.0f;
      v.push_back(magnitude * mean);
      v.push_back(-magnitude * mean);
    }
  }
  v.push_back(0.0f);
  v.push_back(1.0f);
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<float> int_symmetric_levels(int bits) {
  if (bits < 2 || bits > 8) fail("int with {} bits (valid: 2..8)", bits);
  const int L = (1 << (bits - 1)) - 1;
  std::vector<float> v(2 * L + 1);
  for (int c = 0; c <= 2 * L; ++c) v[c] = static_cast<float>(static_cast<double>(c - L) / L);
  return v;
}

std::vector<float> uniform_levels(int bits) {
  if (bits < 1 || bits > 8) fail("uniform with {} bits (valid: 1..8)", bits);
  return linspace_f32(-1.0f, 1.0f, 1 << bits);
}

}  // namespace loft::quant

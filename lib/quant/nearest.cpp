#include "quant/nearest.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace loft::quant {

Nearest::Nearest(std::vector<float> levels) : levels_(std::move(levels)) {
  const int n = size();
  if (n < 1 || n > 256) fail("codebook of {} levels (valid: 1..256)", n);
  for (float v : levels_)
    if (!std::isfinite(v)) fail("codebook level {} is not finite", v);

  // Distinct levels ascending, each with the lowest code that holds it.
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return levels_[a] < levels_[b]; });
  std::vector<float> sorted;
  for (int c : order) {
    if (!sorted.empty() && sorted.back() == levels_[c]) continue;  // stable: lowest code kept
    sorted.push_back(levels_[c]);
    sorted_code_.push_back(static_cast<uint8_t>(c));
  }

  for (std::size_t j = 0; j + 1 < sorted.size(); ++j) {
    const double a = sorted[j], b = sorted[j + 1];
    const double sum = a + b;
    if (sum - a != b || sum - b != a)
      fail("codebook levels {} and {} are too far apart in magnitude for an exact midpoint", a, b);
    const double mid = 0.5 * sum;
    // At the midpoint the lower code wins: the upper level when its code is lower (y >= mid),
    // else the lower level (y > mid). With t the largest float strictly below (resp. at or
    // below) mid, both become the float comparison y > t.
    const bool tie_goes_up = sorted_code_[j + 1] < sorted_code_[j];
    float t = static_cast<float>(mid);
    if (static_cast<double>(t) > mid || (tie_goes_up && static_cast<double>(t) == mid))
      t = std::nextafter(t, -std::numeric_limits<float>::infinity());
    thresholds_.push_back(t);
  }

  identity_ = true;
  for (std::size_t i = 0; i < sorted_code_.size(); ++i) identity_ &= sorted_code_[i] == i;
  while ((std::size_t{1} << depth_) < sorted.size()) ++depth_;
  padded_ = thresholds_;
  padded_.resize((std::size_t{1} << depth_) - 1, std::numeric_limits<float>::infinity());
}

void Nearest::codes(std::span<const float> y, std::span<uint8_t> out) const {
  const std::size_t n = y.size();
  const float* t = thresholds_.data();
  const int nt = static_cast<int>(thresholds_.size());
  if (nt <= 15) {
    const float* v = y.data();
    std::size_t i0 = 0;
#if defined(__AVX512F__) && defined(__AVX512VL__)
    // 16 values per register; each threshold below y adds 1 to its lane.
    __m512 thr[15];
    for (int j = 0; j < nt; ++j) thr[j] = _mm512_set1_ps(t[j]);
    const __m512i one = _mm512_set1_epi32(1);
    for (; i0 + 16 <= n; i0 += 16) {
      const __m512 yv = _mm512_loadu_ps(v + i0);
      __m512i c = _mm512_setzero_si512();
      for (int j = 0; j < nt; ++j)
        c = _mm512_mask_add_epi32(c, _mm512_cmp_ps_mask(yv, thr[j], _CMP_GT_OQ), c, one);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data() + i0), _mm512_cvtepi32_epi8(c));
    }
#endif
    // Portable: thresholds outermost so that the inner loop runs over contiguous values.
    for (std::size_t i = i0; i < n; ++i) out[i] = 0;
    for (int j = 0; j < nt; ++j) {
      const float tj = t[j];
      for (std::size_t i = i0; i < n; ++i) out[i] += v[i] > tj ? 1 : 0;
    }
  } else {
    // Many levels: branch-free binary search over the padded thresholds.
    const float* p = padded_.data();
    for (std::size_t i = 0; i < n; ++i) {
      int c = 0;
      for (int step = 1 << (depth_ - 1); step > 0; step >>= 1)
        c += (y[i] > p[c + step - 1]) ? step : 0;
      out[i] = static_cast<uint8_t>(c);
    }
  }
  if (!identity_)
    for (std::size_t i = 0; i < n; ++i) out[i] = sorted_code_[out[i]];
}

}  // namespace loft::quant

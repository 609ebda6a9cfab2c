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
  padded_.resize(std::max<std::size_t>((std::size_t{1} << depth_) - 1, 16),
                 std::numeric_limits<float>::infinity());
  zero_code_ = reference(0.0f);
  for (std::size_t i = 0; i < std::min<std::size_t>(16, sorted_code_.size()); ++i)
    map16_[i] = sorted_code_[i];
}

namespace {

#if defined(__AVX512F__) && defined(__AVX512VL__)
// codes[i] = the number of entries of the sorted, +inf-padded table (2^Depth - 1 <= 15 entries,
// one register) below x[i] / scale: a branch-free binary search, 16 values at a time, each step
// looking its probe up with vpermps. Returns how many values it coded (a multiple of 16).
template <int Depth, bool Map>
std::size_t search16(const float* x, std::size_t n, float scale, const float* padded,
                     const int32_t* map, uint8_t* codes) {
  const __m512 t = _mm512_loadu_ps(padded);
  const __m512i m = Map ? _mm512_loadu_si512(map) : _mm512_setzero_si512();
  const __m512 s = _mm512_set1_ps(scale);
  // The first probe is the middle entry for every lane: a broadcast, no lookup.
  const __m512 middle = _mm512_set1_ps(padded[(1 << (Depth - 1)) - 1]);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + i), s);
    __m512i c = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(v, middle, _CMP_GT_OQ),
                                       _mm512_set1_epi32(1 << (Depth - 1)));
    for (int step = 1 << (Depth - 2); step > 0; step >>= 1) {
      const __m512 probe =
          _mm512_permutexvar_ps(_mm512_add_epi32(c, _mm512_set1_epi32(step - 1)), t);
      c = _mm512_mask_add_epi32(c, _mm512_cmp_ps_mask(v, probe, _CMP_GT_OQ), c,
                                _mm512_set1_epi32(step));
    }
    if constexpr (Map) c = _mm512_permutexvar_epi32(c, m);  // sorted position -> code
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), _mm512_cvtepi32_epi8(c));
  }
  return i;
}
#endif

}  // namespace

void Nearest::search(const float* y, std::size_t n, uint8_t* out) const {
  const int nt = static_cast<int>(thresholds_.size());
  if (nt <= 15) {
    // Count the thresholds below each value, thresholds outermost so that the inner loop runs
    // over contiguous values.
    for (std::size_t i = 0; i < n; ++i) out[i] = 0;
    for (int j = 0; j < nt; ++j) {
      const float tj = thresholds_[j];
      for (std::size_t i = 0; i < n; ++i) out[i] += y[i] > tj ? 1 : 0;
    }
    return;
  }
  // Many levels: branch-free binary search over the padded thresholds.
  const float* p = padded_.data();
  for (std::size_t i = 0; i < n; ++i) {
    int c = 0;
    for (int step = 1 << (depth_ - 1); step > 0; step >>= 1)
      c += (y[i] > p[c + step - 1]) ? step : 0;
    out[i] = static_cast<uint8_t>(c);
  }
}

void Nearest::codes(std::span<const float> x, std::span<uint8_t> out, float scale) const {
  const std::size_t n = x.size();
  if (scale == 0.0f) {
    std::fill_n(out.data(), n, zero_code_);
    return;
  }
  std::size_t i0 = 0;
#if defined(__AVX512F__) && defined(__AVX512VL__)
  if (depth_ >= 2 && depth_ <= 4) {
    // One instance per depth and with or without the code mapping.
    using Search =
        std::size_t (*)(const float*, std::size_t, float, const float*, const int32_t*, uint8_t*);
    static constexpr Search plain[] = {search16<2, false>, search16<3, false>, search16<4, false>};
    static constexpr Search mapped[] = {search16<2, true>, search16<3, true>, search16<4, true>};
    const Search run = (identity_ ? plain : mapped)[depth_ - 2];
    i0 = run(x.data(), n, scale, padded_.data(), map16_.data(), out.data());
  }
#endif
  // The rest in chunks, each value divided once.
  float y[64];
  for (std::size_t start = i0; start < n; start += 64) {
    const std::size_t m = std::min<std::size_t>(64, n - start);
    for (std::size_t i = 0; i < m; ++i) y[i] = x[start + i] / scale;
    search(y, m, out.data() + start);
  }
  if (!identity_)
    for (std::size_t i = i0; i < n; ++i) out[i] = sorted_code_[out[i]];
}

}  // namespace loft::quant

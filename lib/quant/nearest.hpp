#pragma once
// Nearest-level search over a codebook: the scalar reference (scan every code, keep the first
// strictly closer one, exact distance comparisons) and the fast path (the number of float
// thresholds below y over the sorted distinct levels: a binary search, 16 values at a time with
// AVX-512 up to 16 levels). The thresholds are placed so that the two agree for every float y,
// including y exactly at a midpoint, +-0, denormals and +-inf.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace loft::quant {

// True when |y - b| < |y - a| in exact arithmetic. a + b of two codebook floats is exact in
// double (Nearest's constructor checks it), and 2y is exact, so the midpoint test is exact.
inline bool strictly_closer(float y, float b, float a) {
  const double twice_y = 2.0 * static_cast<double>(y);
  const double sum = static_cast<double>(a) + static_cast<double>(b);
  if (a < b) return twice_y > sum;
  if (b < a) return twice_y < sum;
  return false;
}

class Nearest {
 public:
  // levels[c] is the normalised value of code c (any order; duplicates allowed, the lowest
  // code of equal levels wins). At most 256 levels.
  explicit Nearest(std::vector<float> levels);

  const std::vector<float>& levels() const { return levels_; }
  int size() const { return static_cast<int>(levels_.size()); }

  // The reference: argmin over codes of |y - level|, first (lowest) code on ties.
  uint8_t reference(float y) const {
    int best = 0;
    for (int c = 1; c < size(); ++c)
      if (strictly_closer(y, levels_[c], levels_[best])) best = c;
    return static_cast<uint8_t>(best);
  }

  // Fast path over a run: codes[i] = reference(x[i] / scale), with x[i] / scale taken as 0 when
  // scale is 0 (the same float division a caller of reference() does).
  void codes(std::span<const float> x, std::span<uint8_t> codes, float scale = 1.0f) const;

 private:
  std::vector<float> levels_;         // by code
  std::vector<uint8_t> sorted_code_;  // code of the i-th smallest distinct level
  std::vector<float> thresholds_;     // y > thresholds_[j] <=> nearest is above sorted level j
  std::vector<float> padded_;  // thresholds_ padded with +inf to max(2^depth_ - 1, 16) entries
  int depth_ = 0;              // binary-search steps
  bool identity_ = false;      // sorted_code_[i] == i
  uint8_t zero_code_ = 0;      // reference(0.0f)
  std::array<int32_t, 16> map16_{};  // sorted_code_ of the first 16, for the vector search

  // The portable search over a run of normalised values, before the code mapping.
  void search(const float* y, std::size_t n, uint8_t* out) const;
};

}  // namespace loft::quant

#pragma once
// Finiteness scans of float32 data: every SVD and quantisation input is checked, so in LoftQ on a
// 4096x4096 matrix these run a dozen times per step over 64 MB each. Eigen's allFinite() is a
// short-circuiting scalar loop (~100 ms per 64 MB here, 17% of a randomized LoftQ run); the
// scan below is a branch-free OR-reduction over chunks that the compiler vectorises, and only a
// chunk that fails is searched element by element for the index an error message needs.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/matrix.hpp"

namespace loft {

// The scalar reference: index of the first NaN or +-Inf in x, or x.size() when there is none.
inline std::size_t first_non_finite_reference(std::span<const float> x) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return i;
  return x.size();
}

// Same result as first_non_finite_reference. A float is non-finite exactly when its exponent bits
// are all ones, i.e. when (bits & 0x7fffffff) >= 0x7f800000; the per-chunk maximum of that
// masked value is a reduction without branches.
inline std::size_t first_non_finite(std::span<const float> x) {
  constexpr std::size_t kChunk = 1024;
  for (std::size_t start = 0; start < x.size(); start += kChunk) {
    const std::size_t n = std::min(kChunk, x.size() - start);
    const float* p = x.data() + start;
    uint32_t worst = 0;
    for (std::size_t i = 0; i < n; ++i)
      worst = std::max(worst, std::bit_cast<uint32_t>(p[i]) & 0x7fffffffu);
    if (worst >= 0x7f800000u) return start + first_non_finite_reference({p, n});
  }
  return x.size();
}

inline bool all_finite(std::span<const float> x) {
  return first_non_finite(x) == x.size();
}

// A (possibly strided) block of a row-major matrix, row by row.
inline bool all_finite(ConstMatrixRef m) {
  if (m.outerStride() == m.cols())
    return all_finite(std::span<const float>(m.data(), static_cast<std::size_t>(m.size())));
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    if (!all_finite(std::span<const float>(m.row(r).data(), static_cast<std::size_t>(m.cols()))))
      return false;
  return true;
}

}  // namespace loft

#pragma once
// The block loops every encoder shares, and the small helpers they need: a kernel file of a row
// supplies how a block's parameters are computed and how one value (reference) or a run of
// values (fast path) is coded; the loops do the blocks, the chunking, the packing, the
// threads and the error for a NaN or Inf.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/error.hpp"
#include "quant/packing.hpp"

namespace loft::quant {

// Values per inner chunk of the fast path (a multiple of 8, so chunks pack into whole bytes).
constexpr std::size_t kChunk = 64;

inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// The largest magnitude's bits: IEEE magnitudes order like their integer bits, so this is an
// exact, vectorisable max |x|; NaN and Inf show as bits >= 0x7f800000.
inline uint32_t max_magnitude_bits(std::span<const float> x) {
  uint32_t m = 0;
  for (float v : x) m = std::max(m, float_bits(v) & 0x7fffffffu);
  return m;
}

constexpr uint32_t kInfBits = 0x7f800000u;

inline bool all_finite(std::span<const float> x) {
  return max_magnitude_bits(x) < kInfBits;
}

[[noreturn]] inline void fail_nonfinite(std::span<const float> x) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      fail(
          "cannot quantise a non-finite value ({}) at flat index {} of {}: every value must be "
          "a finite float32",
          x[i], i, x.size());
  fail("cannot quantise: non-finite value in the input");
}

inline std::span<uint8_t> block_bytes(std::vector<uint8_t>& codes, std::size_t first, std::size_t n,
                                      int bits) {
  return std::span<uint8_t>(codes).subspan(first * bits / 8, n * bits / 8);
}
inline std::span<const uint8_t> block_bytes(const std::vector<uint8_t>& codes, std::size_t first,
                                            std::size_t n, int bits) {
  return std::span<const uint8_t>(codes).subspan(first * bits / 8, n * bits / 8);
}

// The block loops shared by every encoder. `prepare(b, block)` computes and stores block b's
// parameters (false on a non-finite value); the reference then codes one value at a time with
// `code_one(b, x)`, the fast path a chunk at a time with `code_run(b, xs, n, codes)`.
template <typename Prepare, typename CodeOne>
void encode_reference(std::span<const float> x, std::size_t B, int bits,
                      std::vector<uint8_t>& codes, Prepare prepare, CodeOne code_one) {
  for (std::size_t b = 0; b < x.size() / B; ++b) {
    const auto blk = x.subspan(b * B, B);
    if (!prepare(b, blk)) fail_nonfinite(x);
    for (std::size_t i = 0; i < B; ++i) pack_one(codes, bits, b * B + i, code_one(b, blk[i]));
  }
}

template <typename Prepare, typename CodeRun>
void encode_fast(std::span<const float> x, std::size_t B, int bits, std::vector<uint8_t>& codes,
                 Prepare prepare, CodeRun code_run) {
  bool bad = false;
  const auto nb = static_cast<std::ptrdiff_t>(x.size() / B);
#pragma omp parallel for schedule(static) reduction(|| : bad)
  for (std::ptrdiff_t b = 0; b < nb; ++b) {
    const auto blk = x.subspan(b * B, B);
    if (!prepare(b, blk)) {
      bad = true;
      continue;
    }
    alignas(64) std::array<uint8_t, kChunk> c;
    for (std::size_t off = 0; off < B; off += kChunk) {
      const std::size_t n = std::min(kChunk, B - off);
      code_run(b, blk.data() + off, n, c.data());
      pack_run(std::span<const uint8_t>(c.data(), n), bits,
               block_bytes(codes, b * B + off, n, bits));
    }
  }
  if (bad) fail_nonfinite(x);
}

}  // namespace loft::quant

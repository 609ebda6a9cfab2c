#include "quant/packing.hpp"

#if defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#endif

namespace loft::quant {

#if defined(__AVX512BW__) && defined(__AVX512VL__)
namespace {

// 32 bytes as two 16-byte loads.
__m256i load32(const uint8_t* p) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

}  // namespace
#endif

void pack_run(std::span<const uint8_t> codes, int bits, std::span<uint8_t> bytes) {
  const std::size_t n = codes.size();
  const uint8_t* c = codes.data();
  uint8_t* b = bytes.data();
  switch (bits) {
    case 8:
      for (std::size_t i = 0; i < n; ++i) b[i] = c[i];
      return;
    case 4: {
      std::size_t j = 0;
#if defined(__AVX512BW__) && defined(__AVX512VL__)
      // 32 codes at a time: c[2j] + 16 c[2j+1] per 16-bit pair (vpmaddubsw), then the low
      // bytes. The codes are read 16 bytes at a time, the width the fast encoders store them
      // with, so the loads are forwarded from those stores.
      for (; 2 * j + 32 <= n; j += 16) {
        const __m256i v = load32(c + 2 * j);
        const __m256i pairs = _mm256_maddubs_epi16(v, _mm256_set1_epi16(0x1001));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(b + j), _mm256_cvtepi16_epi8(pairs));
      }
#endif
      for (; j < n / 2; ++j) b[j] = static_cast<uint8_t>(c[2 * j] | (c[2 * j + 1] << 4));
      return;
    }
    case 2: {
      std::size_t j = 0;
#if defined(__AVX512BW__) && defined(__AVX512VL__)
      // 32 codes at a time: c0 + 4 c1 per 16-bit pair, then (c0 + 4 c1) + 16 (c2 + 4 c3) per
      // 32-bit word (vpmaddwd), then the low bytes.
      for (; 4 * j + 32 <= n; j += 8) {
        const __m256i v = load32(c + 4 * j);
        const __m256i pairs = _mm256_maddubs_epi16(v, _mm256_set1_epi16(0x0401));
        const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00100001));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(b + j), _mm256_cvtepi32_epi8(quads));
      }
#endif
      for (; j < n / 4; ++j)
        b[j] = static_cast<uint8_t>(c[4 * j] | (c[4 * j + 1] << 2) | (c[4 * j + 2] << 4) |
                                    (c[4 * j + 3] << 6));
      return;
    }
    default: {
      // Any width: 8 codes fill exactly `bits` bytes.
      for (std::size_t g = 0; g < n / 8; ++g) {
        uint64_t acc = 0;
        for (int k = 0; k < 8; ++k) acc |= static_cast<uint64_t>(c[8 * g + k]) << (k * bits);
        for (int k = 0; k < bits; ++k) b[g * bits + k] = static_cast<uint8_t>(acc >> (8 * k));
      }
    }
  }
}

void unpack_run(std::span<const uint8_t> bytes, int bits, std::span<uint8_t> codes) {
  const std::size_t n = codes.size();
  const uint8_t* b = bytes.data();
  uint8_t* c = codes.data();
  switch (bits) {
    case 8:
      for (std::size_t i = 0; i < n; ++i) c[i] = b[i];
      return;
    case 4:
      for (std::size_t j = 0; j < n / 2; ++j) {
        c[2 * j] = b[j] & 0x0f;
        c[2 * j + 1] = b[j] >> 4;
      }
      return;
    case 2:
      for (std::size_t j = 0; j < n / 4; ++j) {
        c[4 * j] = b[j] & 3;
        c[4 * j + 1] = (b[j] >> 2) & 3;
        c[4 * j + 2] = (b[j] >> 4) & 3;
        c[4 * j + 3] = b[j] >> 6;
      }
      return;
    default: {
      const uint64_t mask = (uint64_t{1} << bits) - 1;
      for (std::size_t g = 0; g < n / 8; ++g) {
        uint64_t acc = 0;
        for (int k = 0; k < bits; ++k) acc |= static_cast<uint64_t>(b[g * bits + k]) << (8 * k);
        for (int k = 0; k < 8; ++k) c[8 * g + k] = static_cast<uint8_t>((acc >> (k * bits)) & mask);
      }
    }
  }
}

}  // namespace loft::quant

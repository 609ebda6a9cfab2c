// Blockwise quantise/dequantise kernels: the scalar reference and the fast path side by side.
// Both compute the block scale with the same function and normalise with the same float
// division (y = x / scale), so they differ only in how the nearest code is found and packed.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "quant/block_loops.hpp"
#include "quant/packing.hpp"
#include "quant/registry.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace loft::quant {

namespace {

// max |x| over the block; false when it holds a NaN or Inf.
bool absmax_scale(std::span<const float> x, float& scale) {
  const uint32_t m = max_magnitude_bits(x);
  if (m >= kInfBits) return false;
  std::memcpy(&scale, &m, sizeof scale);
  return true;
}

// LoftQ's released code: block mean + 2.5 * block std (unbiased, as torch.std), here computed
// in double and rounded once to float32. May be negative or zero.
bool meanstd_scale(std::span<const float> x, float& scale) {
  if (!all_finite(x)) return false;
  const double n = static_cast<double>(x.size());
  double sum = 0;
  for (float v : x) sum += v;
  const double mean = sum / n;
  double ss = 0;
  for (float v : x) ss += (v - mean) * (v - mean);
  const double std = x.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  scale = static_cast<float>(mean + 2.5 * std);
  return true;
}

inline float normalise(float x, float scale) {
  return scale == 0.0f ? 0.0f : x / scale;
}

[[noreturn]] void fail_code(const Quantized& q, uint32_t code, std::size_t i, int levels) {
  fail("corrupt quantised data for {}: code {} at index {} (valid codes: 0..{})", format(q.spec),
       code, i, levels - 1);
}

// out[i] = levels16[code i] * s for a run of 2- or 4-bit codes (n a multiple of 8, byte
// aligned), the same float product as the reference; returns false if a code is >= valid.
// levels16 holds the levels padded to 16 entries. AVX-512: the 16 products are one register,
// and vpermps looks 16 codes up at once; elsewhere, a plain loop.
// With Stream, the 16-value stores bypass the caches (out + 16k must then be 64-byte aligned).
template <bool Stream>
bool decode_lut16(const uint8_t* bytes, int bits, std::size_t n, const float* levels16, float s,
                  int valid, float* out) {
  std::size_t i = 0;
  bool ok = true;
  const bool check = valid < (1 << bits);  // else every code is a level
#if defined(__AVX512F__) && defined(__AVX512VL__)
  const __m512 tab = _mm512_mul_ps(_mm512_loadu_ps(levels16), _mm512_set1_ps(s));
  auto store = [](float* p, __m512 v) {
    if constexpr (Stream)
      _mm512_stream_ps(p, v);
    else
      _mm512_storeu_ps(p, v);
  };
  const __m512i limit = _mm512_set1_epi32(valid);
  __mmask16 bad = 0;
  if (bits == 4) {
    // 32 codes per 16 bytes: low nibbles are the even values, high nibbles the odd ones.
    const __m128i low = _mm_set1_epi8(0x0f);
    for (; i + 32 <= n; i += 32) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i / 2));
      const __m128i lo = _mm_and_si128(b, low), hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
      const __m512i i0 = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
      const __m512i i1 = _mm512_cvtepu8_epi32(_mm_unpackhi_epi8(lo, hi));
      if (check) bad |= _mm512_cmpge_epi32_mask(i0, limit) | _mm512_cmpge_epi32_mask(i1, limit);
      store(out + i, _mm512_permutexvar_ps(i0, tab));
      store(out + i + 16, _mm512_permutexvar_ps(i1, tab));
    }
  } else if (bits == 2) {
    const __m512i shifts =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i mask = _mm512_set1_epi32(3);
    for (; i + 16 <= n; i += 16) {
      uint32_t word;
      std::memcpy(&word, bytes + i / 4, sizeof word);
      const __m512i idx = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(word)), shifts), mask);
      if (check) bad |= _mm512_cmpge_epi32_mask(idx, limit);
      store(out + i, _mm512_permutexvar_ps(idx, tab));
    }
  }
  ok = bad == 0;
#endif
  for (; i < n; ++i) {
    const uint32_t c =
        bits == 4 ? (bytes[i / 2] >> (4 * (i % 2))) & 15u : (bytes[i / 4] >> (2 * (i % 4))) & 3u;
    ok &= c < static_cast<uint32_t>(valid);
    out[i] = levels16[c] * s;
  }
  return ok;
}

// Whether a decoded output should bypass the caches (see streaming_store_bytes). Needs AVX-512
// and 64-byte aligned blocks (Eigen's matrices, and so fake_quantize's output, are aligned).
bool stream_output(std::span<float> out, std::size_t block) {
#if defined(__AVX512F__) && defined(__AVX512VL__)
  return out.size() * sizeof(float) > streaming_store_bytes() &&
         reinterpret_cast<uintptr_t>(out.data()) % 64 == 0 && block % 16 == 0;
#else
  return false;
#endif
}

}  // namespace

std::size_t streaming_store_bytes() {
  // The L3 that cpu0 uses, as Linux reports it ("32768K"); sysconf's figure can be the whole
  // package's (384 MiB on a 32 MiB-per-CCX EPYC), which no core has to itself.
  static const std::size_t bytes = [] {
    std::size_t kib = 0;
    if (std::FILE* f = std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r")) {
      if (std::fscanf(f, "%zuK", &kib) != 1) kib = 0;
      std::fclose(f);
    }
    return kib > 0 ? kib << 10 : std::size_t{32} << 20;
  }();
  return bytes;
}

const ScaleRule& absmax_rule() {
  static const ScaleRule rule{
      "absmax", "max |x| of the block, float32", {Stream::scale}, absmax_scale};
  return rule;
}

const ScaleRule& meanstd_rule() {
  static const ScaleRule rule{"meanstd",
                              "block mean + 2.5 std (unbiased), float32; may be <= 0, values "
                              "beyond it clip",
                              {Stream::scale},
                              meanstd_scale};
  return rule;
}

const ScaleRule& minmax_rule() {
  static const ScaleRule rule{"minmax",
                              "affine: float32 step (max(x, 0) - min(x, 0)) / (2^k - 1) and a "
                              "uint8 zero point",
                              {Stream::scale, Stream::zero_point}};
  return rule;
}

// ---- table quantizers: nearest codebook level of x / scale ----

void quantize_table(const Quantizer& row, const Spec& spec, std::span<const float> x,
                    Quantized& out, Kernel kernel) {
  const Nearest& book = *row.codebook;
  const auto block_scale = scale_rule(row, spec).scale;
  const std::size_t B = spec.block;
  out.scales.resize(x.size() / B);
  out.codes.resize(packed_bytes(x.size(), spec.bits));  // every byte is written
  auto prepare = [&](std::size_t b, std::span<const float> blk) {
    return block_scale(blk, out.scales[b]);
  };
  if (kernel == Kernel::reference) {
    encode_reference(x, B, spec.bits, out.codes, prepare, [&](std::size_t b, float v) {
      return book.reference(normalise(v, out.scales[b]));
    });
    return;
  }
  encode_fast(x, B, spec.bits, out.codes, prepare,
              [&](std::size_t b, const float* xs, std::size_t n, uint8_t* c) {
                book.codes(std::span<const float>(xs, n), std::span<uint8_t>(c, n), out.scales[b]);
              });
}

void dequantize_table(const Quantizer& row, const Quantized& q, std::span<const float> scales,
                      std::span<float> out, Kernel kernel) {
  const std::vector<float>& levels = row.codebook->levels();
  const int nl = static_cast<int>(levels.size());
  const std::size_t B = q.spec.block, nb = q.count / B;
  const int bits = q.spec.bits;
  if (kernel == Kernel::reference) {
    for (std::size_t i = 0; i < q.count; ++i) {
      const uint32_t c = unpack_one(q.codes, bits, i);
      if (c >= static_cast<uint32_t>(nl)) fail_code(q, c, i, nl);
      out[i] = levels[c] * scales[i / B];
    }
    return;
  }
  bool bad = false;
  const auto nbl = static_cast<std::ptrdiff_t>(nb);
  const int ncodes = 1 << bits;
  alignas(64) std::array<float, 16> levels16{};  // for the 2- and 4-bit lookups
  for (int c = 0; c < std::min(nl, 16); ++c) levels16[c] = levels[c];
  const bool lut16 = bits <= 4 && bits % 2 == 0;
  const bool stream = lut16 && stream_output(out, B);
#pragma omp parallel reduction(|| : bad)
  {
#pragma omp for schedule(static) nowait
    for (std::ptrdiff_t b = 0; b < nbl; ++b) {
      const float s = scales[b];
      const uint8_t* bytes = q.codes.data() + b * B * bits / 8;
      float* o = out.data() + b * B;
      if (lut16) {
        bad |= stream ? !decode_lut16<true>(bytes, bits, B, levels16.data(), s, nl, o)
                      : !decode_lut16<false>(bytes, bits, B, levels16.data(), s, nl, o);
        continue;
      }
      // Per-block table of level * scale: the same float product the reference computes.
      alignas(64) std::array<float, 256> scaled;
      for (int c = 0; c < ncodes; ++c) scaled[c] = c < nl ? levels[c] * s : 0.0f;
      alignas(64) std::array<uint8_t, kChunk> c;
      for (std::size_t off = 0; off < B; off += kChunk) {
        const std::size_t n = std::min(kChunk, B - off);
        unpack_run(block_bytes(q.codes, b * B + off, n, bits), bits,
                   std::span<uint8_t>(c.data(), n));
        uint8_t top = 0;
        for (std::size_t i = 0; i < n; ++i) top = std::max(top, c[i]);
        bad |= top >= nl;
        for (std::size_t i = 0; i < n; ++i) o[off + i] = scaled[c[i]];
      }
    }
#if defined(__AVX512F__)
    // Streaming stores are weakly ordered: fence them before the region's closing barrier, after
    // which any thread may read the output.
    if (stream) _mm_sfence();
#endif
  }
  if (bad) {
    for (std::size_t i = 0; i < q.count; ++i) {
      const uint32_t c = unpack_one(q.codes, bits, i);
      if (c >= static_cast<uint32_t>(nl)) fail_code(q, c, i, nl);
    }
  }
}

// ---- affine (int{k}:asym): integer levels c - zero_point of step (max - min) / (2^k - 1) ----

namespace {

struct Affine {
  float step = 0;
  uint8_t zero_point = 0;
};

// Zero is always inside [lo, hi], so it is exactly representable (code == zero point). The step
// is computed in double so that huge ranges do not overflow the difference.
bool affine_params(std::span<const float> x, int levels, Affine& a) {
  if (!all_finite(x)) return false;
  float lo = 0, hi = 0;
  for (float v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  a.step = static_cast<float>((static_cast<double>(hi) - lo) / (levels - 1));
  if (a.step == 0.0f) {
    a.zero_point = 0;
    return true;
  }
  const float z = std::nearbyint(-lo / a.step);
  a.zero_point = static_cast<uint8_t>(std::clamp(z, 0.0f, static_cast<float>(levels - 1)));
  return true;
}

}  // namespace

void quantize_affine(const Quantizer& row, const Spec& spec, std::span<const float> x,
                     Quantized& out, Kernel kernel) {
  const std::size_t B = spec.block;
  const int levels = 1 << spec.bits;
  out.scales.resize(x.size() / B);
  out.zero_points.resize(x.size() / B);
  out.codes.resize(packed_bytes(x.size(), spec.bits));  // every byte is written
  auto prepare = [&](std::size_t b, std::span<const float> blk) {
    Affine a;
    if (!affine_params(blk, levels, a)) return false;
    out.scales[b] = a.step;
    out.zero_points[b] = a.zero_point;
    return true;
  };
  if (kernel == Kernel::reference) {
    encode_reference(x, B, spec.bits, out.codes, prepare, [&](std::size_t b, float v) {
      const float y = normalise(v, out.scales[b]);
      const int zp = out.zero_points[b];
      int best = 0;
      for (int c = 1; c < levels; ++c)
        if (strictly_closer(y, static_cast<float>(c - zp), static_cast<float>(best - zp))) best = c;
      return static_cast<uint32_t>(best);
    });
    return;
  }
  encode_fast(x, B, spec.bits, out.codes, prepare,
              [&](std::size_t b, const float* xs, std::size_t n, uint8_t* c) {
                const float step = out.scales[b], zp = out.zero_points[b];
                const float top = static_cast<float>(levels - 1);
                for (std::size_t i = 0; i < n; ++i) {
                  const float y = step == 0.0f ? 0.0f : xs[i] / step;
                  // Nearest integer, ties down: nearbyint rounds ties to even, and y - q is
                  // exact here (|y| <= 2^k), so an exact -0.5 marks a tie that went up.
                  float q = std::nearbyint(y);
                  q -= (y - q == -0.5f) ? 1.0f : 0.0f;
                  c[i] = static_cast<uint8_t>(std::clamp(q + zp, 0.0f, top));
                }
              });
}

void dequantize_affine(const Quantizer& row, const Quantized& q, std::span<const float> scales,
                       std::span<float> out, Kernel kernel) {
  const std::size_t B = q.spec.block, nb = q.count / B;
  const int bits = q.spec.bits, levels = 1 << bits;
  if (kernel == Kernel::reference) {
    for (std::size_t i = 0; i < q.count; ++i) {
      const int c = static_cast<int>(unpack_one(q.codes, bits, i));
      out[i] = static_cast<float>(c - q.zero_points[i / B]) * scales[i / B];
    }
    return;
  }
  const auto nbl = static_cast<std::ptrdiff_t>(nb);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t b = 0; b < nbl; ++b) {
    const float s = scales[b];
    const int zp = q.zero_points[b];
    alignas(64) std::array<float, 256> scaled;
    for (int c = 0; c < levels; ++c) scaled[c] = static_cast<float>(c - zp) * s;
    alignas(64) std::array<uint8_t, kChunk> c;
    for (std::size_t off = 0; off < B; off += kChunk) {
      const std::size_t n = std::min(kChunk, B - off);
      unpack_run(block_bytes(q.codes, b * B + off, n, bits), bits, std::span<uint8_t>(c.data(), n));
      float* o = out.data() + b * B + off;
      for (std::size_t i = 0; i < n; ++i) o[i] = scaled[c[i]];
    }
  }
}

}  // namespace loft::quant

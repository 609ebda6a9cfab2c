#pragma once
// Public face of the quantizer library. Other modules use only what is declared here; the
// registry table (registry.hpp), codebooks (codebooks.hpp) and kernels live beside it.
//
// Semantics shared by every quantizer (see registry.cpp for the rows):
// - blocks of spec.block consecutive values of the row-major flattened buffer (blocks may
//   straddle rows, as in LoftQ and bitsandbytes), one float32 scale per block;
// - each value is normalised, y = x / scale (0 when the scale is 0), and coded as the nearest
//   level in exact arithmetic, ties to the lower code (torch.argmin's first-index rule);
// - decoding is level * scale, so an all-zero block decodes to zeros;
// - codes are packed LSB-first into a bitstream: value i holds bits [i*bits, (i+1)*bits).
// The rows (registry.cpp; `loftlab quantizers` lists them):
// - nf2 nf3 nf4 nf8: NormalFloat levels (LoftQ's create_normal_map), scale = block absmax;
// - fp4: bitsandbytes' E2M1 levels by code (sign bit 0b1000); ties go to the lower code number,
//   and +-0 both code 0;
// - int2..int8: (c - L) / L for c = 0..2L, L = 2^(k-1) - 1, scale = absmax;
// - int2:asym..int8:asym (every k): step = (max(x, 0) - min(x, 0)) / (2^k - 1), an integer
//   zero point stored as one uint8 per block (8 bits whatever k), decoded (c - zp) * step, so
//   zero is exact; the nearest integer to x / step, ties down, clamped to [0, 2^k - 1];
// - uniform2..uniform8: torch.linspace(-1, 1, 2^k) * absmax (LoftQ paper); :meanstd uses LoftQ
//   code's scale, block mean + 2.5 * unbiased std (may be <= 0; values beyond it clip).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"

namespace loft::quant {

// A parsed spec string such as "nf4", "nf2:b128", "int4:asym", "uniform2:meanstd", "nf4:dq".
struct Spec {
  std::string name;  // registry row, e.g. "nf4", "int4:asym", "uniform3"
  int bits = 4;      // code bits per weight
  int block = 64;    // values per scale, over the row-major flattened matrix
  bool double_quant = false;
  bool meanstd = false;  // uniform only: LoftQ code's scale rule (mean + 2.5 std)
};

Spec parse(std::string_view spec);     // throws loft::Error listing the valid names
std::string format(const Spec& spec);  // canonical form; format(parse(s)) round-trips

// True storage cost of the quantised matrix, scales (and double quantisation) included, for a
// matrix large enough that the one float32 mean of :dq is negligible.
double bits_per_weight(const Spec& spec);

// Quantise then dequantise: the matrix the quantised model actually computes with.
Matrix fake_quantize(const Spec& spec, ConstMatrixRef w);

// ---- below: additions beyond the skeleton API ----

// Throws loft::Error unless spec names a registry row with matching bits, a valid block size
// and only the options that row allows. parse() output always passes.
void validate(const Spec& spec);

// Block sizes must be multiples of 8 (so every block packs into whole bytes, and blocks can be
// coded in parallel) within [kMinBlock, kMaxBlock].
inline constexpr int kMinBlock = 8;
inline constexpr int kMaxBlock = 1 << 20;
// bitsandbytes' double quantisation: 8-bit dynamic-map codes in groups of this many scales.
inline constexpr int kDoubleQuantGroup = 256;

// Which implementation runs: the plain scalar reference (one value at a time, a scan over every
// code, single-threaded) or the fast path (threshold counts, vectorisable, OpenMP over blocks).
// They produce identical bytes; tests/quant checks it.
enum class Kernel { reference, fast };

// A quantised buffer: what would be stored on disk or in device memory.
struct Quantized {
  Spec spec;
  std::size_t count = 0;             // number of values
  std::vector<uint8_t> codes;        // packed codes, ceil(count * bits / 8) bytes
  std::vector<float> scales;         // one per block; empty under :dq (see scale_codes)
  std::vector<uint8_t> zero_points;  // int{k}:asym only: one per block, in [0, 2^k - 1]
  // :dq, as bitsandbytes' compress_statistics: scale_b is stored as
  // dynamic_map[scale_codes[b]] * scale_absmax[b / 256] + scale_offset.
  std::vector<uint8_t> scale_codes;  // one per block
  std::vector<float> scale_absmax;   // one per group of 256 blocks
  float scale_offset = 0.0f;         // mean of the block scales

  std::size_t blocks() const { return spec.block > 0 ? count / spec.block : 0; }
  uint32_t code(std::size_t i) const;  // the code of value i (unpacked)
  double storage_bits() const;         // everything above that would be stored, in bits
};

// Quantise x (x.size() must be a multiple of spec.block; every value finite).
Quantized quantize(const Spec& spec, std::span<const float> x, Kernel kernel = Kernel::fast);
// Same, reusing out's buffers (for loops such as LoftQ's alternating steps).
void quantize(const Spec& spec, std::span<const float> x, Quantized& out,
              Kernel kernel = Kernel::fast);
// Decode into out (out.size() == q.count).
void dequantize(const Quantized& q, std::span<float> out, Kernel kernel = Kernel::fast);
std::vector<float> dequantize(const Quantized& q, Kernel kernel = Kernel::fast);
// The per-block scales the decoder multiplies by (after undoing :dq).
std::vector<float> decoded_scales(const Quantized& q);

}  // namespace loft::quant

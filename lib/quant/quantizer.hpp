#pragma once
// Public face of the quantizer library. Other modules use only what is declared here; the
// registry table (registry.hpp), codebooks (codebooks.hpp) and kernels live beside it.
//
// Semantics shared by every quantizer:
// - blocks of spec.block consecutive values of the row-major flattened buffer (blocks may
//   straddle rows, as in LoftQ and bitsandbytes); the row's scale rule says what a block stores
//   besides its codes (a float32 scale, a zero point, a shared exponent);
// - each value is coded as a level of the row relative to its block's scale, and decoded as
//   level * scale, so an all-zero block decodes to zeros;
// - codes are packed LSB-first into a bitstream: value i holds bits [i*bits, (i+1)*bits).
// Each row's levels, scale rule and rounding are documented with the row in registry.cpp;
// `loftlab quantizers` lists them.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"

namespace loft::quant {

// A parsed spec string such as "nf4", "nf2:b128", "int4:asym", "uniform2:meanstd", "nf4:dq".
// A default Spec (empty name) stands for "no quantizer"; parse() fills every field from the row.
struct Spec {
  std::string name;  // registry row, e.g. "nf4", "int4:asym", "uniform3"
  int bits = 0;      // code bits per weight
  int block = 0;     // values per block, over the row-major flattened matrix
  bool double_quant = false;
  bool meanstd = false;  // uniform only: LoftQ code's scale rule (mean + 2.5 std)
};

Spec parse(std::string_view spec);     // throws loft::Error listing the valid names
std::string format(const Spec& spec);  // canonical form; format(parse(s)) round-trips

// True storage cost of the quantised matrix, scales (and double quantisation) included, for a
// matrix large enough that the one float32 mean of :dq is negligible.
double bits_per_weight(const Spec& spec);

// Quantise then dequantise: the matrix the quantised model actually computes with. The second
// form writes into `out`, reusing its storage when it has w's shape (an alternation's steps then
// fault in no new pages); out must not alias w.
Matrix fake_quantize(const Spec& spec, ConstMatrixRef w);
void fake_quantize(const Spec& spec, ConstMatrixRef w, Matrix& out);

// Throws loft::Error unless spec names a registry row with matching bits, a block size and
// only options that row takes. parse() output always passes.
void validate(const Spec& spec);

// bitsandbytes' double quantisation: 8-bit dynamic-map codes in groups of this many scales.
inline constexpr int kDoubleQuantGroup = 256;

// Which implementation runs: the plain scalar reference (one value at a time, a scan over every
// code, single-threaded) or the fast path (vectorised searches, OpenMP over blocks).
// They produce identical bytes; tests/quant checks it.
enum class Kernel { reference, fast };

// A quantised buffer: what would be stored on disk or in device memory.
struct Quantized {
  Spec spec;
  std::size_t count = 0;             // number of values
  std::vector<uint8_t> codes;        // packed codes, ceil(count * bits / 8) bytes
  std::vector<float> scales;         // float32 per block if the row stores them; empty under :dq
  std::vector<uint8_t> zero_points;  // int{k}:asym only: one per block, in [0, 2^k - 1]
  std::vector<uint8_t> exponents;    // shared power-of-two scales: E8M0 2^(e - 127) per block
  // :dq, as bitsandbytes' compress_statistics: scale_b is stored as
  // dynamic_map[scale_codes[b]] * scale_absmax[b / 256] + scale_offset.
  std::vector<uint8_t> scale_codes;  // one per block
  std::vector<float> scale_absmax;   // one per group of 256 blocks
  float scale_offset = 0.0f;         // mean of the block scales

  std::size_t blocks() const { return spec.block > 0 ? count / spec.block : 0; }
  uint32_t code(std::size_t i) const;  // the code of value i (unpacked)
  double storage_bits() const;         // everything above that is stored, in bits
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

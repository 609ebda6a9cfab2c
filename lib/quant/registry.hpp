#pragma once
// The quantizer registry: one row per quantizer, and the row is the one place that says what its
// variant is: code bits, levels, the scale rule and the side streams it stores per block, the
// block sizes it takes, and the spec options it takes. Spec parsing and formatting, validation,
// storage accounting (bits_per_weight, Quantized::storage_bits), the consistency checks of a
// quantised buffer, the `loftlab quantizers` listing and the tests of tests/quant all derive
// from the rows, so a new quantizer is one row, plus its kernels when no existing kernel fits.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quant/nearest.hpp"
#include "quant/quantizer.hpp"

namespace loft::quant {

struct Quantizer;

// ---- side streams: what a quantised buffer stores besides its codes ----

// Each stream is one member of Quantized. Which ones a buffer holds follows from its row's
// scale rule and the spec's options (stored_streams below).
enum class Stream {
  scale,         // Quantized::scales: a float32 per block (the step of affine rows)
  zero_point,    // Quantized::zero_points: a uint8 per block
  exponent,      // Quantized::exponents: an E8M0 byte per block, the scale 2^(e - 127)
  scale_code,    // Quantized::scale_codes (:dq): a uint8 per block
  scale_absmax,  // Quantized::scale_absmax (:dq): a float32 per group of kDoubleQuantGroup blocks
  scale_offset,  // Quantized::scale_offset (:dq): one float32 per buffer
};

struct StreamInfo {
  Stream stream;
  std::string_view member;                     // Quantized's member, as error messages name it
  std::string_view what;                       // for listings, e.g. "f32 scale"
  int bits;                                    // width of one entry
  std::size_t blocks;                          // blocks per entry; 0: one entry per buffer
  std::size_t (*entries)(const Quantized& q);  // how many entries q holds
  void (*clear)(Quantized& q);

  // Entries a buffer of `nblocks` blocks holds when it stores this stream.
  std::size_t expected(std::size_t nblocks) const {
    return blocks == 0 ? 1 : (nblocks + blocks - 1) / blocks;
  }
  // Storage per block when a matrix has many blocks (per-buffer entries vanish).
  double bits_per_block() const { return blocks == 0 ? 0.0 : static_cast<double>(bits) / blocks; }
};

const std::vector<StreamInfo>& stream_table();  // every stream, in Stream order
const StreamInfo& stream_info(Stream stream);

// ---- scale rules: how a block's scale is chosen and stored ----

struct ScaleRule {
  std::string_view name;         // "absmax", "meanstd", "minmax", ...
  std::string_view description;  // one line for listings
  std::vector<Stream> streams;   // stored per block (before :dq)
  // The float a block's values are divided by, for rules that store it as Stream::scale and
  // rows whose kernel normalises by it (quantize_table); false on a NaN or Inf in the block.
  // Null when the row's kernel computes its block parameters itself.
  bool (*scale)(std::span<const float> block, float& scale) = nullptr;
  // The per-block scales from the stored streams, for rules that do not store Stream::scale.
  std::vector<float> (*decode)(const Quantized& q) = nullptr;
};

const ScaleRule& absmax_rule();   // max |x|, float32
const ScaleRule& meanstd_rule();  // LoftQ code's block mean + 2.5 std (unbiased), float32
const ScaleRule& minmax_rule();   // affine: float32 step over [min(x, 0), max(x, 0)] + uint8 zero

// ---- block sizes and spec options ----

// The block sizes a row takes: multiples of `multiple` in [min, max] (min == max for a row with
// a fixed block). Every allowed block must pack into whole bytes (block * bits % 8 == 0), so
// blocks can be coded in parallel.
struct BlockSizes {
  int default_block = 0;
  int min = 0, max = 0, multiple = 1;

  bool allows(long long block) const {
    return block >= min && block <= max && block % multiple == 0;
  }
  bool fixed() const { return min == max; }
  std::string describe() const;  // "b<N> with N a multiple of 8 in [8, 1048576]", "b32 only"
  bool operator==(const BlockSizes&) const = default;
};

// A flag of the spec string, written ":<key>". A row lists the ones it takes.
struct SpecOption {
  std::string_view key;
  bool Spec::*flag;
  std::string_view help;
  // The scale rule it selects instead of the row's, or null. Canonical spec strings write
  // rule-selecting options before the block size and the others after it.
  const ScaleRule* rule = nullptr;
};

// Every option, in canonical order.
const std::vector<const SpecOption*>& spec_options();
// :dq, bitsandbytes' double quantisation: the float32 Stream::scale is stored as an 8-bit code
// per block plus a float32 absmax per group of kDoubleQuantGroup blocks and one float32 mean.
const SpecOption& double_quant_option();
const SpecOption& meanstd_option();  // :meanstd selects meanstd_rule()

// ---- the rows ----

// Fill out.codes (packed) and the streams of the spec's scale rule, sized to the block count
// (before any :dq; the caller empties every other stream). x.size() is a multiple of
// spec.block (checked by the caller).
using QuantizeFn = void (*)(const Quantizer& row, const Spec& spec, std::span<const float> x,
                            Quantized& out, Kernel kernel);
// Decode q into out with the given per-block scales (already decoded from the stored streams).
using DequantizeFn = void (*)(const Quantizer& row, const Quantized& q,
                              std::span<const float> scales, std::span<float> out, Kernel kernel);

struct Quantizer {
  std::string name;                         // spec name, e.g. "nf4", "int4:asym"
  int bits = 0;                             // code bits per weight
  std::string description;                  // one line for `loftlab quantizers`
  const ScaleRule* scale = nullptr;         // how block scales are chosen and stored
  BlockSizes blocks;                        // block sizes it takes
  std::vector<const SpecOption*> options;   // the spec options it takes
  std::shared_ptr<const Nearest> codebook;  // normalised level of each code; null for affine rows
  QuantizeFn quantize = nullptr;
  DequantizeFn dequantize = nullptr;

  bool takes(const SpecOption& option) const;
};

// All rows, in listing order.
const std::vector<Quantizer>& registry();
// The row of that name, or nullptr.
const Quantizer* find_quantizer(std::string_view name);
// The row for a spec, after validate(spec).
const Quantizer& quantizer_for(const Spec& spec);

// The scale rule a spec uses: the one an option of the spec selects, else the row's.
const ScaleRule& scale_rule(const Quantizer& row, const Spec& spec);
// The side streams a buffer quantised with spec holds (under :dq, Stream::scale is replaced by
// scale_code, scale_absmax and scale_offset).
std::vector<Stream> stored_streams(const Quantizer& row, const Spec& spec);

// ---- names for messages and listings ----

// "nf2, nf3, ..." (every row) for error messages.
std::string registry_names();
// Row names with runs of widths folded: {nf2, nf3, nf4, nf8} -> "nf2, nf3, nf4, nf8",
// {int2, ..., int8} -> "int2..int8".
std::string summarize_names(const std::vector<std::string_view>& names);
// The same for a set of rows, or "every quantizer (but ...)" when that is shorter.
std::string summarize_rows(const std::vector<std::string_view>& names);
// The rows that take an option, summarised as summarize_rows does.
std::string rows_taking(const SpecOption& option);
// Name suffixes that name rows of their own, such as "asym" of "int4:asym".
std::vector<std::string_view> name_suffixes();
// The syntax of a spec string, e.g. "<name>[:asym][:meanstd][:b<N>][:dq]".
std::string spec_syntax();
// The block sizes each group of rows takes, e.g. "every quantizer: b<N> with N a multiple of 8
// in [8, 1048576], default 64".
std::string block_sizes_summary();
// One line per option of spec_syntax(): what it does and which rows take it.
std::vector<std::string> spec_option_lines();

// ---- the kernels behind the rows ----

// Table rows (kernels.cpp): the nearest level of x / scale, the scale from the row's rule.
void quantize_table(const Quantizer&, const Spec&, std::span<const float>, Quantized&, Kernel);
void dequantize_table(const Quantizer&, const Quantized&, std::span<const float>, std::span<float>,
                      Kernel);
// Decoded outputs larger than this (the last-level cache of a core) are written by the table
// kernels with streaming stores, which skip reading each cache line in before overwriting it:
// at that size the lines would be evicted before anyone reads them again (glibc's memcpy
// switches at a like size). Same bytes either way.
std::size_t streaming_store_bytes();
// Affine rows (kernels.cpp): integer levels c - zero_point of the block's step.
void quantize_affine(const Quantizer&, const Spec&, std::span<const float>, Quantized&, Kernel);
void dequantize_affine(const Quantizer&, const Quantized&, std::span<const float>, std::span<float>,
                       Kernel);

// :dq (double_quant.cpp): compress scales into q.scale_codes/scale_absmax/scale_offset, and back.
void double_quantize(std::span<const float> scales, Quantized& q, Kernel kernel);
std::vector<float> double_dequantize(const Quantized& q);
const Nearest& dynamic_map();

}  // namespace loft::quant

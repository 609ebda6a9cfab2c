#pragma once
// The quantizer registry: one row per quantizer. Spec parsing, validation, the CLI listing and
// the names in result files all come from this table; tests/quant loops over it, so a new
// quantizer is one row (plus its two functions if no existing kernel fits).
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quant/nearest.hpp"
#include "quant/quantizer.hpp"

namespace loft::quant {

struct Quantizer;

// Fill out.codes (packed), out.scales (one per block, before any :dq) and, for affine rows,
// out.zero_points. x.size() is a multiple of spec.block (checked by the caller).
using QuantizeFn = void (*)(const Quantizer& row, const Spec& spec, std::span<const float> x,
                            Quantized& out, Kernel kernel);
// Decode q into out with the given per-block scales (already decoded from :dq).
using DequantizeFn = void (*)(const Quantizer& row, const Quantized& q,
                              std::span<const float> scales, std::span<float> out, Kernel kernel);

enum class ScaleRule {
  absmax,  // scale = max |x| over the block (meanstd rule selectable where allows_meanstd)
  minmax,  // affine: step = (max(x, 0) - min(x, 0)) / (2^k - 1) plus an integer zero point
};

struct Quantizer {
  std::string name;         // spec name, e.g. "nf4", "int4:asym"
  int bits = 0;             // code bits per weight
  std::string description;  // one line for `loftlab quantizers`
  ScaleRule rule = ScaleRule::absmax;
  bool allows_meanstd = false;              // uniform{k}:meanstd
  std::shared_ptr<const Nearest> codebook;  // normalised level of each code; null for minmax
  QuantizeFn quantize = nullptr;
  DequantizeFn dequantize = nullptr;
};

// All rows, in listing order.
const std::vector<Quantizer>& registry();
// The row of that name, or nullptr.
const Quantizer* find_quantizer(std::string_view name);
// The row for a spec, after validate(spec).
const Quantizer& quantizer_for(const Spec& spec);
// "nf2, nf3, ..." for error messages.
std::string registry_names();

// The kernels behind the rows (kernels.cpp).
void quantize_table(const Quantizer&, const Spec&, std::span<const float>, Quantized&, Kernel);
void dequantize_table(const Quantizer&, const Quantized&, std::span<const float>, std::span<float>,
                      Kernel);
void quantize_affine(const Quantizer&, const Spec&, std::span<const float>, Quantized&, Kernel);
void dequantize_affine(const Quantizer&, const Quantized&, std::span<const float>, std::span<float>,
                       Kernel);

// :dq (double_quant.cpp): compress scales into q.scale_codes/scale_absmax/scale_offset, and back.
void double_quantize(std::span<const float> scales, Quantized& q, Kernel kernel);
std::vector<float> double_dequantize(const Quantized& q);
const Nearest& dynamic_map();

}  // namespace loft::quant

#pragma once
// MXFP4 of the OCP Microscaling Formats specification v1.0: blocks of 32 FP4 E2M1 elements
// sharing one E8M0 scale X = 2^(e - 127), value = X * element.
//
// - Shared scale: e - 127 = floor(log2(max |v|)) - emax_elem with emax_elem = 2 (E2M1's largest
//   normal, 6 = 1.5 * 2^2), so the block maximum lands in [4, 8) before clamping, clamped to
//   E8M0's range [-127, 127] (in practice only from below: float32 tops out at 2^128). An
//   all-zero block, whose log2 is -inf, takes that lower end: e = 0, X = 2^-127, elements 0.
// - E8M0 code 0xff is NaN. quantize() never writes it (NaN and Inf inputs are errors), and
//   decoding a buffer that holds it is an error rather than the spec's all-NaN block.
// - Elements: v / X rounded to the nearest E2M1 value, ties to the even code (the spec's
//   roundTiesToEven: 0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 5 -> 4), magnitudes beyond 6 clamped to
//   6, and the sign kept, so a negative value that rounds to zero is -0 (code 8), as an IEEE
//   conversion gives. The other rows tie to the lower code because they reproduce
//   torch.argmin in LoftQ's code; here the reference is the spec and the MX hardware that
//   follows it, and in sign-magnitude E2M1 the lower code would mean rounding half toward
//   zero, a bias toward smaller magnitudes.
// - Element codes (OCP): bit 3 the sign, bits 2..0 the magnitude 0, 0.5, 1, 1.5, 2, 3, 4, 6.
#include <cstdint>
#include <span>
#include <vector>

#include "quant/registry.hpp"

namespace loft::quant {

// The E2M1 value of each code 0..15 (code 8 is -0).
std::vector<float> e2m1_levels();

// The E8M0 shared scale: stored as Stream::exponent, decoded to 2^(e - 127) per block.
const ScaleRule& e8m0_rule();

// The E8M0 code of a block's shared scale from its largest magnitude (finite, >= 0): the
// reference from std::ilogb, and the fast one from the float's exponent bits.
uint8_t e8m0_code_reference(float absmax);
uint8_t e8m0_code(uint32_t absmax_bits);
// 2^(code - 127) as a float32 (exact: 2^-127 is a denormal); code 0xff is not a scale.
float e8m0_value(uint8_t code);

// The row's encoder (decoding is dequantize_table over e2m1_levels() with the decoded scales).
void quantize_mx(const Quantizer&, const Spec&, std::span<const float>, Quantized&, Kernel);

}  // namespace loft::quant

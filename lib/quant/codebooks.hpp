#pragma once
// The level tables ("codebooks") of the quantizers, each built the way the reference code that
// defines it builds it, so that the float32 values agree bit for bit:
// - NormalFloat: LoftQ's / bitsandbytes' create_normal_map (float32 torch.linspace, float64
//   inverse normal CDF, cast to float32, sorted, divided by the maximum in float32);
// - FP4: bitsandbytes' E2M1 table, sign bit separate;
// - the signed 8-bit dynamic map of bitsandbytes' create_dynamic_map (double quantisation);
// - int{k} symmetric and uniform{k} (LoftQ's create_uniform_map, torch.linspace(-1, 1, 2^k)).
// Every table is indexed by code.
#include <vector>

namespace loft::quant {

// Inverse of the standard normal CDF (scipy.stats.norm.ppf) in double precision: Acklam's
// rational approximation refined by one Halley step on std::erfc, relative error ~1e-15 on
// (0, 1); ppf(0.5) == 0 exactly, ppf(0) = -inf, ppf(1) = +inf.
double normal_quantile(double p);

// torch.linspace(start, end, steps) in float32 as PyTorch's scalar CPU kernel computes it:
// float step, the first half counted up from start, the second half down from end, no fused
// multiply-add. (torch's own result varies with the CPU in the last bits: its AVX2/AVX-512
// builds fuse the multiply-add, and from 16 steps on they take a vectorised variant. This
// formula is what ATEN_CPU_CAPABILITY=default gives for fewer than 16 steps; tests/quant
// compares the tables built on it with torch's.)
std::vector<float> linspace_f32(float start, float end, int steps);

// LoftQ's create_normal_map(offset=0.9677083, symmetric=False) for 2^bits levels: asymmetric
// (one more positive level), an exact zero, normalised to [-1, 1].
std::vector<float> normal_float_levels(int bits);

// bitsandbytes' FP4 (E2M1) table for codes 0..15: magnitude from code & 7, sign from code & 8.
std::vector<float> fp4_levels();

// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256
// sorted levels in [-0.99297, 1] with an exact zero.
std::vector<float> dynamic_map_levels();

// int{k} symmetric absmax: (c - L) / L for c = 0..2L, L = 2^(bits-1) - 1 (2^bits - 1 levels, so
// the top code is unused and zero is exact).
std::vector<float> int_symmetric_levels(int bits);

// LoftQ's create_uniform_map(symmetric=False): torch.linspace(-1, 1, 2^bits) (no zero level).
std::vector<float> uniform_levels(int bits);

}  // namespace loft::quant

#pragma once
// Storage of a quantised tensor in whole bits, from the registry's accounting: the packed codes
// plus every side stream the spec stores (scales, double-quantisation codes, group absmaxes and
// the one per-buffer offset), exactly what Quantized::storage_bits() reports after quantising,
// without quantising. bits_per_weight(spec) is its limit for a large matrix.
#include <cstdint>

#include "quant/quantizer.hpp"

namespace loft::alloc {

// Throws when spec cannot take `count` values (count not a multiple of its block).
int64_t storage_bits(const quant::Spec& spec, int64_t count);

// A rank-r adapter of an m x n weight: r (m + n) values in 16 bits.
inline int64_t adapter_bits(int64_t rank, int64_t rows, int64_t cols) {
  return rank * (rows + cols) * 16;
}

}  // namespace loft::alloc

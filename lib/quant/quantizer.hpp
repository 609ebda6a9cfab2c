#pragma once
// Public face of the quantizer library. Other modules use only what is declared here; the
// registry table, codebooks and kernels live beside it in lib/quant/.
// (Skeleton: the quant module owner fills in the rest; the names below are the stable API.)
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"

namespace loft::quant {

// A parsed spec string such as "nf4", "nf2:b128", "int4:asym", "uniform2:meanstd", "nf4:dq".
struct Spec {
  std::string name;         // registry row, e.g. "nf4", "int4:asym", "uniform3"
  int bits = 4;             // code bits per weight
  int block = 64;           // values per scale, over the row-major flattened matrix
  bool double_quant = false;
  bool meanstd = false;     // uniform only: LoftQ code's scale rule (mean + 2.5 std)
};

Spec parse(std::string_view spec);    // throws loft::Error listing the valid names
std::string format(const Spec& spec); // canonical form; format(parse(s)) round-trips

// True storage cost of the quantised matrix, scales (and double quantisation) included.
double bits_per_weight(const Spec& spec);

// Quantise then dequantise: the matrix the quantised model actually computes with.
Matrix fake_quantize(const Spec& spec, ConstMatrixRef w);

}  // namespace loft::quant

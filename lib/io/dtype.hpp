#pragma once
// Element types of tensor files and their conversion to float32: one registry row per dtype
// (name as safetensors spells it, numpy's descr, width, converter), so every reader accepts the
// same set and names the same valid choices in its errors.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"

namespace loft::io {

struct Dtype {
  const char* name;       // safetensors spelling: "F32", "F16", "BF16", "F64"
  const char* npy_descr;  // numpy little-endian descr, "" when numpy has none (bfloat16)
  int bytes;              // width of one element
  // Converts n little-endian elements at src (any alignment) to float32.
  void (*to_f32)(const std::byte* src, float* dst, size_t n);
};

std::span<const Dtype> dtypes();
const Dtype* find_dtype(std::string_view name);       // by safetensors name; nullptr if unknown
const Dtype* find_npy_dtype(std::string_view descr);  // by numpy descr; nullptr if unknown
std::string dtype_names();                            // "F32, F16, BF16, F64" for messages

float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);
// Round to nearest even, as PyTorch's .to(torch.bfloat16); NaN stays NaN.
uint16_t float_to_bf16(float f);
// IEEE binary16, round to nearest even (subnormals and overflow to Inf included), as PyTorch's
// .to(torch.float16); NaN stays NaN.
uint16_t float_to_half(float f);

// The number of elements of a shape read from a file, or 0 with ok = false when a dimension is
// negative or the product passes 2^62: shapes from files are multiplied only through this, so
// no product wraps around (and a huge one is refused before it is allocated or compared).
struct ElementCount {
  uint64_t n = 1;
  bool ok = true;
};
ElementCount element_count(std::span<const int64_t> shape);

// float32 values as little-endian elements of `dtype` (F32, F64, BF16 and F16 rounding to
// nearest even); another dtype is an error listing the valid ones.
std::vector<std::byte> encode_f32(std::span<const float> values, std::string_view dtype);

// Throws naming the tensor, the file, the first bad index and its value when data holds NaN/Inf.
void check_finite(std::span<const float> data, std::string_view tensor, std::string_view file);

// Converts one tensor's raw bytes (numel * dtype.bytes of them) to a Matrix following the
// TensorSource convention: 2-D as (out x in), 1-D as a 1 x n row, 0-D as 1 x 1; higher ranks and
// NaN/Inf are errors naming the tensor and the file.
Matrix decode_tensor(std::span<const std::byte> raw, const Dtype& dtype,
                     std::span<const int64_t> shape, std::string_view tensor,
                     std::string_view file);

}  // namespace loft::io

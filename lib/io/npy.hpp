#pragma once
// NumPy .npy files (format versions 1.0, 2.0 and 3.0): little-endian float32, float16 or float64
// in C order are read into float32; loftlab writes float32 version 1.0 files that numpy.load
// reads back. Every error names the file and says what would be valid.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/matrix.hpp"
#include "io/dtype.hpp"

namespace loft::io {

struct NpyHeader {
  const Dtype* dtype = nullptr;  // never null after a successful read
  std::vector<int64_t> shape;    // () for a scalar
  size_t data_offset = 0;        // bytes from the start of the file to the first element
  size_t count() const;          // product of shape
};

// Parses and validates the header only (cheap; used to list a folder of .npy files). Checks the
// file size against the shape, so a truncated file fails here rather than at load time.
NpyHeader read_npy_header(const std::filesystem::path& path);

struct NpyArray {
  std::vector<int64_t> shape;
  std::string dtype;        // the dtype in the file ("F32", "F16", "F64")
  std::vector<float> data;  // C order, converted to float32
};

// Any rank; no finiteness check.
NpyArray read_npy_array(const std::filesystem::path& path);

// A 2-D array as (rows x cols); an error for any other rank and for NaN/Inf (naming the file).
Matrix read_npy(const std::filesystem::path& path);
// A 1-D array; an error for any other rank and for NaN/Inf.
Vector read_npy_vector(const std::filesystem::path& path);

// float32 (or int32), C order, format 1.0. Written atomically (common/files.hpp: a temporary name,
// then rename; a symbolic link at `path` is replaced, never written through).
void write_npy(const std::filesystem::path& path, ConstMatrixRef m);
void write_npy(const std::filesystem::path& path, std::span<const float> data,
               std::span<const int64_t> shape);
void write_npy(const std::filesystem::path& path, std::span<const int32_t> data,
               std::span<const int64_t> shape);

}  // namespace loft::io

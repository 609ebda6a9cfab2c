#pragma once
// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then the
// tensor bytes, offsets relative to the end of the header. Files are memory-mapped and every
// entry is validated at open (known dtype width, offsets matching the shape, entries tiling the
// data without gaps or overlaps, as the reference implementation requires), so a corrupt file
// fails before any work starts, with a message naming the file and the tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/matrix.hpp"
#include "io/mapped_file.hpp"
#include "io/source.hpp"

namespace loft::io {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  // In the file's data order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Converted to float32 (F32, F16, BF16, F64); other dtypes, unknown names and NaN/Inf are
  // errors naming the file and the tensor.
  Matrix load(const std::string& name) const;
  std::span<const std::byte> raw(const std::string& name) const;
  // Drops the tensor's resident pages (MappedFile::release) once it has been converted.
  void release(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::pair<size_t, size_t>> index_;  // name -> [begin, end) in the file
  std::map<std::string, size_t> position_;                  // name -> index in tensors_
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: raw little-endian bytes of the given dtype.
struct RawTensor {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

// What a tensor of a safetensors file is, without its bytes (a file written piece by piece).
struct TensorEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  size_t bytes = 0;
};
// The start of a safetensors file holding `tensors` in this order: the 8-byte header length and
// the JSON header, padded so the data starts 8-byte aligned. Throws for a duplicate name.
std::string safetensors_header(const std::vector<TensorEntry>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

// Writes a safetensors file atomically (common/files.hpp: a temporary name, then rename).
void write_safetensors(const std::filesystem::path& path, const std::vector<RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// float32 matrices (2-D) under their names.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Matrix>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace loft::io

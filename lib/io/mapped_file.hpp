#pragma once
// A read-only memory map of a whole file: sources keep their checkpoint files mapped and convert
// one tensor at a time, so a model larger than RAM can still be swept tensor by tensor.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace loft::io {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);  // throws naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the resident pages of bytes [offset, offset + length) (madvise MADV_DONTNEED; a later
  // read faults them in again from the file), so a walk over a model keeps one tensor resident.
  void release(size_t offset, size_t length) const;

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace loft::io

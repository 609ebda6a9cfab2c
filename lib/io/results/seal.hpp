#pragma once
// The seal at the end of every file the results store writes (point files, results.h5, the
// calibration and cost caches): 24 bytes after the HDF5 image,
//
//   "LOFTSEAL" | length of the image, uint64 LE | CRC-64/XZ of the image, uint64 LE
//
// HDF5 ignores bytes past the end of its data, so h5py and the HDF5 tools read a sealed file as
// any other. loftlab checks the seal before HDF5 reads a byte of a file it wrote: libhdf5 is not
// hardened against damaged files (some send it into an endless loop), and a file that was cut
// short, torn or edited after loftlab wrote it is refused with a message instead.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace loft::results {

inline constexpr size_t kSealBytes = 24;

// The seal of `image` (the 24 bytes to write after it).
std::string make_seal(std::span<const char> image);

enum class SealState {
  sealed,    // ends with a seal whose length and checksum match the bytes before it
  unsealed,  // does not end with a seal (written by something else)
  damaged,   // ends with a seal that does not match: cut, torn or edited since it was written
};

// Reads the whole file behind `fd` (a regular file of `size` bytes) in pieces, without holding
// it in memory. Throws naming `where` when a read fails.
SealState check_seal(int fd, uint64_t size, const std::string& where);
// The same on bytes in memory.
SealState check_seal(std::span<const char> bytes);

}  // namespace loft::results

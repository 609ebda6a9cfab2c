#include "io/results/seal.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/crc64.hpp"
#include "common/error.hpp"

namespace loft::results {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'F', 'T', 'S', 'E', 'A', 'L'};

void put_u64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

// Whether `seal` (kSealBytes) is a seal; length and crc are what it records.
bool parse(const char* seal, uint64_t& length, uint64_t& crc) {
  if (std::memcmp(seal, kMagic, sizeof kMagic) != 0) return false;
  length = get_u64(seal + 8);
  crc = get_u64(seal + 16);
  return true;
}

void read_exact(int fd, char* out, size_t n, uint64_t offset, const std::string& where) {
  while (n > 0) {
    const ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("cannot read {}: {}", where, std::strerror(errno));
    if (got == 0) fail("cannot read {}: it became shorter while being read", where);
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

}  // namespace

std::string make_seal(std::span<const char> image) {
  std::string seal(kSealBytes, '\0');
  std::memcpy(seal.data(), kMagic, sizeof kMagic);
  put_u64(seal.data() + 8, image.size());
  put_u64(seal.data() + 16, crc64(image));
  return seal;
}

SealState check_seal(int fd, uint64_t size, const std::string& where) {
  if (size < kSealBytes) return SealState::unsealed;
  char seal[kSealBytes];
  read_exact(fd, seal, kSealBytes, size - kSealBytes, where);
  uint64_t length = 0, want = 0;
  if (!parse(seal, length, want)) return SealState::unsealed;
  if (length != size - kSealBytes) return SealState::damaged;
  std::vector<char> buf(size_t(1) << 20);
  uint64_t crc = 0;
  for (uint64_t at = 0; at < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - at));
    read_exact(fd, buf.data(), n, at, where);
    crc = crc64({buf.data(), n}, crc);
    at += n;
  }
  return crc == want ? SealState::sealed : SealState::damaged;
}

SealState check_seal(std::span<const char> bytes) {
  if (bytes.size() < kSealBytes) return SealState::unsealed;
  uint64_t length = 0, want = 0;
  if (!parse(bytes.data() + bytes.size() - kSealBytes, length, want)) return SealState::unsealed;
  if (length != bytes.size() - kSealBytes) return SealState::damaged;
  return crc64(bytes.first(length)) == want ? SealState::sealed : SealState::damaged;
}

}  // namespace loft::results

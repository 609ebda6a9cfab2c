#include "common/crc64.hpp"

#include <array>

namespace loft {
namespace {

constexpr uint64_t kPoly = 0xc96c5795d7870f42ull;  // ECMA-182, bit-reversed

constexpr std::array<uint64_t, 256> make_table() {
  std::array<uint64_t, 256> t{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto kTable = make_table();

}  // namespace

uint64_t crc64(std::span<const char> bytes, uint64_t crc) {
  uint64_t c = ~crc;
  for (const char b : bytes) c = kTable[(c ^ static_cast<unsigned char>(b)) & 0xff] ^ (c >> 8);
  return ~c;
}

}  // namespace loft

#include "quant/packing.hpp"

namespace loft::quant {

void pack_run(std::span<const uint8_t> codes, int bits, std::span<uint8_t> bytes) {
  const std::size_t n = codes.size();
  const uint8_t* c = codes.data();
  uint8_t* b = bytes.data();
  switch (bits) {
    case 8:
      for (std::size_t i = 0; i < n; ++i) b[i] = c[i];
      return;
    case 4:
      for (std::size_t j = 0; j < n / 2; ++j)
        b[j] = static_cast<uint8_t>(c[2 * j] | (c[2 * j + 1] << 4));
      return;
    case 2:
      for (std::size_t j = 0; j < n / 4; ++j)
        b[j] = static_cast<uint8_t>(c[4 * j] | (c[4 * j + 1] << 2) | (c[4 * j + 2] << 4) |
                                    (c[4 * j + 3] << 6));
      return;
    default: {
      // Any width: 8 codes fill exactly `bits` bytes.
      for (std::size_t g = 0; g < n / 8; ++g) {
        uint64_t acc = 0;
        for (int k = 0; k < 8; ++k) acc |= static_cast<uint64_t>(c[8 * g + k]) << (k * bits);
        for (int k = 0; k < bits; ++k) b[g * bits + k] = static_cast<uint8_t>(acc >> (8 * k));
      }
    }
  }
}

void unpack_run(std::span<const uint8_t> bytes, int bits, std::span<uint8_t> codes) {
  const std::size_t n = codes.size();
  const uint8_t* b = bytes.data();
  uint8_t* c = codes.data();
  switch (bits) {
    case 8:
      for (std::size_t i = 0; i < n; ++i) c[i] = b[i];
      return;
    case 4:
      for (std::size_t j = 0; j < n / 2; ++j) {
        c[2 * j] = b[j] & 0x0f;
        c[2 * j + 1] = b[j] >> 4;
      }
      return;
    case 2:
      for (std::size_t j = 0; j < n / 4; ++j) {
        c[4 * j] = b[j] & 3;
        c[4 * j + 1] = (b[j] >> 2) & 3;
        c[4 * j + 2] = (b[j] >> 4) & 3;
        c[4 * j + 3] = b[j] >> 6;
      }
      return;
    default: {
      const uint64_t mask = (uint64_t{1} << bits) - 1;
      for (std::size_t g = 0; g < n / 8; ++g) {
        uint64_t acc = 0;
        for (int k = 0; k < bits; ++k) acc |= static_cast<uint64_t>(b[g * bits + k]) << (8 * k);
        for (int k = 0; k < 8; ++k) c[8 * g + k] = static_cast<uint8_t>((acc >> (k * bits)) & mask);
      }
    }
  }
}

}  // namespace loft::quant

#pragma once
// Bit packing of codes: value i occupies bits [i*bits, (i+1)*bits) of a little-endian,
// LSB-first bitstream (for 4 bits: value 2j in the low nibble of byte j). Reference: one bit at
// a time. Fast: whole bytes at a time; requires the run to start on a byte boundary and hold a
// whole number of bytes (count * bits % 8 == 0), which block sizes that are multiples of 8 give.
#include <cstddef>
#include <cstdint>
#include <span>

namespace loft::quant {

inline std::size_t packed_bytes(std::size_t count, int bits) {
  return (count * bits + 7) / 8;
}

// Reference, at any bit offset: code of value i of the stream.
inline uint32_t unpack_one(std::span<const uint8_t> bytes, int bits, std::size_t i) {
  uint32_t c = 0;
  for (int k = 0; k < bits; ++k) {
    const std::size_t bit = i * bits + k;
    c |= static_cast<uint32_t>((bytes[bit / 8] >> (bit % 8)) & 1u) << k;
  }
  return c;
}

inline void pack_one(std::span<uint8_t> bytes, int bits, std::size_t i, uint32_t code) {
  for (int k = 0; k < bits; ++k) {
    const std::size_t bit = i * bits + k;
    const auto mask = static_cast<uint8_t>(1u << (bit % 8));
    if ((code >> k) & 1u)
      bytes[bit / 8] |= mask;
    else
      bytes[bit / 8] &= static_cast<uint8_t>(~mask);
  }
}

// Fast: codes -> bytes (bytes.size() == codes.size() * bits / 8; every code < 2^bits) and back.
void pack_run(std::span<const uint8_t> codes, int bits, std::span<uint8_t> bytes);
void unpack_run(std::span<const uint8_t> bytes, int bits, std::span<uint8_t> codes);

}  // namespace loft::quant

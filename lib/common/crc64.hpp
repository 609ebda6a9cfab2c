#pragma once
// CRC-64/XZ (ECMA-182 polynomial, reflected, initial and final value all ones): the checksum
// xz and 7-Zip use. check("123456789") = 0x995dc9bbdf1939fa.
#include <cstdint>
#include <span>

namespace loft {

// The CRC of `bytes`; crc64(b, crc64(a)) is the CRC of a followed by b.
uint64_t crc64(std::span<const char> bytes, uint64_t crc = 0);

}  // namespace loft

// common/crc64: the CRC-64/XZ check value, and that a CRC can be continued piece by piece.
#include <string>

#include "common/crc64.hpp"
#include "support.hpp"

TEST_CASE("crc64 is CRC-64/XZ and continues across pieces") {
  const std::string check = "123456789";
  CHECK(loft::crc64(check) == 0x995dc9bbdf1939faull);
  CHECK(loft::crc64(std::string()) == 0);
  std::string text;
  for (int i = 0; i < 5000; ++i) text += static_cast<char>((i * 131 + 7) % 256);
  for (size_t cut : {size_t(0), size_t(1), size_t(2500), text.size()}) {
    const std::span<const char> all(text);
    CHECK(loft::crc64(all.subspan(cut), loft::crc64(all.first(cut))) == loft::crc64(all));
  }
  std::string flipped = text;
  flipped[1234] ^= 0x10;
  CHECK(loft::crc64(flipped) != loft::crc64(text));
}

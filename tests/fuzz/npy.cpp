// A .npy file (magic, version, header dict, data): a loft::Error or an array that reads.
#include "io/npy.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = loft::fuzz::put("a.npy", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] { (void)loft::io::read_npy_header(path); });
  loft::fuzz::expect_clean([&] { (void)loft::io::read_npy_array(path); });
  loft::fuzz::expect_clean([&] { (void)loft::io::read_npy(path); });
  return 0;
}

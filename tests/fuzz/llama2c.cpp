// A llama2.c checkpoint (seven int32 header values, then float32 arrays): a loft::Error or a
// source that lists and loads.
#include "io/llama2c.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = loft::fuzz::put("model.bin", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] { loft::fuzz::exercise(*loft::io::open_llama2c(path)); });
  return 0;
}

// A Hugging Face config.json read for its Llama keys: a loft::Error or a config.
#include "io/hf.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = loft::fuzz::put("config.json", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] { (void)loft::io::read_hf_config(path); });
  return 0;
}

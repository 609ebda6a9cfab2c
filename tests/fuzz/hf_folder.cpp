// A Hugging Face folder: a fuzzed config.json beside a fuzzed model.safetensors, opened as the
// folder and as the one file: a loft::Error or a source that lists and loads.
#include "io/hf.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  loft::fuzz::fresh();
  loft::fuzz::put("m/config.json", in.ConsumeRandomLengthString(2048));
  const auto file = loft::fuzz::put("m/model.safetensors", in.ConsumeRemainingBytesAsString());
  loft::fuzz::expect_clean([&] { loft::fuzz::exercise(*loft::io::open_hf(file.parent_path())); });
  loft::fuzz::expect_clean([&] { loft::fuzz::exercise(*loft::io::open_hf(file)); });
  return 0;
}

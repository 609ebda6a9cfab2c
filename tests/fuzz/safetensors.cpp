// A safetensors file (8-byte header length, JSON header, data): a loft::Error at open or at load,
// or tensors that load.
#include "io/safetensors.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = loft::fuzz::put("model.safetensors", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    const loft::io::SafetensorsFile file(path);
    for (const auto& t : file.tensors()) {
      (void)file.raw(t.name);
      if (loft::fuzz::elements(t.shape, 1 << 16) <= (1 << 16)) (void)file.load(t.name);
    }
  });
  return 0;
}

// Source specs as --source and source= take them ("synthetic:gaussian:rows=64", "npy:DIR",
// "hf:DIR", "pretrained:NAME"): a loft::Error or a source that lists and loads. Paths stay inside
// the scratch folder: specs with ".." or an absolute path are skipped (they would walk the
// machine's folders, which tests/io covers with fixtures). What is fuzzed is the spec: a source
// is listed whole, but only a few small tensors are loaded (a synthetic source of 10^4 random
// matrices costs their generation, not parsing).
#include <cstdlib>

#include "io/source.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(loft::fuzz::as_text(data, size));
  if (spec.find("..") != std::string::npos || spec.find('/') != std::string::npos) return 0;
  setenv("LOFTLAB_MODELS", loft::fuzz::scratch().c_str(), 1);
  loft::fuzz::expect_clean([&] {
    const auto source = loft::io::open_source(spec);
    (void)source->config();
    (void)source->describe();
    int loaded = 0;
    for (const auto& t : source->list())
      if (loaded < 4 && loft::fuzz::elements(t.shape, 4096) <= 4096) {
        (void)source->load(t.name);
        ++loaded;
      }
  });
  return 0;
}

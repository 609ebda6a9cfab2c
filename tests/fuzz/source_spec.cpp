// Source specs as --source and source= take them ("synthetic:gaussian:rows=64", "npy:DIR",
// "hf:DIR", "pretrained:NAME"): a loft::Error or a source that lists and loads. Paths stay inside
// the scratch folder: specs with ".." or an absolute path are skipped (they would walk the
// machine's folders, which tests/io covers with fixtures).
#include <cstdlib>

#include "io/source.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(loft::fuzz::as_text(data, size));
  if (spec.find("..") != std::string::npos || spec.find('/') != std::string::npos) return 0;
  setenv("LOFTLAB_MODELS", loft::fuzz::scratch().c_str(), 1);
  loft::fuzz::expect_clean([&] { loft::fuzz::exercise(*loft::io::open_source(spec)); });
  return 0;
}
